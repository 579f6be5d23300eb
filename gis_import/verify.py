"""An independent check of a compiled topology, with networkx.

The compiler derives everything from array tricks (pre-order ranges, prefix
sums). This module re-derives the same facts the slow, obvious way on a
networkx graph built from the parent pointers alone, so a bug in either shows
up as a disagreement: the network must be a forest with one source root per
feeder, every subtree range must hold exactly the graph's descendants, and
every service point must hang below the node the arrays say feeds it.

It costs a few seconds per million nodes, so ``gis-import check --verify``
runs it on demand and the tests run it on every reference export.
"""

from __future__ import annotations

import networkx as nx
import numpy as np

from oms_bridge.core.kinds import DeviceKind
from oms_bridge.core.topology import Topology

__all__ = ["verify_topology"]

_SOURCE = DeviceKind.SOURCE.code


def verify_topology(topology: Topology, *, max_problems: int = 20) -> list[str]:
    """Every disagreement between the arrays and the graph; empty when sound."""
    problems: list[str] = []

    def fail(message: str) -> bool:
        problems.append(message)
        return len(problems) >= max_problems

    n = topology.n_nodes
    graph: nx.DiGraph[int] = nx.DiGraph()
    graph.add_nodes_from(range(n))
    parent = topology.node_parent
    graph.add_edges_from((int(parent[v]), v) for v in range(n) if parent[v] >= 0)

    if n and not nx.is_forest(graph):
        return ["the network is not radial: it holds a cycle or a node with two parents"]
    roots = [v for v in range(n) if graph.in_degree(v) == 0]
    for root in roots:
        if topology.node_kind[root] != _SOURCE and fail(
            f"{topology.node_id(root)} has no upstream device but is not a source"
        ):
            return problems
    fed = sorted(int(topology.node_feeder[r]) for r in roots)
    if fed != sorted(set(fed)):
        fail("a feeder has more than one source")

    sp_below = np.bincount(topology.sp_node, minlength=n) if n else np.zeros(0, np.int64)
    for root in roots:
        feeder = int(topology.node_feeder[root])
        order = list(nx.dfs_preorder_nodes(graph, root))
        for v in order:
            if int(topology.node_feeder[v]) != feeder and fail(
                f"{topology.node_id(v)} is traced from {topology.feeder_ids[feeder]} "
                f"but labelled {topology.feeder_of_node(v)}"
            ):
                return problems
        for v in order:
            below = nx.descendants(graph, v) | {v}
            lo, hi = v, int(topology.node_end[v])
            if set(range(lo, hi)) != below and fail(
                f"{topology.node_id(v)}: its subtree range holds {hi - lo} nodes, "
                f"the graph {len(below)}"
            ):
                return problems
            expected_sp = int(sum(int(sp_below[u]) for u in below))
            if topology.sp_count(v) != expected_sp and fail(
                f"{topology.node_id(v)}: {topology.sp_count(v)} service points in its range, "
                f"{expected_sp} below it in the graph"
            ):
                return problems
    return problems
