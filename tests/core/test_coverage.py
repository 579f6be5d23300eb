from __future__ import annotations

from oms_bridge.core.coverage import coverage
from oms_bridge.core.topology import TopologyBuilder
from oms_bridge.settings import CoverageSettings

from .feeders import two_laterals


def test_coverage_counts_and_flag() -> None:
    rows = coverage(two_laterals(), CoverageSettings(flag_below=0.9))
    assert len(rows) == 1
    row = rows[0]
    assert row["feeder_id"] == "FDR-2"
    assert row["ami_meters"] == 6 + 6 + 36 + 4 + 1
    assert row["service_points"] == row["ami_meters"] + 6 + 2
    assert row["flagged"] is True
    assert row["blind_devices"] == []


def test_blind_protective_devices() -> None:
    b = TopologyBuilder()
    src = b.feeder("F")
    brk = b.device("BRK", "breaker", src)
    fuse = b.device("FUSE-DARK", "fuse", brk)
    xf = b.device("XF", "transformer", fuse)
    b.service_point("SP-1", xf, meter_type="manual")
    xf2 = b.device("XF2", "transformer", brk)
    b.service_point("SP-2", xf2, meter="M2")
    row = coverage(b.build())[0]
    assert row["blind_devices"] == ["FUSE-DARK"]
    assert row["coverage"] == 0.5
