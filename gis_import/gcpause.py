"""Pause Python's cyclic garbage collector around bulk object creation.

Reading or building a million-feature export creates millions of container
objects (id and attribute lists, shapely points) that hold no reference cycles.
The collector would walk them again and again while they are built: measured
6 s -> 1 s for parsing 1M points, and 21 s -> 0.3 s for creating 1.35M shapely
points beside an export already in memory. Collecting later loses nothing.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator

__all__ = ["gc_paused"]


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
