"""Fuzzing the GIS import: one thing broken in a clean export, end to end.

Each case goes through ``parse_geojson`` + ``parse_export`` (in memory) or
``read_export`` (a folder or a zip on disk), then ``build_topology``.
Properties:

- nothing escapes but ``ExportError`` (naming the file, in a readable message)
  or ``TopologyError`` (only when the source or its conductors were broken);
- a broken feature is reported (layer and FACILITYID, or its index in the
  file) and the rest of the export is imported: every service point of the
  clean export is in the topology or named by a defect;
- the report serialises to JSON and the topology survives its byte round trip
  (what the service stores).
"""

from __future__ import annotations

import tempfile
import zipfile
from pathlib import Path

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from gis_import.build import ImportResult, build_topology
from gis_import.layers import CLASS_NAMES, Export
from gis_import.readers import parse_export, parse_geojson, read_export
from gis_import.report import MAX_MESSAGE_CHARS as MAX_DEFECT_CHARS
from gis_import.report import DefectKind
from oms_bridge.core.topology import Topology
from oms_bridge.errors import ExportError, TopologyError
from tests.fuzz.gis_strategies import BASE, GisCase, broken_exports, sp_ids
from tests.fuzz.profile import fuzz_settings, long_settings

SP_IDS = sp_ids()
MAX_MESSAGE_CHARS = 2000
#: breaking these can leave nothing traceable (one source, fed by PC-01)
TRACE_CRITICAL = {"CircuitSource", "PrimaryConductor"}


def _load(case: GisCase, mode: str) -> Export:
    if mode == "memory" and not case.extra:
        parsed = []
        for name in CLASS_NAMES:
            if name in case.files:
                source = f"fuzz/{name}.geojson"
                layer, defects = parse_geojson(name, case.files[name], source)
                parsed.append((name, layer, defects))
        return parse_export("fuzz", parsed)
    with tempfile.TemporaryDirectory(prefix="fuzz-gis-") as tmp:
        folder = Path(tmp) / "export"
        folder.mkdir()
        for name, data in case.files.items():
            (folder / f"{name}.geojson").write_bytes(data)
        for name, data in case.extra.items():
            (folder / name).write_bytes(data)
        if mode != "zip":
            return read_export(folder)
        archive = Path(tmp) / "export.zip"
        with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
            for f in sorted(folder.iterdir()):
                zf.write(f, f"export/{f.name}")
        return read_export(archive)


def check(case: GisCase, mode: str) -> ImportResult | None:
    try:
        export = _load(case, mode)
        result = build_topology(export)
    except ExportError as exc:
        message = str(exc)
        assert exc.file, (case, message)
        assert exc.file in message and len(message) <= MAX_MESSAGE_CHARS, (case, message[:200])
        assert exc.reason.strip(), case
        if case.index is not None and case.layer is not None:
            # only one file was broken: the error is about that file
            assert case.layer in exc.file, (case, message)
        return None
    except TopologyError as exc:
        assert case.layer in TRACE_CRITICAL or (case.layer and case.index is None), (
            case, str(exc))
        assert getattr(exc, "report", None) is not None
        return None
    report = result.report
    orjson.dumps(report.to_dict())
    for d in report.defects:
        assert d.layer in CLASS_NAMES and d.message.strip(), d
        assert len(d.message) <= MAX_DEFECT_CHARS, d
    topology = result.topology
    assert topology is not None
    again = Topology.from_bytes(topology.to_bytes())
    assert again.n_service_points == topology.n_service_points
    if case.index is None or case.layer is None:
        return result
    # a feature-level break: the rest of the export is imported, or named
    named = {d.facility_id for d in report.defects if d.facility_id}
    placed = {topology.sp_id(i) for i in range(topology.n_service_points)}
    missing = [sp for sp in SP_IDS if sp not in placed and sp not in named
               and not (case.layer == "ServicePoint" and sp == case.fid)]
    assert not missing, (case, missing, [d.to_dict() for d in report.defects])
    read = export.layers.get(case.layer)
    n_base = len(BASE[case.layer]["features"])
    if read is not None and len(read) < n_base:
        hits = [d for d in report.defects if d.layer == case.layer
                and d.kind is DefectKind.BAD_GEOMETRY
                and (d.facility_id == case.fid or f"#{case.index} " in d.message)]
        assert hits, (case, [d.to_dict() for d in report.defects])
    return result


modes = st.sampled_from(["memory", "memory", "memory", "folder", "zip"])


@given(broken_exports(), modes)
@fuzz_settings(250)
def test_broken_exports_never_crash_and_keep_the_rest(case: GisCase, mode: str) -> None:
    check(case, mode)


@pytest.mark.slow
@given(broken_exports(), modes)
@long_settings(30_000)
def test_broken_exports_long(case: GisCase, mode: str) -> None:
    check(case, mode)


def test_the_clean_export_imports_whole() -> None:
    files = {n: orjson.dumps(d) for n, d in BASE.items()}
    result = check(GisCase(files, None, None, None, "clean"), "memory")
    assert result is not None and result.topology is not None
    assert result.topology.n_service_points == len(SP_IDS)
    assert not result.report.defects
