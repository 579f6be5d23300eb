"""``gis-import`` end to end: check (summary, JSON, paths), load, versions, synth, errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest

from gis_import.build import build_topology
from gis_import.cli import format_summary, main
from gis_import.paths import paths_of
from gis_import.readers import read_export
from gis_import.synth import SynthSpec, write_export
from oms_bridge.store import topology_repo
from oms_bridge.store.engine import create_sync_engine
from tests.conftest import reset_pg_schema


@pytest.fixture(scope="module")
def synth_export(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("synth")
    export, truth = root / "export", root / "truth.json"
    write_export(SynthSpec(service_points=400, feeders=4, seed=11, ami_coverage=0.7), export,
                 paths_truth=truth)
    return export, truth


def _json(path: Path) -> Any:
    return orjson.loads(path.read_bytes())


def test_check_prints_summary_and_paths_equal_truth(
    synth_export: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    export, truth = synth_export
    out = tmp_path / "paths.json"
    assert main(["check", str(export), "--paths", str(out)]) == 0
    text_out = capsys.readouterr().out
    assert "features read:" in text_out
    assert "ServicePoint" in text_out
    assert "FDR-S0004" in text_out
    assert "defects: none" in text_out
    assert _json(out) == _json(truth)


def test_check_json_is_the_full_report(
    synth_export: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    export, _ = synth_export
    assert main(["check", str(export), "--json", "--tolerance-m", "0.5"]) == 0
    report = orjson.loads(capsys.readouterr().out)
    assert report["counts"]["ServicePoint"] == 400
    assert [f["feeder_id"] for f in report["feeders"]] == [f"FDR-S000{i}" for i in range(1, 5)]
    assert report["defects"] == []
    assert report["traced"] is True


def test_check_groups_defects_by_kind(
    synth_export: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    export, _ = synth_export
    dirty = tmp_path / "dirty"
    dirty.mkdir()
    for f in export.iterdir():
        (dirty / f.name).write_bytes(f.read_bytes())
    doc = _json(dirty / "ServicePoint.geojson")
    doc["features"].append(doc["features"][0])  # a duplicate FACILITYID
    (dirty / "ServicePoint.geojson").write_bytes(orjson.dumps(doc))
    assert main(["check", str(dirty)]) == 0  # defects are reported, not fatal
    summary = capsys.readouterr().out
    assert "duplicate_id" in summary
    assert "ServicePoint SP-S0001-000001" in summary


def test_summary_lists_first_few_of_each_kind() -> None:
    report = {
        "source": "x", "traced": True, "counts": {"Fuse": 9}, "feeders": [],
        "defects_by_kind": {"near_miss": 8},
        "defects": [{"kind": "near_miss", "layer": "Fuse", "facility_id": f"F-{i}",
                     "message": "close"} for i in range(8)],
        "notes": [],
    }
    text_out = format_summary(report, shown_per_kind=3)
    assert "Fuse F-2: close" in text_out
    assert "Fuse F-3" not in text_out
    assert "... and 5 more" in text_out


def test_progress_goes_to_stderr(
    synth_export: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    export, _ = synth_export
    assert main(["check", str(export), "--json", "--progress"]) == 0
    captured = capsys.readouterr()
    orjson.loads(captured.out)  # stdout stays pure JSON
    assert "s] reading" in captured.err
    assert "compiled 4 feeders" in captured.err


def test_missing_export_exits_2_naming_the_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "nope"
    assert main(["check", str(missing)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert str(missing) in err


def test_bad_json_exits_2_naming_the_file(
    synth_export: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    export, _ = synth_export
    broken = tmp_path / "broken"
    broken.mkdir()
    for f in export.iterdir():
        (broken / f.name).write_bytes(f.read_bytes())
    (broken / "Fuse.geojson").write_bytes(b'{"type": "FeatureCollection", "features": [')
    assert main(["check", str(broken)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "Fuse.geojson" in err


def test_nothing_traceable_exits_2(
    synth_export: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    export, _ = synth_export
    sourceless = tmp_path / "sourceless"
    sourceless.mkdir()
    for f in export.iterdir():
        (sourceless / f.name).write_bytes(f.read_bytes())
    (sourceless / "CircuitSource.geojson").write_bytes(
        b'{"type": "FeatureCollection", "features": []}'
    )
    assert main(["check", str(sourceless)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert str(sourceless) in err[0]


def test_load_versions_and_rollback_on_sqlite(
    synth_export: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    export, truth = synth_export
    url = f"sqlite:///{tmp_path / 'db' / 'oms.db'}"  # the folder does not exist yet
    assert main(["load", str(export), "--database-url", url]) == 0
    assert "stored and activated topology version 1" in capsys.readouterr().out
    assert main(["load", str(export), "--database-url", url, "--json"]) == 0
    assert orjson.loads(capsys.readouterr().out)["version_id"] == 2
    assert main(["versions", "--database-url", url, "--json"]) == 0
    listed = orjson.loads(capsys.readouterr().out)
    assert [(v["version_id"], v["active"]) for v in listed] == [(2, True), (1, False)]
    assert main(["rollback", "--database-url", url]) == 0
    assert "rolled back to topology version 1" in capsys.readouterr().out
    assert main(["rollback", "--database-url", url]) == 1
    assert "no previous version" in capsys.readouterr().err
    assert main(["activate", "2", "--database-url", url]) == 0
    engine = create_sync_engine(url)
    try:
        with engine.connect() as conn:
            found = topology_repo.active(conn)
    finally:
        engine.dispose()
    assert found is not None
    assert found[0] == 2
    assert paths_of(found[1]) == _json(truth)


def test_synth_command_writes_a_zip_that_imports(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "utility"
    truth = tmp_path / "truth.json"
    assert main(["synth", str(out), "--service-points", "300", "--feeders", "3", "--seed", "5",
                 "--zip", "--paths-truth", str(truth), "--json"]) == 0
    summary = orjson.loads(capsys.readouterr().out)
    assert summary["counts"]["ServicePoint"] == 300
    archive = tmp_path / "utility.zip"
    assert summary["out"] == str(archive)
    got = tmp_path / "got.json"
    assert main(["check", str(archive), "--paths", str(got)]) == 0
    assert _json(got) == _json(truth)


def test_synth_rejects_bad_sizes(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert main(["synth", str(tmp_path / "x"), "--service-points", "1", "--feeders", "5"]) == 2
    assert "service point per feeder" in capsys.readouterr().err


@pytest.mark.shared
def test_check_ckt7_paths_equal_shared_truth(
    shared_feeders: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "paths.json"
    assert main(["check", str(shared_feeders / "ckt7"), "--paths", str(out)]) == 0
    assert "FDR-C07-2560" in capsys.readouterr().out
    assert _json(out) == _json(shared_feeders / "ckt7" / "paths.json")




@pytest.mark.shared
@pytest.mark.postgres
def test_ckt24_loads_into_postgresql_and_round_trips(
    shared_feeders: Path, pg_scratch_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    reset_pg_schema(pg_scratch_url)
    ckt24 = shared_feeders / "ckt24"
    assert main(["load", str(ckt24), "--database-url", pg_scratch_url]) == 0
    assert "stored and activated topology version 1" in capsys.readouterr().out
    engine = create_sync_engine(pg_scratch_url)
    try:
        with engine.connect() as conn:
            found = topology_repo.active(conn)
            stored_report = topology_repo.report(conn, 1)
    finally:
        engine.dispose()
    assert found is not None
    version_id, stored = found
    assert version_id == 1
    fresh = build_topology(read_export(ckt24)).topology
    assert fresh is not None
    for name, value in vars(fresh).items():
        if isinstance(value, np.ndarray):
            np.testing.assert_array_equal(value, getattr(stored, name), err_msg=name)
    assert stored.feeder_ids == ("FDR-C24-0541",)
    assert stored_report["counts"]["ServicePoint"] == 3890
    assert paths_of(stored) == _json(ckt24 / "paths.json")


def test_summary_of_many_feeders_lists_the_least_covered() -> None:
    feeders = [
        {"feeder_id": f"FDR-{i}", "source_id": f"SRC-{i}", "service_points": 100,
         "ami_meters": 100 - i, "protective_devices": 3, "blind_devices": []}
        for i in range(50)
    ]
    report = {"source": "x", "feeders": feeders, "defects": [], "defects_by_kind": {}}
    text_out = format_summary(report, max_feeders=5)
    assert "feeders: 50 (the 5 with the lowest AMI coverage" in text_out
    assert "FDR-49 " in text_out
    assert "FDR-0 " not in text_out
    assert "5,000" in text_out  # the total covers every feeder
