"""Attribute checks (gis_import.validate) and the builder's edge cases."""

from __future__ import annotations

import pytest

from gis_import.build import build_topology
from gis_import.fixtures import Sketch, radial_feeder
from gis_import.layers import Layer
from gis_import.report import ImportReport
from gis_import.validate import check_ids, device_states, service_meters
from oms_bridge.core.kinds import DeviceKind, MeterType
from oms_bridge.errors import TopologyError


def layer(s: Sketch, name: str) -> Layer:
    return s.export().layer(name)


def test_ids_placeholders_and_duplicates() -> None:
    s = Sketch()
    for fid, x in (("F-1", 0), (None, 10), ("F-1", 20), ("F-2", 30)):
        s.point("Fuse", fid, (x, 0), NORMALSTATUS="Closed")
    report = ImportReport("t")
    ids, keep = check_ids(layer(s, "Fuse"), report, placeholder=True)
    assert ids == ["F-1", "Fuse#1", "F-1", "F-2"]
    assert keep.tolist() == [True, True, False, True]
    assert [(d.kind.value, d.facility_id) for d in report.defects] == [
        ("missing_attribute", None), ("duplicate_id", "F-1")]


def test_device_states() -> None:
    s = Sketch()
    rows = [("Breaker", "Closed"), ("sectionalizer", " open "), ("Relay", "Closed"),
            ("Recloser", None)]
    for i, (sub, st) in enumerate(rows):
        s.point("DynamicProtectiveDevice", f"D-{i}", (10 * i, 0), SUBTYPE=sub, NORMALSTATUS=st)
    lay = layer(s, "DynamicProtectiveDevice")
    report = ImportReport("t")
    ids, keep = check_ids(lay, report, placeholder=True)
    states = device_states(lay, ids, keep, report)
    assert [DeviceKind.from_code(int(k)) for k in states.kind] == [
        DeviceKind.BREAKER, DeviceKind.SECTIONALIZER, DeviceKind.RECLOSER, DeviceKind.RECLOSER]
    assert states.open.tolist() == [False, True, False, False]
    assert [(d.facility_id, d.message.split()[0]) for d in report.defects] == [
        ("D-2", "SUBTYPE"), ("D-3", "NORMALSTATUS")]


def test_service_meters() -> None:
    s = Sketch()
    rows = [("AMI", "M1"), ("ami", "M2"), (None, None), ("", "M3"), ("SMART", "M4"),
            ("AMI", None), ("AMR", "M1")]
    for i, (mt, mn) in enumerate(rows):
        s.point("ServicePoint", f"SP-{i}", (10 * i, 0), METERTYPE=mt, METERNUMBER=mn)
    lay = layer(s, "ServicePoint")
    report = ImportReport("t")
    ids, keep = check_ids(lay, report, placeholder=False)
    meters, codes = service_meters(lay, ids, keep, report)
    assert [MeterType.from_code(int(c)).value for c in codes] == [
        "ami", "ami", "none", "none", "none", "ami", "amr"]
    assert meters == ["M1", "M2", None, "M3", "M4", None, None]
    assert sorted((d.kind.value, d.facility_id) for d in report.defects) == [
        ("duplicate_id", "SP-6"), ("missing_attribute", "SP-4"), ("missing_attribute", "SP-5")]


def test_nothing_traced_raises_with_the_report() -> None:
    s = radial_feeder()
    s.features["CircuitSource"].clear()
    with pytest.raises(TopologyError) as info:
        build_topology(s.export())
    report = info.value.report  # type: ignore[attr-defined]
    assert isinstance(report, ImportReport) and report.traced is False


def test_progress_is_reported() -> None:
    said: list[str] = []
    build_topology(radial_feeder().export(), progress=said.append)
    assert said[0].startswith("snapping") and said[-1] == "compiling the topology"


def test_snapping_tolerance_is_a_parameter() -> None:
    s = radial_feeder()
    end = s.find("PrimaryConductor", "PC-11")["geometry"]["coordinates"]
    end[0] = s.lonlat(280, -8.8)   # 0.8 m off FUSE-B
    assert "near_miss" in {d.kind.value for d in build_topology(s.export()).report.defects}
    assert build_topology(s.export(), tolerance_m=1.0).report.defects == []
    near = build_topology(s.export(), near_miss_m=0.0).report.defects
    assert {d.kind.value for d in near} == {"unreached"}


def test_source_without_feeder_id_and_stacked_breaker() -> None:
    s = radial_feeder()
    s.find("CircuitSource", "SRC-R1")["properties"]["FEEDERID"] = None
    # the breaker drawn on the source point: chained below it, not a defect
    s.find("DynamicProtectiveDevice", "BRK-R1")["geometry"]["coordinates"] = s.lonlat(0, 0.2)
    result = build_topology(s.export())
    assert [(d.kind.value, d.facility_id) for d in result.report.defects] == [
        ("missing_attribute", "SRC-R1")]
    assert result.topology is not None
    assert result.topology.feeder_ids == ("SRC-R1",)
    assert result.topology.path(0)[0] == result.topology.node_index("BRK-R1")
