"""Shortcuts of the scalar covers and of rendering agree with the plain forms.

- the scalar cover's flat log-likelihood memo (``n * _MEMO_N + k``) holds
  exactly :meth:`Scorer.loglik` of its (k, n), on both sides of ``_MEMO_N``;
- a split with fewer dark meters than a nested outage needs asks nothing;
- the feed names unverified meters as :meth:`OutageBook.meter_id` does (a
  meter id, else the service point's id), in order, item by item;
- event times share their text up to the second, and the caches (cleared
  when full) never change what is written.
"""

from __future__ import annotations

import math
import random
import struct
from datetime import UTC, datetime

import pytest

from oms_bridge.core import events
from oms_bridge.core.events import format_time
from oms_bridge.core.inference import _MEMO_N, InferenceTuning, Scorer, TreeIndex
from oms_bridge.core.outages import Outage, OutageBook
from oms_bridge.core.topology import Topology, TopologyBuilder
from oms_bridge.settings import EngineSettings
from tests.core.test_scorer_equivalence import Asked, _rows, ref_nested, ref_solve


def _wide() -> Topology:
    """A fuse of 300 metered customers over transformers of 1..40, so covers
    score devices on both sides of ``_MEMO_N``."""
    b = TopologyBuilder()
    f = b.feeder("F")
    fuse = b.device("FU", "fuse", f)
    i = 0
    for t, size in enumerate([1, 2, 3, 5, 8, 13, 21, 40, 40, 40, 40, 40, 47]):
        x = b.device(f"T{t}", "transformer", fuse)
        for _ in range(size):
            b.service_point(f"SP{i}", x, meter=f"M{i}" if i % 7 else None)
            i += 1
    for _ in range(5):
        b.service_point(f"SP{i}", f, meter=f"M{i}")
        i += 1
    return b.build()


