"""Regression tests for what the fuzzers found, one per fix, smallest case first."""

from __future__ import annotations

import pytest

from oms_bridge.core.events import EventCodes, parse_event
from oms_bridge.errors import EventError
from oms_bridge.settings import EngineSettings

CODES = EventCodes.from_settings(EngineSettings())


@pytest.mark.parametrize("stamp", [
    "1990-01-02\x0014:00:00+14:00",       # found by test_broken_events_*: NUL separator
    "2026-11-26\x1b07:00:03Z",
    "2026-11-26\u4e2d07:00:03Z",
    "2026-11-26\u202807:00:03Z",
])
def test_timestamp_with_a_control_or_non_ascii_separator_is_refused(stamp: str) -> None:
    # datetime.fromisoformat accepts any single character between date and time
    obj = {"event_id": "E", "meter_id": "M", "type": "last_gasp", "occurred_at": stamp}
    with pytest.raises(EventError) as info:
        parse_event(obj, CODES)
    assert info.value.field == "occurred_at"
    assert "control or non-ASCII character" in str(info.value)


def test_a_huge_attribute_value_does_not_make_a_huge_defect_message() -> None:
    # found by test_broken_exports_*: a 1 MB SUBTYPE was quoted whole in the report
    from gis_import.build import build_topology  # noqa: PLC0415
    from gis_import.fixtures import radial_feeder  # noqa: PLC0415
    from gis_import.report import MAX_MESSAGE_CHARS  # noqa: PLC0415

    sketch = radial_feeder()
    sketch.find("DynamicProtectiveDevice", "BRK-R1")["properties"]["SUBTYPE"] = "y" * 2**20
    result = build_topology(sketch.export())
    (defect,) = [d for d in result.report.defects if d.facility_id == "BRK-R1"]
    assert len(defect.message) <= MAX_MESSAGE_CHARS
    assert defect.message.startswith("SUBTYPE 'yyy")
    assert defect.message.endswith("treated as Recloser")
    assert result.topology is not None and result.topology.n_service_points == 9


@pytest.mark.parametrize("field", ["event_id", "meter_id"])
@pytest.mark.parametrize("value", ["\x00", "HE-1\x00", "\x00M-1", "a\x00b"])
def test_an_id_with_a_nul_character_is_refused(field: str, value: str) -> None:
    # found by tests/security/test_sql.py on PostgreSQL: text cannot hold NUL, so one
    # such event failed the whole batch (503 for the good events beside it)
    obj = {"event_id": "E", "meter_id": "M", "type": "last_gasp",
           "occurred_at": "2026-11-26T07:00:03Z", field: value}
    with pytest.raises(EventError) as info:
        parse_event(obj, CODES)
    assert info.value.field == field
    assert "NUL" in str(info.value)
