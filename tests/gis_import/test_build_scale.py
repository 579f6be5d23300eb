"""Scaling check: the shared feeders tiled side by side into one large export.

``pytest -m slow tests/gis_import/test_build_scale.py -s`` prints the build
time per stage and per 1,000 service points. Copies are shifted 0.1° east
of each other and every id gets a ``~k`` suffix, so the tiled export is as
clean as the originals and each copy's paths are the original's, suffixed.
"""

from __future__ import annotations

import resource
import time
from pathlib import Path

import numpy as np
import orjson
import pytest

from gis_import.build import build_topology
from gis_import.layers import Export, Layer
from gis_import.paths import paths_of
from gis_import.readers import read_export

_ID_ATTRS = ("FEEDERID", "TRANSFORMERID", "METERNUMBER")


def tile(exports: list[Export], copies: int) -> Export:
    """``copies`` shifted copies of every export, as one export."""
    layers: dict[str, Layer] = {}
    names = exports[0].layers.keys()
    for name in names:
        parts = [(e.layers[name], k, j) for k in range(copies) for j, e in enumerate(exports)]
        first = parts[0][0]
        ids: list[str | None] = []
        attrs: dict[str, list[object]] = {a: [] for a in first.attrs}
        xy, coords, offsets = [], [], [np.zeros(1, np.int64)]
        base = 0
        for layer, k, _ in parts:
            sfx = f"~{k}"
            ids.extend(None if v is None else v + sfx for v in layer.ids)
            for a, col in layer.attrs.items():
                if a in _ID_ATTRS:
                    attrs[a].extend(None if v is None else f"{v}{sfx}" for v in col)
                else:
                    attrs[a].extend(col)
            shift = np.array([0.1 * k, 0.0])
            if layer.is_point:
                xy.append(layer.xy + shift)
            else:
                coords.append(layer.coords + shift)
                offsets.append(layer.offsets[1:] + base)
                base += int(layer.offsets[-1])
        layers[name] = Layer(
            name, "tiled", first.geom_type, ids=ids, attrs=attrs,
            xy=np.concatenate(xy) if xy else first.xy,
            coords=np.concatenate(coords) if coords else first.coords,
            offsets=np.concatenate(offsets) if coords else first.offsets,
        )
    return Export("tiled", layers)


@pytest.mark.slow
@pytest.mark.shared
def test_tiled_shared_feeders(shared_feeders: Path) -> None:
    names = ("ieee8500", "ckt24", "ckt5", "ckt7")
    exports = [read_export(shared_feeders / n) for n in names]
    copies = 21                                 # 21 x 9,434 = 198,114 service points
    big = tile(exports, copies)
    n_sp = len(big.layers["ServicePoint"])
    stages: list[tuple[float, str]] = []
    started = time.perf_counter()
    result = build_topology(big, progress=lambda m: stages.append((time.perf_counter(), m)))
    elapsed = time.perf_counter() - started
    t_paths = time.perf_counter()
    paths = paths_of(result.topology) if result.topology else {}
    t_paths = time.perf_counter() - t_paths
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    ends = [t for t, _ in stages[1:]] + [started + elapsed]
    print(f"\n  {stages[0][0] - started:6.2f} s  checking ids and attributes")
    for (t, msg), end in zip(stages, ends, strict=True):
        print(f"  {end - t:6.2f} s  {msg}")
    print(f"{n_sp:,} service points: build {elapsed:.2f} s"
          f" ({1e6 * elapsed / n_sp:.1f} µs per service point), paths_of {t_paths:.2f} s,"
          f" peak RSS {peak_mb:.0f} MB,"
          f" topology {result.topology.nbytes if result.topology else 0:,} bytes")
    assert result.report.defects == []
    assert len(result.report.feeders) == len(names) * copies
    truth = orjson.loads((shared_feeders / "ckt7" / "paths.json").read_bytes())
    for sp, want in list(truth.items())[:200]:
        got = paths[f"{sp}~{copies - 1}"]
        assert got["feeder_id"] == f"{want['feeder_id']}~{copies - 1}"
        assert got["path"] == [f"{d}~{copies - 1}" for d in want["path"]]
