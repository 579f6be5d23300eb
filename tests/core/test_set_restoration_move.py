"""``Engine._restoration_move`` without unclaimed restores decides whether to
look for a lower device from two meters that told (its incident's first and
latest dark evidence) when they lie under no one device strictly below the
outage, else from ``Outage.told_span``, else from the set of ``Engine._told``:
each way must decide as the plain test on that set does."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from oms_bridge.core.engine import Engine
from oms_bridge.core.outages import Incident, Outage
from oms_bridge.core.topology import Topology
from tests.core.feeders import dense_lateral, two_laterals

_ENGINES = {name: Engine(make()) for name, make in (("two_laterals", two_laterals),
                                                     ("dense_lateral", dense_lateral))}


class _MovesOnError(Exception):
    """Raised where the move goes on past the test (it takes the outage out)."""


def _proceeds(engine: Engine, o: Outage) -> bool:
    def stop(_: Outage) -> None:
        raise _MovesOnError

    book = engine._book
    book.remove_open = stop  # type: ignore[method-assign]
    try:
        engine._restoration_move(o, 100.0)
    except _MovesOnError:
        return True
    finally:
        del book.remove_open
    return False


def _plain(engine: Engine, o: Outage, dark: dict[int, tuple[float, str]]) -> bool:
    """The test as first written: whether the move looks past it."""
    told = Engine._told(o, dark)
    return not (len(told) >= o.ami_affected or o.children or engine._book.nested_open(o)
                or not told or not engine._below(o, min(told), max(told)))


@pytest.mark.parametrize("name", sorted(_ENGINES))
def test_the_feeders_are_in_pre_order(name: str) -> None:
    assert _ENGINES[name]._tree.preorder


@settings(max_examples=300, deadline=None)
@given(name=st.sampled_from(sorted(_ENGINES)), pick=st.integers(0, 10**6),
       dark_at=st.lists(st.integers(0, 10**6), max_size=12),
       known_at=st.sets(st.integers(0, 10**6), max_size=8),
       ami_off=st.integers(-2, 2))
def test_the_move_looks_further_exactly_when_the_plain_test_says(
        name: str, pick: int, dark_at: list[int], known_at: set[int], ami_off: int) -> None:
    engine = _ENGINES[name]
    tree = engine._tree
    topo: Topology = engine.topology
    nodes = [v for v in range(topo.n_nodes) if tree.sp_hi[v] > tree.sp_lo[v]]
    node = nodes[pick % len(nodes)]
    lo, hi = tree.sp_lo[node], tree.sp_hi[node]
    n_sp = topo.n_service_points
    # in the outage's range mostly, now and then outside it (anywhere)
    spread = [lo + x % (hi - lo) if x % 5 else x % n_sp for x in dark_at]
    dark = {s: (1.0, f"E{s}") for s in dict.fromkeys(spread)}
    inc = Incident(0, 0.0, 0.0, (0.0, ""), dark=dark, decided=True)
    o = Outage("X", 0, node, -1, lo, hi, 0.0, inc, restored_at=10.0)
    o.known_on = {lo + x % (hi - lo) if x % 4 else x % n_sp for x in known_at}
    # about as many meters as told (the count decides there)
    o.ami_affected = max(len(Engine._told(o, dark)) + ami_off, 1)
    assert _proceeds(engine, o) == _plain(engine, o, dark)


def test_two_meters_under_no_lower_device_end_the_test() -> None:
    engine = _ENGINES["two_laterals"]
    tree, topo = engine._tree, engine.topology
    rcl = next(v for v in range(topo.n_nodes) if topo.node_id(v) == "RCL-1")
    lo, hi = tree.sp_lo[rcl], tree.sp_hi[rcl]
    # the first and the last meter of the recloser: on two of its branches
    dark = {lo: (1.0, "a"), lo + 1: (2.0, "b"), hi - 1: (3.0, "c")}
    inc = Incident(0, 0.0, 0.0, (0.0, ""), dark=dark, decided=True)
    o = Outage("X", 0, rcl, -1, lo, hi, 0.0, inc, restored_at=10.0)
    o.ami_affected = tree.ami(rcl)
    assert not _proceeds(engine, o)
    assert not _plain(engine, o, dark)
    # all under one transformer (the first of the recloser's): it looks further
    first_xf = tree.sp_node[lo]
    under = range(tree.sp_lo[first_xf], tree.sp_hi[first_xf])
    inc.dark = {s: (1.0, f"E{s}") for s in reversed(under)}
    assert _proceeds(engine, o)
    assert _plain(engine, o, inc.dark)
