"""The synthetic export generator: well-formed, geometrically exact, truth paths right.

The truth paths are checked against an independent tracer written here (exact
coordinate matching, breadth-first from each source, stopping at Open
devices), so the generator is tested without the importer it serves.
"""

from __future__ import annotations

import math
import subprocess
import sys
import zipfile
from collections import deque
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest
import shapely

from gis_import.synth import LAYERS, SynthSpec, generate, write_export


class _Memory:
    def __init__(self) -> None:
        self.features: dict[str, list[dict[str, Any]]] = {n: [] for n in LAYERS}
        self.paths: dict[str, dict[str, Any]] = {}

    def feature(self, layer: str, geometry: dict[str, Any], properties: dict[str, Any]) -> None:
        self.features[layer].append({"geometry": geometry, "properties": properties})

    def path(self, sp_id: str, feeder_id: str, path: Any) -> None:
        assert sp_id not in self.paths
        self.paths[sp_id] = {"feeder_id": feeder_id, "path": list(path)}


Key = tuple[float, float]


def _trace(layers: dict[str, list[dict[str, Any]]]) -> dict[str, dict[str, Any]]:
    """Paths of every service point, from geometry alone."""
    adj: dict[Key, list[Key]] = {}

    def link(a: Key, b: Key) -> None:
        adj.setdefault(a, []).append(b)
        adj.setdefault(b, []).append(a)

    for layer in ("PrimaryConductor", "SecondaryConductor"):
        for f in layers[layer]:
            coords = f["geometry"]["coordinates"]
            link(tuple(coords[0]), tuple(coords[-1]))
    device: dict[Key, tuple[str, bool]] = {}
    for layer in ("DynamicProtectiveDevice", "Fuse", "Switch", "Transformer"):
        for f in layers[layer]:
            key = tuple(f["geometry"]["coordinates"])
            assert key not in device, f"two devices at {key}"
            status = f["properties"].get("NORMALSTATUS", "Closed")
            device[key] = (f["properties"]["FACILITYID"], status == "Open")
    sp_at = {tuple(f["geometry"]["coordinates"]): f["properties"]["FACILITYID"]
             for f in layers["ServicePoint"]}
    out: dict[str, dict[str, Any]] = {}
    seen: set[Key] = set()
    for src in layers["CircuitSource"]:
        start: Key = tuple(src["geometry"]["coordinates"])
        feeder = src["properties"]["FEEDERID"]
        chain: dict[Key, list[str]] = {start: []}
        queue = deque([start])
        while queue:
            here = queue.popleft()
            assert here not in seen, f"{here} reached twice (loop or two sources)"
            seen.add(here)
            for nxt in adj.get(here, []):
                if nxt in chain:
                    continue
                path = list(chain[here])
                if nxt in device:
                    fid, is_open = device[nxt]
                    if is_open:
                        continue
                    path.append(fid)
                chain[nxt] = path
                queue.append(nxt)
                if nxt in sp_at:
                    out[sp_at[nxt]] = {"feeder_id": feeder, "path": path}
    return out


def _junction_points_m(layers: dict[str, list[dict[str, Any]]], lat0: float) -> np.ndarray:
    pts: set[tuple[float, float]] = set()
    for layer, feats in layers.items():
        for f in feats:
            c = f["geometry"]["coordinates"]
            if f["geometry"]["type"] == "Point":
                pts.add(tuple(c))
            else:
                pts.add(tuple(c[0]))
                pts.add(tuple(c[-1]))
        del layer
    arr = np.array(sorted(pts))
    k = 6_371_008.8 * math.pi / 180
    return np.column_stack([arr[:, 0] * k * math.cos(math.radians(lat0)), arr[:, 1] * k])


@pytest.fixture(scope="module")
def small() -> tuple[SynthSpec, _Memory]:
    spec = SynthSpec(service_points=1500, feeders=6, seed=7, ami_coverage=0.8)
    sink = _Memory()
    summary = generate(spec, sink)
    assert summary.counts["ServicePoint"] == 1500
    return spec, sink


