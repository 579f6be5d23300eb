"""The in-process ingest queue in front of the single writer.

Producers (HTTP handlers, the Redis consumer, the idle ticker) put whole
batches; the writer takes as many as fit in one durable write (group commit),
so many small requests cost one transaction. ``put`` waits while more than
``max_pending`` items are queued: back-pressure instead of unbounded memory.
"""

from __future__ import annotations

import asyncio
from collections import deque
from dataclasses import dataclass, field
from typing import Generic, TypeVar

__all__ = ["Batch", "IngestQueue"]

T = TypeVar("T")
R = TypeVar("R")


@dataclass
class Batch(Generic[T, R]):
    """Items that must be written together, and the future their producer awaits."""

    items: list[T]
    future: asyncio.Future[R]
    offset: tuple[str, str] | None = None  # (stream, newest entry id) for the bus
    received: float = 0.0  # loop.time() at receipt, for the lag metric
    meta: dict[str, object] = field(default_factory=dict)


class IngestQueue(Generic[T, R]):
    def __init__(self, max_pending: int = 200_000) -> None:
        self._batches: deque[Batch[T, R]] = deque()
        self._pending = 0
        self._max_pending = max_pending
        self._ready = asyncio.Condition()

    @property
    def pending(self) -> int:
        return self._pending

    async def put(self, batch: Batch[T, R]) -> None:
        async with self._ready:
            await self._ready.wait_for(
                lambda: self._pending == 0 or self._pending + len(batch.items) <= self._max_pending
            )
            self._batches.append(batch)
            self._pending += len(batch.items)
            self._ready.notify_all()

    async def take(self, max_items: int) -> list[Batch[T, R]]:
        """At least one batch; more while they fit in ``max_items``."""
        async with self._ready:
            await self._ready.wait_for(lambda: bool(self._batches))
            taken = [self._batches.popleft()]
            count = len(taken[0].items)
            while self._batches and count + len(self._batches[0].items) <= max_items:
                batch = self._batches.popleft()
                count += len(batch.items)
                taken.append(batch)
            self._pending -= count
            self._ready.notify_all()
            return taken

    def drain(self) -> list[Batch[T, R]]:
        """Take every queued batch at once, without waiting (at shutdown)."""
        taken = list(self._batches)
        self._batches.clear()
        self._pending = 0
        return taken