@pytest.mark.parametrize("restored", [False, True])
def test_scalar_memo_holds_the_loglik_of_its_index(restored: bool) -> None:
    topo = _wide()
    scorer = Scorer(TreeIndex(topo), EngineSettings(), InferenceTuning())
    scorer.vector_min = 10**9
    n_sp = topo.n_service_points
    fuse = 1
    for step in (1, 2, 3, 5, 9):
        dark = list(range(0, n_sp, step))
        for counts in ({}, {fuse: 20}, {fuse: 60, 8: 3}):
            want = _rows(ref_solve(scorer, dark, Asked(counts), (), restored))
            got = scorer.solve(dark, excluded=Asked(counts), restored=restored)
            assert _rows(got) == want
    loglik = scorer.loglik_restored if restored else scorer.loglik
    memo = scorer._memo[restored]
    filled = [(i, v) for i, v in enumerate(memo) if v is not None]
    assert filled
    for i, v in filled:
        n, k = divmod(i, _MEMO_N)
        assert k <= n < _MEMO_N
        assert struct.pack("<d", v) == struct.pack("<d", loglik(k, n))
    assert not any(memo[i] is not None for i in range(len(memo)) if i % _MEMO_N > i // _MEMO_N)


@pytest.mark.parametrize("least", [2, 3, 5])
def test_split_of_too_few_dark_meters_asks_nothing(least: int) -> None:
    topo = _wide()
    scorer = Scorer(TreeIndex(topo), EngineSettings(), InferenceTuning(min_nested_meters=least))
    for dark in ([], [40], [41, 40], [3, 2, 1, 0][: least - 1], [299, 12]):
        asked = Asked({})
        found, stragglers = scorer.nested(1, dark, excluded=asked, restore_rate=0.5,
                                          on_counts=(10, 300))
        want_found, want_rest = ref_nested(scorer, 1, dark, Asked({}), 0.5, on_counts=(10, 300))
        assert (_rows(found), stragglers) == (_rows(want_found), want_rest)
        if len(dark) < least:
            assert found == [] and stragglers == sorted(dark) and asked.asked == []


def test_feed_names_unverified_meters_as_meter_id_does() -> None:
    topo = _wide()
    tree = TreeIndex(topo)
    book = OutageBook(tree)
    n_sp = topo.n_service_points
    bare = [s for s in range(n_sp) if topo.meter_id(s) is None]
    named = [s for s in range(n_sp) if topo.meter_id(s) is not None]
    lists = [[], [bare[0], named[3], bare[2]], named[:1], [], list(range(0, n_sp, 3)),
             [n_sp - 1, *bare[:3]], named[5:9]]
    for i, unverified in enumerate(lists):
        o = Outage(f"O{i}", 0, 1, -1, tree.sp_lo[1], tree.sp_hi[1], 100.0 + i, None)
        o.restored_at = 200.0 + i
        o.unverified = list(unverified)
        book.add_feed_item(o)
    for start in (0, 1, 4, 6, len(lists)):   # (from 6: meter ids only)
        items = book.feed_items(start)
        assert [it["meters_unverified"] for it in items] == [
            [book.meter_id(s) for s in u] for u in lists[start:]]
        assert [it["seq"] for it in items] == list(range(start + 1, len(lists) + 1))
    assert book.meter_ids([]) == []
    assert book.meter_ids(named[:2]) == [topo.meter_id(s) for s in named[:2]]
    assert book.meter_ids(bare[:1]) == [topo.sp_id(bare[0])]


def test_topology_ids_are_the_stored_bytes() -> None:
    topo = _wide()
    for v in [*range(topo.n_nodes), -1]:
        assert topo.node_id(v) == bytes(topo.node_ids[v]).decode("utf-8")
    for s in [*range(topo.n_service_points), -1]:
        assert topo.sp_id(s) == bytes(topo.sp_ids[s]).decode("utf-8")
        raw = bytes(topo.sp_meter[s])
        assert topo.meter_id(s) == (raw.decode("utf-8") if raw else None)


def _by_datetime(epoch_s: float) -> str:
    ms = round(epoch_s * 1000.0)
    stamp = datetime.fromtimestamp(ms // 1000, tz=UTC)
    return f"{stamp:%Y-%m-%dT%H:%M:%S}.{ms % 1000:03d}Z"


def test_times_of_one_second_and_full_caches(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(events, "_FORMATTED_MAX", 5)
    monkeypatch.setattr(events, "_SECONDS_MAX", 3)
    base = 1_790_000_000.0
    times = [base + ms / 1000 for ms in (0, 1, 999, 1000, 1999.6, 59_999.5, 86_400_000)]
    times += [-0.0, 0.0, -0.0004, -0.0006, -1.5, 5, 5.0, 1e-3, 999.9995, *times]
    for t in times:
        assert format_time(t) == _by_datetime(t), t
    assert len(events._FORMATTED) <= 5 and len(events._SECONDS) <= 3
    assert format_time(None) is None
    for bad in (math.inf, -math.inf, math.nan):
        assert format_time(bad) is None
        assert format_time(bad) is None


@pytest.mark.parametrize("seed", range(6))
def test_owner_hand_overs_of_every_width(seed: int) -> None:
    """Owners stay those of a walk up the open index, for hand-overs of a few
    service points (a loop), of some dozens to hundreds (one slice write when
    all change owner) and of more (numpy), with outages open inside or not."""
    rng = random.Random(seed)
    b = TopologyBuilder()
    f = b.feeder("F")
    nodes = [f]
    for i, size in enumerate([2, 4, 5, 6, 20, 33, 40, 100, 257, 300]):
        up = b.device(f"R{i}", "recloser", f)
        x = b.device(f"T{i}", "transformer", up)
        nodes += [up, x]
        for j in range(size):
            b.service_point(f"SP{i}-{j}", x if j % 3 else up, meter=f"M{i}-{j}")
    topo = b.build()
    tree = TreeIndex(topo)
    book = OutageBook(tree)
    open_: dict[tuple[int, int], Outage] = {}
    for step in range(120):
        if open_ and rng.random() < 0.4:
            o = open_.pop(rng.choice(sorted(open_)))
            book.remove_open(o)
        elif rng.random() < 0.7:
            v = rng.randrange(topo.n_nodes)
            if (v, -1) in open_:
                continue
            o = Outage(f"N{step}", 0, v, -1, tree.sp_lo[v], tree.sp_hi[v], 0.0, None)
            book.add_open(o)
            open_[v, -1] = o
        else:
            sp = rng.randrange(topo.n_service_points)
            if (-1, sp) in open_:
                continue
            o = Outage(f"S{step}", 0, -1, sp, sp, sp + 1, 0.0, None)
            book.add_open(o)
            open_[-1, sp] = o
        for sp in range(topo.n_service_points):
            assert book.owner_of(sp) is book.owner_walk(sp)
