"""``Outage.told_span``: the count and the ends of the meters of a restored
outage that told, without building their set, when every dark meter lies in
its range; ``Engine._restoration_move`` decides on it whether to look for a
lower device. It must give exactly what the set of ``Engine._told`` gives
(known meters may lie outside the range, after a move or a merge)."""

from __future__ import annotations

import math

from hypothesis import given
from hypothesis import strategies as st

from oms_bridge.core.engine import Engine
from oms_bridge.core.outages import Outage


@given(lo=st.integers(0, 60), width=st.integers(1, 60),
       dark=st.sets(st.integers(0, 130), max_size=80),
       known=st.sets(st.integers(0, 130), max_size=40))
def test_told_span_is_that_of_the_told_set(lo: int, width: int, dark: set[int],
                                           known: set[int]) -> None:
    hi = lo + width
    o = Outage("X", 0, -1, lo, lo, hi, math.nan, None)
    o.known_on = set(known)
    evidence = {s: (1.0, f"E{s}") for s in dark}
    span = o.told_span(evidence)
    every_dark_inside = bool(dark) and all(lo <= s < hi for s in dark)
    assert (span is not None) == every_dark_inside
    if span is not None:
        told = Engine._told(o, evidence)
        assert span == (len(told), min(told), max(told))
    assert o.known_on == known   # (never written)


def test_told_span_by_case() -> None:
    o = Outage("X", 0, -1, 10, 10, 20, math.nan, None)
    o.known_on = {12, 25}
    assert o.told_span({}) is None
    assert o.told_span({9: (1.0, "a"), 11: (1.0, "b")}) is None
    assert o.told_span({11: (1.0, "a"), 20: (1.0, "b")}) is None
    assert o.told_span({12: (1.0, "a")}) == (2, 12, 25)      # a known meter outside
    assert o.told_span({11: (1.0, "a"), 13: (1.0, "b")}) == (4, 11, 25)
    o.known_on = {5, 12}
    assert o.told_span({11: (1.0, "a"), 19: (1.0, "b")}) == (4, 5, 19)
    o.known_on = {11, 19}
    assert o.told_span({11: (1.0, "a"), 19: (1.0, "b")}) == (2, 11, 19)
