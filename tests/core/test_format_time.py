"""Event times are written exactly as datetime would write them."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from oms_bridge.core.events import format_time

FIRST = datetime(1, 1, 2, tzinfo=UTC).timestamp()
LAST = datetime(9999, 12, 30, tzinfo=UTC).timestamp()


def by_datetime(epoch_s: float) -> str:
    ms = round(epoch_s * 1000.0)
    stamp = datetime.fromtimestamp(ms // 1000, tz=UTC)
    return f"{stamp:%Y-%m-%dT%H:%M:%S}.{ms % 1000:03d}Z"


@given(st.one_of(st.floats(FIRST, LAST), st.integers(-10**12, 10**12).map(lambda ms: ms / 1000),
                 st.floats(1.7e9, 1.9e9)))
def test_format_time_is_what_datetime_writes(epoch_s: float) -> None:
    assert format_time(epoch_s) == by_datetime(epoch_s)


def test_format_time_of_nothing() -> None:
    assert format_time(None) is None
    assert format_time(float("inf")) is None
    assert format_time(float("nan")) is None
