"""The reference fixtures and the bundled demo export."""

from __future__ import annotations

from pathlib import Path

from gis_import.build import build_topology
from gis_import.fixtures import demo_export, main, open_ring, radial_feeder
from gis_import.paths import paths_of
from gis_import.readers import read_export

DEMO = Path(__file__).resolve().parents[2] / "oms_bridge" / "demo"


def test_demo_files_match_their_generator(tmp_path: Path) -> None:
    demo_export().write(tmp_path)
    for made in sorted(tmp_path.iterdir()):
        assert (DEMO / made.name).read_bytes() == made.read_bytes(), made.name


def test_demo_imports_clean_with_one_poorly_covered_feeder() -> None:
    result = build_topology(read_export(DEMO))
    assert result.report.defects == []
    by_id = {f.feeder_id: f for f in result.report.feeders}
    assert set(by_id) == {"FDR-D1", "FDR-D2"}
    assert 280 <= sum(f.service_points for f in by_id.values()) <= 320
    assert by_id["FDR-D1"].coverage > 0.9
    assert by_id["FDR-D1"].blind_devices == []
    assert by_id["FDR-D2"].coverage < 0.8
    assert by_id["FDR-D2"].blind_devices == ["FUSE-D2-04", "FUSE-D2-05", "FUSE-D2-06"]
    assert result.topology is not None
    paths = paths_of(result.topology)
    poor = [p["path"] for p in paths.values() if "FUSE-D2-05" in p["path"]]
    assert poor and all(p[:3] == ["BRK-D2", "REC-D2", "FUSE-D2-05"] for p in poor)
    assert all(p["path"][0] in {"BRK-D1", "BRK-D2"} for p in paths.values())
    assert all(p["path"][-1].startswith("XFMR-") for p in paths.values())


def test_in_memory_export_equals_written_one(tmp_path: Path) -> None:
    sketch = radial_feeder()
    in_memory = build_topology(sketch.export())
    on_disk = build_topology(read_export(sketch.write(tmp_path)))
    assert in_memory.topology is not None and on_disk.topology is not None
    assert paths_of(in_memory.topology) == paths_of(on_disk.topology)


def test_open_ring_tie_is_in_no_path() -> None:
    result = build_topology(open_ring().export())
    assert result.topology is not None
    assert result.topology.node_index("SW-TIE") == -1
    assert all("SW-TIE" not in p["path"] for p in paths_of(result.topology).values())


def test_fixture_command(tmp_path: Path) -> None:
    assert main(["ring", str(tmp_path / "ring")]) == 0
    assert (tmp_path / "ring" / "Switch.geojson").is_file()
    assert main(["nope"]) == 2
