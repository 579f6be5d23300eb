"""``Engine._mark_read`` takes the restores an incident read while pending. From
``engine._BULK_READ`` meters on, with none of them known yet, strictly
increasing meters and one owner over their span, it runs a loop with the time
test only until a meter fails it, then the general loop. Both ways must leave
the outage, its timeline and the feeder's restoration times the same."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from oms_bridge.core import engine as engine_mod
from oms_bridge.core.engine import Engine
from oms_bridge.core.outages import Outage

from .test_block_caches import SETTINGS, three_feeders

TOPO = three_feeders()
BREAKER = TOPO.node_index("BRK-0")
TRANSFORMER = TOPO.node_index("XF-010")
FEEDER_SPS = list(TOPO.sp_range(BREAKER))   # 16 service points


def outcome(bulk: int, sps: list[int], times: list[float], *, known: set[int],
            first_on: float | None, nested: bool) -> str:
    """State after ``_mark_read`` in a fresh engine with ``_BULK_READ = bulk``
    (its ``repr``: NaN times compare unequal)."""
    engine = Engine(TOPO, SETTINGS)
    book, tree = engine._book, engine._tree
    lo, hi = tree.sp_lo[BREAKER], tree.sp_hi[BREAKER]
    o = Outage("O", 0, BREAKER, -1, lo, hi, 100.0, None)
    book.add_open(o)
    if nested:   # a transformer inside, open on its own: not o's meters
        x = Outage("X", 0, TRANSFORMER, -1, tree.sp_lo[TRANSFORMER], tree.sp_hi[TRANSFORMER],
                   100.0, None)
        book.add_open(x)
    o.known_on = set(known)
    o.restored_at = first_on
    if first_on is not None:
        o.last_on_at = first_on
    restored = {s: (t, f"E{s}") for s, t in zip(sps, times, strict=False)}
    saved = engine_mod._BULK_READ
    engine_mod._BULK_READ = bulk
    try:
        engine._mark_read(o, sps, restored)
    finally:
        engine_mod._BULK_READ = saved
    return repr((list(o.known_on), list(o.on_events), o.last_on_at, o.restored_at,
                 engine._restore_times.get(0)))


@settings(max_examples=300, deadline=None)
@given(data=st.data(), nested=st.booleans(), sort=st.booleans(),
       first_on=st.one_of(st.none(), st.floats(90.0, 130.0)))
def test_the_bulk_loop_is_the_general_loop(data: st.DataObject, nested: bool, sort: bool,
                                           first_on: float | None) -> None:
    sps = data.draw(st.lists(st.sampled_from(FEEDER_SPS), min_size=1, max_size=16,
                             unique=True))
    if sort:
        sps.sort()
    times = data.draw(st.lists(st.one_of(st.floats(95.0, 130.0), st.just(math.nan)),
                               min_size=len(sps), max_size=len(sps)))
    known = data.draw(st.sets(st.sampled_from(FEEDER_SPS), max_size=3))
    assert outcome(1, sps, times, known=known, first_on=first_on, nested=nested) == \
        outcome(10**9, sps, times, known=known, first_on=first_on, nested=nested)


@pytest.mark.parametrize("times", [
    [110.0, 105.0, 120.0, 101.0],     # all qualify: the bulk loop ends it
    [110.0, 109.5, 120.0, 110.0],     # (the least by less than a second)
    [110.0, 105.0, 90.0, 101.0],      # the third is too early: the general loop goes on
    [90.0, 105.0, 120.0, 101.0],      # the first: no restoration time from the bulk loop
])
def test_each_way_out_of_the_bulk_loop(times: list[float]) -> None:
    sps = FEEDER_SPS[:4]
    for first_on in (None, 104.0):
        bulk = outcome(1, sps, times, known=set(), first_on=first_on, nested=False)
        assert bulk == outcome(10**9, sps, times, known=set(), first_on=first_on, nested=False)