def test_counts_and_vocabulary(small: tuple[SynthSpec, _Memory]) -> None:
    _, sink = small
    f = sink.features
    assert len(f["CircuitSource"]) == 6
    subtypes = {x["properties"]["SUBTYPE"] for x in f["DynamicProtectiveDevice"]}
    assert subtypes == {"Breaker", "Recloser", "Sectionalizer"}
    statuses = {x["properties"]["NORMALSTATUS"] for x in f["Switch"]}
    assert statuses == {"Open", "Closed"}
    for layer, feats in f.items():
        ids = [x["properties"]["FACILITYID"] for x in feats]
        assert len(ids) == len(set(ids)), f"duplicate FACILITYID in {layer}"
    meters = [x["properties"]["METERNUMBER"] for x in f["ServicePoint"]]
    present = [m for m in meters if m is not None]
    assert len(present) == len(set(present))
    assert all(len(m) == 10 and m.startswith("M") for m in present)
    sizes: dict[str, int] = {}
    for sp in f["ServicePoint"]:
        xf = sp["properties"]["TRANSFORMERID"]
        if xf:
            sizes[xf] = sizes.get(xf, 0) + 1
    assert max(sizes.values()) <= 12


def test_ami_by_route_near_target(small: tuple[SynthSpec, _Memory]) -> None:
    _, sink = small
    types = [x["properties"]["METERTYPE"] for x in sink.features["ServicePoint"]]
    share = types.count("AMI") / len(types)
    assert 0.72 <= share <= 0.86
    assert "AMR" in types


def test_truth_paths_match_an_independent_trace(small: tuple[SynthSpec, _Memory]) -> None:
    _, sink = small
    traced = _trace(sink.features)
    assert traced == sink.paths
    kinds = {p.split("-")[0] for v in sink.paths.values() for p in v["path"]}
    assert kinds == {"BRK", "REC", "SEC", "FUSE", "SW", "XFMR"}
    assert all(v["path"][0].startswith("BRK-") for v in sink.paths.values())


def test_distinct_junctions_are_beyond_near_miss(small: tuple[SynthSpec, _Memory]) -> None:
    spec, sink = small
    xy = _junction_points_m(sink.features, spec.origin_lat)
    tree = shapely.STRtree(shapely.points(xy))
    pairs = tree.query(shapely.points(xy), predicate="dwithin", distance=5.0)
    close = pairs[:, pairs[0] != pairs[1]]
    assert close.shape[1] == 0, f"{close.shape[1] // 2} junction pairs within 5 m"


def test_deterministic_per_seed() -> None:
    def run(seed: int) -> dict[str, Any]:
        sink = _Memory()
        generate(SynthSpec(service_points=120, feeders=2, seed=seed), sink)
        return sink.paths

    assert run(3) == run(3)
    assert run(3) != run(4)


def test_spec_validation() -> None:
    with pytest.raises(ValueError, match="feeders"):
        SynthSpec(service_points=10, feeders=0)
    with pytest.raises(ValueError, match="ami_coverage"):
        SynthSpec(service_points=10, feeders=1, ami_coverage=1.5)


@pytest.mark.parametrize("as_zip", [False, True])
def test_written_files_are_valid_geojson(tmp_path: Path, as_zip: bool) -> None:
    spec = SynthSpec(service_points=200, feeders=3, seed=1)
    out = tmp_path / ("export.zip" if as_zip else "export")
    truth = tmp_path / "paths.json"
    summary = write_export(spec, out, as_zip=as_zip, paths_truth=truth)
    paths = orjson.loads(truth.read_bytes())
    assert len(paths) == 200
    if as_zip:
        with zipfile.ZipFile(out) as zf:
            assert sorted(zf.namelist()) == sorted(f"{n}.geojson" for n in LAYERS)
            docs = {n: orjson.loads(zf.read(f"{n}.geojson")) for n in LAYERS}
        assert not (tmp_path / "export.zip.parts").exists()
    else:
        docs = {n: orjson.loads((out / f"{n}.geojson").read_bytes()) for n in LAYERS}
    for name, doc in docs.items():
        assert doc["type"] == "FeatureCollection"
        assert len(doc["features"]) == summary.counts[name]
    layers = {n: d["features"] for n, d in docs.items()}
    assert _trace(layers) == paths


@pytest.mark.slow
def test_bench_import_runs_and_verifies(tmp_path: Path) -> None:
    """``bench/import`` end to end at a small size: targets met, every path verified."""
    repo = Path(__file__).resolve().parents[2]
    done = subprocess.run(
        [sys.executable, str(repo / "bench" / "import.py"), "--service-points", "20000",
         "--verify", "--json"],
        capture_output=True, text=True, check=False, timeout=600,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    figures = orjson.loads(done.stdout.strip().splitlines()[-1])
    assert figures["verify_mismatches"] == 0
    assert figures["bytes_per_sp"] < 300
