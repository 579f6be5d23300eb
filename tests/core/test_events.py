from __future__ import annotations

import pytest

from oms_bridge.core.events import (
    EventCodes,
    EventKind,
    format_time,
    parse_event,
    parse_timestamp,
)
from oms_bridge.errors import EventError
from oms_bridge.settings import EngineSettings

CODES = EventCodes.from_settings(EngineSettings())
GOOD = {"event_id": "HE-1", "meter_id": "M-1", "type": "last_gasp",
        "occurred_at": "2026-11-26T07:00:03.120Z"}


def test_parse_good_event() -> None:
    ev = parse_event(GOOD, CODES)
    assert ev.kind is EventKind.LAST_GASP
    assert format_time(ev.occurred_at) == "2026-11-26T07:00:03.120Z"


@pytest.mark.parametrize(("code", "kind"), [
    ("3.26.0.85", EventKind.LAST_GASP), ("3.26.0.216", EventKind.POWER_RESTORED),
    ("power_restored", EventKind.POWER_RESTORED), ("LAST_GASP", EventKind.LAST_GASP)])
def test_codes(code: str, kind: EventKind) -> None:
    assert parse_event({**GOOD, "type": code}, CODES).kind is kind


def test_configured_vendor_code() -> None:
    codes = EventCodes.from_settings(EngineSettings(last_gasp_codes=("PWR-OFF",)))
    assert parse_event({**GOOD, "type": "PWR-OFF"}, codes).kind is EventKind.LAST_GASP


@pytest.mark.parametrize(("stamp", "expected"), [
    ("2026-11-26T07:00:03Z", "2026-11-26T07:00:03.000Z"),
    ("2026-11-26T08:00:03.5+01:00", "2026-11-26T07:00:03.500Z"),
    ("2026-11-26T02:00:03.120-05:00", "2026-11-26T07:00:03.120Z"),
])
def test_timestamps_with_offsets(stamp: str, expected: str) -> None:
    assert format_time(parse_timestamp(stamp)) == expected


@pytest.mark.parametrize(("patch", "field"), [
    ({"event_id": ""}, "event_id"),
    ({"event_id": 12}, "event_id"),
    ({"meter_id": None}, "meter_id"),
    ({"meter_id": "  "}, "meter_id"),
    ({"type": "ping"}, "type"),
    ({"type": 3}, "type"),
    ({"occurred_at": "2026-11-26T07:00:03"}, "occurred_at"),   # naive: refused
    ({"occurred_at": "3026-11-26T07:00:03Z"}, "occurred_at"),  # absurd year
    ({"occurred_at": "yesterday"}, "occurred_at"),
    ({"occurred_at": 1764140403}, "occurred_at"),
    ({"occurred_at": "2026-11-26T07:00:61Z"}, "occurred_at"),
    ({"occurred_at": "2026-13-26T07:00:03Z"}, "occurred_at"),
])
def test_bad_fields_named(patch: dict[str, object], field: str) -> None:
    with pytest.raises(EventError) as info:
        parse_event({**GOOD, **patch}, CODES)
    assert info.value.field == field


def test_missing_field_and_non_object() -> None:
    bad = dict(GOOD)
    del bad["type"]
    with pytest.raises(EventError) as info:
        parse_event(bad, CODES)
    assert info.value.field == "type"
    with pytest.raises(EventError):
        parse_event(["not", "an", "object"], CODES)
