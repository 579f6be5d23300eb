"""The open-outage index: memoised owner and excluded-count look-ups agree with
a plain walk after every change, on two feeders (memos are stamped per tree)."""

from __future__ import annotations

import random

import pytest

from oms_bridge.core.inference import TreeIndex
from oms_bridge.core.outages import Outage, OutageBook
from oms_bridge.core.topology import Topology, TopologyBuilder


def _two_feeders() -> Topology:
    b = TopologyBuilder()
    for f in ("A", "B"):
        src = b.feeder(f"FDR-{f}")
        brk = b.device(f"BRK-{f}", "breaker", src)
        rcl = b.device(f"RCL-{f}", "recloser", brk)
        for lat in range(2):
            fuse = b.device(f"FUSE-{f}{lat}", "fuse", rcl)
            for j in range(2):
                xf = b.device(f"XF-{f}{lat}{j}", "transformer", fuse)
                for i in range(3):
                    b.service_point(f"SP-{f}{lat}{j}{i}", xf, meter=f"M-{f}{lat}{j}{i}")
                b.service_point(f"SPN-{f}{lat}{j}", xf, meter_type="manual")
    return b.build()


def _walk_owner(book: OutageBook, tree: TreeIndex, sp: int) -> Outage | None:
    if sp in book.at_sp:
        return book.at_sp[sp]
    v = tree.sp_node[sp]
    while v >= 0:
        if v in book.at_node:
            return book.at_node[v]
        v = tree.parent[v]
    return None


def walk_excluded(book: OutageBook, tree: TreeIndex, node: int) -> tuple[int, int]:
    """Meters and service points of the open outages at or below ``node``, by a scan."""
    ami = sps = 0
    for o in [*book.at_node.values(), *book.at_sp.values()]:
        pos = o.node if o.node >= 0 else tree.sp_node[o.sp]
        if node <= pos < tree.end[node]:
            ami += o.ami_affected
            sps += o.sp_affected
    return ami, sps


def open_device(book: OutageBook, tree: TreeIndex, v: int, oid: str) -> Outage | None:
    """An outage of device ``v`` opened in the book (``None``: one is open there)."""
    if v in book.at_node:
        return None
    o = Outage(oid, tree.feeder[v], v, -1, tree.sp_lo[v], tree.sp_hi[v], 0.0, None)
    book.add_open(o)
    return o


def open_service_point(book: OutageBook, tree: TreeIndex, sp: int, oid: str) -> Outage | None:
    """An outage of service point ``sp`` opened in the book (``None``: one is open there)."""
    if sp in book.at_sp:
        return None
    o = Outage(oid, tree.sp_feeder(sp), -1, sp, sp, sp + 1, 0.0, None)
    book.add_open(o)
    return o


@pytest.mark.parametrize("seed", range(20))
def test_memoised_lookups_follow_every_change(seed: int) -> None:
    rng = random.Random(seed)
    topo = _two_feeders()
    tree = TreeIndex(topo)
    book = OutageBook(tree)
    nodes = [v for v in range(topo.n_nodes) if tree.candidate[v]]
    open_: list[Outage] = []
    for step in range(60):
        if open_ and rng.random() < 0.15:
            o = rng.choice(open_)
            book.shrink(o, min(1, o.ami_affected), min(1, o.sp_affected))  # a nested child
        elif open_ and rng.random() < 0.4:
            o = open_.pop(rng.randrange(len(open_)))
            book.remove_open(o)
        else:
            if rng.random() < 0.7:
                o = open_device(book, tree, rng.choice(nodes), f"O{step}")
            else:
                o = open_service_point(book, tree, rng.randrange(topo.n_service_points),
                                       f"O{step}")
            if o is None:
                continue
            open_.append(o)
        for sp in range(topo.n_service_points):
            assert book.owner_of(sp) is _walk_owner(book, tree, sp)
        for v in range(topo.n_nodes):
            assert (book.excluded_ami(v), book.excluded_sp(v)) == walk_excluded(book, tree, v)
