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
