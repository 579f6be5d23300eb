"""Tracing the junction graph from every source, radially.

The graph is given as plain arrays: ``n`` junctions, conductor ``e`` joining
junctions ``edge_a[e]`` and ``edge_b[e]``, and per junction whether a device
there is open (``blocked``: the trace reaches it and stops) or is a closed
switch (``switch``: a candidate to open when it closes a loop). Sources are
junction indices, in feeder order.

One breadth-first search from a virtual super-root linked to every source
(``scipy.sparse.csgraph.breadth_first_order`` on directed arcs, an arc leaving
an open junction simply not existing) labels every junction with its BFS
predecessor. A conductor joining two energised, closed junctions that is not
the BFS tree edge of either closes a cycle: a loop when both ends belong to
the same source, two sources meeting otherwise. Each such cycle is broken
deterministically, and the trace repeats until the result is radial:

- if a closed switch with exactly two conductors lies on the cycle, the one
  nearest the closing conductor (in hops along the cycle) is treated as open;
  that is what a tie left Closed in the GIS usually is;
- otherwise the closing conductor itself is left out of the trace.

Parallel conductors from one junction to a service-point junction (a duplex
service drawn as two secondaries) are not loops.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import breadth_first_order

__all__ = ["CycleBreak", "Trace", "nearest_marked", "trace_network"]

I64 = NDArray[np.int64]
Bool = NDArray[np.bool_]

#: rounds of (trace, break cycles) before any remaining closing conductors are dropped
_MAX_ROUNDS = 16


@dataclass(frozen=True)
class CycleBreak:
    """One cycle found and how it was broken.

    ``cycle`` lists the junctions from one end of the closing conductor back to
    the other (sources included, the super-root left out); ``opened`` is the
    switch junction treated as open, or -1 when ``dropped`` (the closing
    conductor) was left out instead. ``sources`` are the feeder indices of the
    two ends: equal for a loop, different when two sources meet.
    """

    closing_edge: int
    cycle: tuple[int, ...]
    opened: int
    dropped: int
    sources: tuple[int, int]

    @property
    def multi_source(self) -> bool:
        return self.sources[0] != self.sources[1]


@dataclass
class Trace:
    """Result of :func:`trace_network` (junction arrays have length ``n``)."""

    n: int
    reached: Bool
    #: BFS predecessor; ``n`` (the super-root) for a source, -1 where unreached
    pred: I64
    #: index into the sources list of the feeder that energises each junction, -1 unreached
    feeder: I64
    #: open devices, including switches opened to break a cycle
    blocked: Bool
    #: conductors the trace ran along
    traversed: Bool
    #: conductors left out to break a cycle
    dropped: Bool
    breaks: list[CycleBreak] = field(default_factory=list)


def trace_network(
    n: int,
    *,
    edge_a: I64,
    edge_b: I64,
    sources: I64,
    blocked: Bool,
    switch: Bool,
    service: Bool,
) -> Trace:
    """Trace every source radially (see the module docstring)."""
    blocked = blocked.copy()
    live = edge_a != edge_b
    dropped = np.zeros(edge_a.shape[0], dtype=np.bool_)
    deg = np.bincount(edge_a[live], minlength=n) + np.bincount(edge_b[live], minlength=n)
    breakable = switch & (deg == 2)
    breaks: list[CycleBreak] = []
    for round_no in range(_MAX_ROUNDS + 1):
        pred = _bfs(n, edge_a, edge_b, use=live & ~dropped, blocked=blocked, sources=sources)
        closing = _closing_edges(pred, edge_a, edge_b, use=live & ~dropped, blocked=blocked,
                                 service=service)
        if closing.size == 0:
            break
        feeder = _feeder_of(pred, n, sources)
        opened_now: set[int] = set()
        for e in closing.tolist():
            cyc, dist = _cycle(pred, n, int(edge_a[e]), int(edge_b[e]))
            cands = [
                (d, c) for c, d in zip(cyc, dist, strict=True)
                if breakable[c] and not blocked[c]
            ]
            ends = (int(feeder[edge_a[e]]), int(feeder[edge_b[e]]))
            if cands and round_no < _MAX_ROUNDS:
                _, sw = min(cands)
                if sw in opened_now:
                    continue  # the same switch already breaks another cycle this round
                opened_now.add(sw)
                breaks.append(CycleBreak(e, tuple(cyc), sw, -1, ends))
            else:
                dropped[e] = True
                breaks.append(CycleBreak(e, tuple(cyc), -1, e, ends))
        for sw in opened_now:
            blocked[sw] = True
    else:
        pred = _bfs(n, edge_a, edge_b, use=live & ~dropped, blocked=blocked, sources=sources)
    feeder = _feeder_of(pred, n, sources)
    reached = pred >= 0
    go = reached & ~blocked
    use = live & ~dropped
    traversed = use & (go[edge_a] | go[edge_b])
    # A conductor lying entirely inside one junction (both ends snapped together)
    # is traversed when its junction is reached.
    traversed |= ~live & reached[edge_a]
    return Trace(n, reached, pred, feeder, blocked, traversed, dropped, breaks)


def nearest_marked(pred: I64, marked: Bool) -> I64:
    """For each junction, the nearest junction at or above it in the trace that is marked.

    ``pred`` as in :class:`Trace` (``n`` for the super-root, -1 unreached);
    the super-root counts as marked. Pointer jumping: ``O(n log depth)``.
    Unreached junctions map to -1.
    """
    n = pred.shape[0]
    idx = np.arange(n + 1, dtype=np.int64)
    up = np.empty(n + 1, dtype=np.int64)
    up[:n] = np.where(pred >= 0, pred, idx[:n])
    up[n] = n
    mark = np.empty(n + 1, dtype=np.bool_)
    mark[:n] = marked
    mark[n] = True
    anc = np.where(mark, idx, up)
    while True:
        nxt = anc[anc]
        if np.array_equal(nxt, anc):
            break
        anc = nxt
    out = anc[:n]
    return np.where(pred >= 0, out, -1)


def _bfs(n: int, ea: I64, eb: I64, *, use: Bool, blocked: Bool, sources: I64) -> I64:
    fwd = use & ~blocked[ea]
    back = use & ~blocked[eb]
    rows = np.concatenate([ea[fwd], eb[back], np.full(sources.shape[0], n, np.int64)])
    cols = np.concatenate([eb[fwd], ea[back], sources.astype(np.int64)])
    graph = csr_matrix(
        (np.ones(rows.shape[0], dtype=np.int8), (rows, cols)), shape=(n + 1, n + 1)
    )
    _, pred_all = breadth_first_order(graph, n, directed=True, return_predecessors=True)
    pred: I64 = pred_all[:n].astype(np.int64)
    pred[pred < 0] = -1
    return pred


def _closing_edges(
    pred: I64, ea: I64, eb: I64, *, use: Bool, blocked: Bool, service: Bool
) -> I64:
    """Conductors between energised closed junctions that are no BFS tree edge."""
    go = (pred >= 0) & ~blocked
    elig = use & go[ea] & go[eb]
    child = np.where(pred[eb] == ea, eb, np.where(pred[ea] == eb, ea, -1))
    cand = np.flatnonzero(elig & (child >= 0))
    _, first = np.unique(child[cand], return_index=True)
    is_tree = np.zeros(ea.shape[0], dtype=np.bool_)
    is_tree[cand[first]] = True
    closing = elig & ~is_tree
    # Duplex services: a second conductor parallel to a tree edge into a service point.
    duplex = closing & (child >= 0) & (service[ea] | service[eb])
    return np.flatnonzero(closing & ~duplex).astype(np.int64)


def _feeder_of(pred: I64, n: int, sources: I64) -> I64:
    is_src = np.zeros(n, dtype=np.bool_)
    is_src[sources] = True
    top = nearest_marked(pred, is_src)
    src_index = np.full(n + 1, -1, dtype=np.int64)
    src_index[sources] = np.arange(sources.shape[0])
    return np.where(top >= 0, src_index[np.maximum(top, 0)], -1)


def _cycle(pred: I64, n: int, a: int, b: int) -> tuple[list[int], list[int]]:
    """Junctions of the cycle closed by conductor (a, b) and their hops from it."""
    up_a: list[int] = []
    seen: dict[int, int] = {}
    v = a
    while v != -1:
        seen[v] = len(up_a)
        up_a.append(v)
        if v == n:
            break
        v = int(pred[v])
    up_b: list[int] = []
    v = b
    while v not in seen:
        up_b.append(v)
        v = int(pred[v])
    lca = v
    side_a = up_a[: seen[lca] + 1]
    cycle = side_a + up_b[::-1]
    dist = list(range(len(side_a))) + list(range(len(up_b)))[::-1]
    keep = [(c, d) for c, d in zip(cycle, dist, strict=True) if c != n]
    return [c for c, _ in keep], [d for _, d in keep]
