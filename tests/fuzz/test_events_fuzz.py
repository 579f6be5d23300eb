"""Fuzzing ``parse_event``: every field broken in turn, never a crash.

Properties:

- a valid event (any offset from -12:00 to +14:00, 0 to 12 fractional digits)
  is accepted at the exact instant it names;
- a broken event raises :class:`EventError` and nothing else, naming the field
  that was broken (or saying the object is not an event), in a message short
  enough to read even when the value was a megabyte;
- an odd but legal value (a unicode meter id) is accepted as given;
- a batch mixing good and bad events keeps every good one (the replay and
  Redis paths validate through ``Runtime.make_items``).
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from oms_bridge.core.events import MAX_ID_CHARS, EventCodes, MeterEvent, parse_event
from oms_bridge.errors import EventError, OmsBridgeError
from oms_bridge.settings import EngineSettings
from tests.fuzz.event_strategies import (
    Broken,
    Valid,
    bad_timestamps,
    broken_events,
    valid_events,
)
from tests.fuzz.profile import fuzz_settings, long_settings

CODES = EventCodes.from_settings(EngineSettings())
KNOWN_CODES = frozenset(CODES.codes())
#: an error message stays readable whatever the value was
MAX_MESSAGE_CHARS = 300


def check_valid(case: Valid) -> MeterEvent:
    event = parse_event(case.obj, CODES)
    assert event.event_id == case.obj["event_id"]
    assert event.meter_id == case.obj["meter_id"]
    assert event.kind.value in ("last_gasp", "power_restored")
    assert abs(event.occurred_at - case.epoch_s) < 2e-6, (case.obj["occurred_at"],
                                                          event.occurred_at, case.epoch_s)
    return event


def check_broken(case: Broken) -> None:
    try:
        event = parse_event(case.obj, CODES)
    except EventError as exc:
        message = str(exc)
        assert exc.field == case.field, (case.how, message)
        assert exc.reason, case.how
        assert len(message) <= MAX_MESSAGE_CHARS, (case.how, len(message))
        if case.field is not None:
            assert f"field {case.field!r}" in message, message
        else:
            assert "JSON object" in message, message
        return
    assert not case.must_refuse, f"accepted although {case.field} is {case.how}"
    # odd but legal: the value the parser kept is the one that was sent
    assert case.field is not None and isinstance(case.obj, dict)
    value = case.obj[case.field]
    assert isinstance(value, str)
    if case.field in ("event_id", "meter_id"):
        assert getattr(event, case.field) == value
        assert 0 < len(value) <= MAX_ID_CHARS and not value.isspace() and "\x00" not in value
    elif case.field == "type":
        assert value.strip().lower() in KNOWN_CODES
    else:
        pytest.fail(f"occurred_at {value[:40]!r} accepted ({case.how})")


# ------------------------------------------------------------------ short form

@given(valid_events())
@fuzz_settings(200)
def test_valid_events_are_accepted_at_their_instant(case: Valid) -> None:
    check_valid(case)


@given(broken_events())
@fuzz_settings(300)
def test_broken_events_are_refused_naming_the_field(case: Broken) -> None:
    check_broken(case)


@given(bad_timestamps())
@fuzz_settings(200)
def test_bad_timestamps_are_refused(case: tuple[str, str]) -> None:
    text, what = case
    obj = {"event_id": "E", "meter_id": "M", "type": "last_gasp", "occurred_at": text}
    with pytest.raises(EventError) as info:
        parse_event(obj, CODES)
    assert info.value.field == "occurred_at", what


def _mixed(cases: list[Valid | Broken]) -> None:
    """Validate a batch as the ingest paths do: each item alone; no bad item
    may cost a good one, and only the project's own errors may appear."""
    kept: list[tuple[int, MeterEvent]] = []
    refused: list[int] = []
    for i, case in enumerate(cases):
        try:
            kept.append((i, parse_event(case.obj, CODES)))
        except OmsBridgeError:
            refused.append(i)
    good = [i for i, c in enumerate(cases) if isinstance(c, Valid)]
    must_go = [i for i, c in enumerate(cases) if isinstance(c, Broken) and c.must_refuse]
    assert set(good) <= {i for i, _ in kept}
    assert set(must_go) <= set(refused)


@given(st.lists(st.one_of(valid_events(), broken_events()), max_size=12))
@fuzz_settings(80)
def test_bad_events_never_cost_good_ones(cases: list[Any]) -> None:
    _mixed(cases)


# ------------------------------------------------------------------- long form

@pytest.mark.slow
@given(valid_events())
@long_settings(15_000)
def test_valid_events_long(case: Valid) -> None:
    check_valid(case)


@pytest.mark.slow
@given(broken_events())
@long_settings(40_000)
def test_broken_events_long(case: Broken) -> None:
    check_broken(case)


@pytest.mark.slow
@given(bad_timestamps())
@long_settings(10_000)
def test_bad_timestamps_long(case: tuple[str, str]) -> None:
    test_bad_timestamps_are_refused.hypothesis.inner_test(case)  # type: ignore[attr-defined]


@pytest.mark.slow
@given(st.lists(st.one_of(valid_events(), broken_events()), max_size=12))
@long_settings(5_000)
def test_bad_events_never_cost_good_ones_long(cases: list[Any]) -> None:
    _mixed(cases)
