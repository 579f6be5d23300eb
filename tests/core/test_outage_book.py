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


def _walk_excluded(book: OutageBook, tree: TreeIndex, node: int) -> tuple[int, int]:
    ami = sps = 0
    for o in [*book.at_node.values(), *book.at_sp.values()]:
        pos = o.node if o.node >= 0 else tree.sp_node[o.sp]
        if node <= pos < tree.end[node]:
            ami += o.ami_affected
            sps += o.sp_affected
    return ami, sps


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
        elif rng.random() < 0.7:
            v = rng.choice(nodes)
            if v in book.at_node:
                continue
            o = Outage(f"O{step}", tree.feeder[v], v, -1, tree.sp_lo[v], tree.sp_hi[v], 0.0, None)
            book.add_open(o)
            open_.append(o)
        else:
            sp = rng.randrange(topo.n_service_points)
            if sp in book.at_sp:
                continue
            o = Outage(f"O{step}", tree.sp_feeder(sp), -1, sp, sp, sp + 1, 0.0, None)
            book.add_open(o)
            open_.append(o)
        for sp in range(topo.n_service_points):
            assert book.owner_of(sp) is _walk_owner(book, tree, sp)
        for v in range(topo.n_nodes):
            assert (book.excluded_ami(v), book.excluded_sp(v)) == _walk_excluded(book, tree, v)
