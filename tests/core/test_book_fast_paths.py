"""The open-outage index's shortcuts agree with plain scans of the index.

Excluded counts (kept per node along the path to the root), the open outages
nested in one, the change log's ``touch`` and the lazily decoded device ids,
on random trees deeper than a feeder's usual five levels.
"""

from __future__ import annotations

import random

import pytest

from oms_bridge.core.inference import TreeIndex
from oms_bridge.core.outages import Outage, OutageBook
from oms_bridge.core.topology import Topology, TopologyBuilder
from tests.core.test_outage_book import open_device, open_service_point, walk_excluded

KINDS = ("breaker", "recloser", "sectionalizer", "fuse", "switch", "transformer")


def _random_tree(rng: random.Random) -> Topology:
    b = TopologyBuilder()
    nodes = [b.feeder(f"F{f}") for f in range(rng.randint(1, 3))]
    for i in range(rng.randint(5, 40)):
        # mostly below a recent node: chains deeper than a feeder's usual five
        parent = nodes[rng.randrange(max(0, len(nodes) - 4), len(nodes))
                       if rng.random() < 0.6 else rng.randrange(len(nodes))]
        nodes.append(b.device(f"D{i}", rng.choice(KINDS), parent))
    for i in range(rng.randint(10, 80)):
        node = nodes[rng.randrange(len(nodes))]
        b.service_point(f"SP{i}", node, meter=f"M{i}" if rng.random() < 0.8 else None)
    return b.build()


def _scan_nested(book: OutageBook, tree: TreeIndex, o: Outage) -> list[Outage]:
    if o.node < 0:
        return []
    inner = [x for v, x in book.at_node.items() if o.node < v < tree.end[o.node]]
    inner.extend(x for sp, x in book.at_sp.items() if o.lo <= sp < o.hi)
    return inner


@pytest.mark.parametrize("seed", range(30))
def test_counts_and_nesting_follow_every_change(seed: int) -> None:
    rng = random.Random(seed)
    topo = _random_tree(rng)
    tree = TreeIndex(topo)
    book = OutageBook(tree)
    nodes = [v for v in range(topo.n_nodes) if tree.candidate[v]]
    open_: list[Outage] = []
    closed: list[Outage] = []
    for step in range(80):
        r = rng.random()
        if open_ and r < 0.1:
            o = rng.choice(open_)
            book.shrink(o, min(1, o.ami_affected), min(1, o.sp_affected))
        elif open_ and r < 0.4:
            o = open_.pop(rng.randrange(len(open_)))
            book.remove_open(o)
            closed.append(o)
        elif closed and r < 0.5:
            o = closed.pop(rng.randrange(len(closed)))   # re-opened (a re-solve)
            if (o.node >= 0 and o.node in book.at_node) or (o.node < 0 and o.sp in book.at_sp):
                continue
            book.add_open(o)
            open_.append(o)
        else:
            if nodes and r < 0.8:
                o = open_device(book, tree, rng.choice(nodes), f"O{step}")
            else:
                o = open_service_point(book, tree, rng.randrange(topo.n_service_points),
                                       f"O{step}")
            if o is None:
                continue
            open_.append(o)
        for v in range(topo.n_nodes):
            assert (book.excluded_ami(v), book.excluded_sp(v)) == walk_excluded(book, tree, v)
        for o in open_:
            assert book.nested_open(o) == _scan_nested(book, tree, o)
    for o in list(open_):
        book.remove_open(o)
    assert not any(book.excluded_ami(v) or book.excluded_sp(v) for v in range(topo.n_nodes))


def test_touch_keeps_the_first_created_and_the_latest_change() -> None:
    topo = _random_tree(random.Random(1))
    tree = TreeIndex(topo)
    book = OutageBook(tree)
    a = Outage("A", 0, 0, -1, tree.sp_lo[0], tree.sp_hi[0], 0.0, None)
    b = Outage("B", 0, 0, -1, tree.sp_lo[0], tree.sp_hi[0], 0.0, None)
    c = Outage("C", 0, 0, -1, tree.sp_lo[0], tree.sp_hi[0], 0.0, None)
    book.touch(a)                      # not published: not recorded
    assert book.drain_changes() == []
    book.publish(a)
    book.touch(a)
    book.touch(a, "moved")
    book.by_id["B"] = b
    book.touch(b)
    book.touch(b, "moved")
    book.touch(b, "moved")
    book.by_id["C"] = c
    book.touch(c, "moved")
    book.touch(c)
    book.touch(c)
    assert [(r["outage_id"], r["change"]) for r in book.drain_changes()] == [
        ("A", "created"), ("B", "moved"), ("C", "updated")]
    book.touch(b)
    book.remove(b, a)
    book.touch(b)                      # gone: stays removed
    book.touch(a)
    assert [(r["outage_id"], r["change"]) for r in book.drain_changes()] == [
        ("B", "removed"), ("A", "updated")]


def test_device_ids_are_the_topologys() -> None:
    topo = _random_tree(random.Random(2))
    tree = TreeIndex(topo)
    book = OutageBook(tree)
    for v in [*range(topo.n_nodes), *range(topo.n_nodes)]:
        o = Outage("X", 0, v, -1, tree.sp_lo[v], tree.sp_hi[v], 0.0, None)
        assert book.device_id(o) == topo.node_id(v)
