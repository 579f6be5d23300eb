"""``Engine._told``: the meters of a restored outage that told (dark evidence of
its incident in its range, or known on), found by whichever way is cheaper:
scanning its range, taking every dark meter when all lie in the range, or
filtering them. Each way gives the plain definition.

``Outage.told_span``: their count and ends without building the set, when
every dark meter lies in the range; ``Engine._restoration_move`` decides on it
whether to look for a lower device. It must give exactly what the set gives
(known meters may lie outside the range, after a move or a merge)."""

from __future__ import annotations

import math

from hypothesis import given
from hypothesis import strategies as st

from oms_bridge.core.engine import Engine
from oms_bridge.core.outages import Outage

#: an outage's range [lo, lo + width), its dark evidence and its known meters
outage_cases = given(lo=st.integers(0, 60), width=st.integers(1, 60),
                     dark=st.sets(st.integers(0, 130), max_size=80),
                     known=st.sets(st.integers(0, 130), max_size=40))


def restored(lo: int, hi: int, known: set[int]) -> Outage:
    o = Outage("X", 0, -1, lo, lo, hi, math.nan, None)
    o.known_on = set(known)
    return o


@outage_cases
def test_told_is_the_dark_meters_in_range_and_the_known(lo: int, width: int, dark: set[int],
                                                         known: set[int]) -> None:
    hi = lo + width
    o = restored(lo, hi, known)
    evidence = {s: (1.0, f"E{s}") for s in dark}
    assert Engine._told(o, evidence) == {s for s in dark if lo <= s < hi} | known
    assert o.known_on == known   # (never written)


def test_told_by_each_way() -> None:
    o = restored(10, 20, {12, 25})
    for dark in ({}, {11: (1.0, "a")}, {11: (1.0, "a"), 19: (1.0, "b")},   # all in range
                 {9: (1.0, "a"), 11: (1.0, "b")}, {11: (1.0, "a"), 20: (1.0, "b")},
                 dict.fromkeys(range(0, 40, 2), (1.0, "c"))):   # range scanned
        assert Engine._told(o, dark) == {s for s in dark if 10 <= s < 20} | {12, 25}


@outage_cases
def test_told_span_is_that_of_the_told_set(lo: int, width: int, dark: set[int],
                                           known: set[int]) -> None:
    hi = lo + width
    o = restored(lo, hi, known)
    evidence = {s: (1.0, f"E{s}") for s in dark}
    span = o.told_span(evidence)
    every_dark_inside = bool(dark) and all(lo <= s < hi for s in dark)
    assert (span is not None) == every_dark_inside
    if span is not None:
        told = Engine._told(o, evidence)
        assert span == (len(told), min(told), max(told))
    assert o.known_on == known   # (never written)


def test_told_span_by_case() -> None:
    o = restored(10, 20, {12, 25})
    assert o.told_span({}) is None
    assert o.told_span({9: (1.0, "a"), 11: (1.0, "b")}) is None
    assert o.told_span({11: (1.0, "a"), 20: (1.0, "b")}) is None
    assert o.told_span({12: (1.0, "a")}) == (2, 12, 25)      # a known meter outside
    assert o.told_span({11: (1.0, "a"), 13: (1.0, "b")}) == (4, 11, 25)
    o.known_on = {5, 12}
    assert o.told_span({11: (1.0, "a"), 19: (1.0, "b")}) == (4, 5, 19)
    o.known_on = {11, 19}
    assert o.told_span({11: (1.0, "a"), 19: (1.0, "b")}) == (2, 11, 19)
