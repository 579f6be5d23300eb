"""``Engine._told``: the meters of a restored outage that told (dark evidence of
its incident in its range, or known on), found by whichever way is cheaper:
scanning its range, taking every dark meter when all lie in the range, or
filtering them. Each way gives the plain definition."""

from __future__ import annotations

import math

from hypothesis import given
from hypothesis import strategies as st

from oms_bridge.core.engine import Engine
from oms_bridge.core.outages import Outage


@given(lo=st.integers(0, 60), width=st.integers(1, 60),
       dark=st.sets(st.integers(0, 130), max_size=80),
       known=st.sets(st.integers(0, 130), max_size=40))
def test_told_is_the_dark_meters_in_range_and_the_known(lo: int, width: int, dark: set[int],
                                                         known: set[int]) -> None:
    hi = lo + width
    o = Outage("X", 0, -1, lo, lo, hi, math.nan, None)
    o.known_on = set(known)
    evidence = {s: (1.0, f"E{s}") for s in dark}
    assert Engine._told(o, evidence) == {s for s in dark if lo <= s < hi} | known
    assert o.known_on == known   # (never written)


def test_told_by_each_way() -> None:
    o = Outage("X", 0, -1, 10, 10, 20, math.nan, None)
    o.known_on = {12, 25}
    for dark in ({}, {11: (1.0, "a")}, {11: (1.0, "a"), 19: (1.0, "b")},   # all in range
                 {9: (1.0, "a"), 11: (1.0, "b")}, {11: (1.0, "a"), 20: (1.0, "b")},
                 dict.fromkeys(range(0, 40, 2), (1.0, "c"))):   # range scanned
        assert Engine._told(o, dark) == {s for s in dark if 10 <= s < 20} | {12, 25}
