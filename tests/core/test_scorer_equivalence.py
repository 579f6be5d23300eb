"""The scorer's array programme against a plain node-by-node reference.

Covers decide which devices are reported open and their margins feed the
confidence, so a faster programme has to give the same devices in the same
order with bit-identical margins, on any tree and any evidence.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from oms_bridge.core.inference import (
    CANDIDATE_KINDS,
    Choice,
    InferenceTuning,
    Scorer,
    TreeIndex,
    device_priors,
)
from oms_bridge.core.kinds import DeviceKind
from oms_bridge.core.topology import Topology, TopologyBuilder
from oms_bridge.settings import EngineSettings

KINDS = ("breaker", "recloser", "sectionalizer", "fuse", "switch", "transformer")

Row = tuple[int, int, list[int], bytes]


# ------------------------------------------------------------------ reference
def ref_log_prior(scorer: Scorer, topo: Topology, settings_: EngineSettings,
                  tuning: InferenceTuning) -> list[float]:
    """Per-node log priors, one node at a time (the scorer's definition)."""
    tree = scorer.tree
    kinds = [DeviceKind.from_code(k).value for k in topo.node_kind.tolist()]
    ami = topo.ami_counts().tolist()
    cand = {k.code for k in CANDIDATE_KINDS}
    priors = device_priors(settings_.device_prior, kinds, ami,
                           int(np.count_nonzero(np.diff(topo.ami_cum) > 0)), tuning.base_rate)

    def log_prior(kind: str) -> float:
        return math.log(max(priors.get(kind, 0.0), 1e-300))

    sp_log_prior = log_prior(DeviceKind.SERVICE_POINT.value)
    own = [log_prior(k) for k in kinds]
    eff = list(own)
    for v in range(len(kinds) - 1, -1, -1):
        if topo.node_kind[v] not in cand or ami[v] == 0:
            continue
        c = v + 1
        best = -math.inf
        direct = ami[v]
        while c < tree.end[v]:
            direct -= ami[c]
            if ami[c] == ami[v]:
                best = eff[c]
            c = tree.end[c]
        if direct == ami[v] == 1:
            best = max(best, sp_log_prior)
        eff[v] = max(own[v], best)
    return eff


def _collect(v: int, direct: dict[int, list[int]], children: dict[int, list[int]]) -> list[int]:
    out: list[int] = []
    stack = [v]
    while stack:
        u = stack.pop()
        out.extend(direct.get(u, ()))
        stack.extend(children.get(u, ()))
    out.sort()
    return out


def ref_solve(scorer: Scorer, dark: Iterable[int], excluded: Callable[[int], int],
              forbidden_sps: Iterable[int] = (), restored: bool = False) -> list[Choice]:
    loglik = scorer.loglik_restored if restored else scorer.loglik
    sp_score = scorer.sp_log_prior + loglik(1, 1)
    tree = scorer.tree
    parent, sp_node = tree.parent, tree.sp_node
    direct: dict[int, list[int]] = {}
    for sp in dark:
        direct.setdefault(sp_node[sp], []).append(sp)
    if not direct:
        return []
    children: dict[int, list[int]] = {}
    seen: set[int] = set()
    roots: list[int] = []
    for node in direct:
        v = node
        while v not in seen:
            seen.add(v)
            up = parent[v]
            if up < 0:
                roots.append(v)
                break
            children.setdefault(up, []).append(v)
            v = up
    forbidden: set[int] = set()
    for sp in forbidden_sps:
        v = sp_node[sp]
        while v >= 0 and v not in forbidden:
            forbidden.add(v)
            v = parent[v]
    ami = [tree.ami(v) for v in range(len(tree.parent))]
    count: dict[int, int] = {}
    best: dict[int, float] = {}
    opened: dict[int, float] = {}
    for v in sorted(seen, reverse=True):
        own = direct.get(v)
        k = len(own) if own else 0
        split = k * sp_score
        for c in children.get(v, ()):
            k += count[c]
            split += best[c]
        count[v] = k
        score = split
        if tree.candidate[v] and v not in forbidden:
            n = max(ami[v] - excluded(v), k)
            open_score = scorer.log_prior[v] + loglik(k, n)
            if open_score >= split:
                score = open_score
            opened[v] = open_score - split
        best[v] = score
    out: list[Choice] = []
    stack = sorted(roots, reverse=True)
    while stack:
        v = stack.pop()
        gain = opened.get(v)
        if gain is not None and gain >= 0:
            up = parent[v]
            lose_up = -opened.get(up, -math.inf) if up >= 0 else math.inf
            out.append(Choice(v, -1, _collect(v, direct, children), min(gain, lose_up)))
            continue
        for sp in direct.get(v, ()):
            out.append(Choice(-1, sp, [sp], -gain if gain is not None else 10.0))
        stack.extend(sorted(children.get(v, ()), reverse=True))
    return out


def ref_nested(scorer: Scorer, top: int, dark: Sequence[int], excluded: Callable[[int], int],
               restore_rate: float, *, on_counts: tuple[int, int] | None = None,
               ) -> tuple[list[Choice], list[int]]:
    tree = scorer.tree
    if top < 0 or not dark:
        return [], sorted(dark)
    parent, sp_node = tree.parent, tree.sp_node
    direct: dict[int, list[int]] = {}
    for sp in dark:
        direct.setdefault(sp_node[sp], []).append(sp)
    children: dict[int, list[int]] = {}
    seen: set[int] = set()
    for node in direct:
        v = node
        while v != top and v not in seen and v >= 0:
            seen.add(v)
            up = parent[v]
            children.setdefault(up, []).append(v)
            v = up
    count: dict[int, int] = {}
    for v in sorted(seen, reverse=True):
        k = len(direct.get(v, ()))
        for c in children.get(v, ()):
            k += count[c]
        count[v] = k
    r = min(max(restore_rate, 0.3), 0.995)
    lost = math.log(1.0 - r)
    # the family: every candidate device strictly below ``top`` with enough AMI
    # meters to be named, found by walking each node's ancestors
    least = scorer.tuning.min_nested_meters
    family = 0
    for v in range(len(parent)):
        u = parent[v]
        while u >= 0 and u != top:
            u = parent[u]
        if u == top and tree.candidate[v] and tree.ami(v) >= least:
            family += 1
    threshold = math.log(scorer.tuning.nested_prior / max(1, family))
    found: list[Choice] = []
    covered: set[int] = set()
    stack = sorted(children.get(top, ()), reverse=True)
    while stack:
        v = stack.pop()
        k = count[v]
        n = tree.ami(v) - excluded(v)
        if on_counts is not None:   # the rate among the meters outside v
            r_out = on_counts[0] / max(on_counts[1] - n, 1)
            evidence = n * math.log(1.0 - min(max(r_out, 0.3), 0.995))
        else:
            evidence = n * lost
        if (tree.candidate[v] and k >= n >= scorer.tuning.min_nested_meters
                and evidence < threshold):
            members = _collect(v, direct, children)
            found.append(Choice(v, -1, members, threshold - evidence))
            covered.update(members)
            continue
        stack.extend(sorted(children.get(v, ()), reverse=True))
    return found, sorted(sp for sp in dark if sp not in covered)


# ----------------------------------------------------------------- strategies
@st.composite
def topologies(draw: st.DrawFn) -> Topology:
    """Random forests: devices of every kind in any order, service points on any
    device (so nodes have meters of their own and children at once)."""
    b = TopologyBuilder()
    nodes: list[int] = []
    for f in range(draw(st.integers(1, 3))):
        nodes.append(b.feeder(f"F{f}"))
    for i in range(draw(st.integers(0, 40))):
        parent = nodes[draw(st.integers(0, len(nodes) - 1))]
        nodes.append(b.device(f"D{i}", draw(st.sampled_from(KINDS)), parent))
    for i in range(draw(st.integers(1, 120))):
        node = nodes[draw(st.integers(0, len(nodes) - 1))]
        metered = draw(st.integers(0, 4)) > 0
        b.service_point(f"SP{i}", node, meter=f"M{i}" if metered else None)
    return b.build()


def _some(data: st.DataObject, lo: int, hi: int) -> list[int]:
    """A sorted subset of ``range(lo, hi)``, from sparse to every one."""
    density = data.draw(st.sampled_from([0.1, 0.5, 0.9, 1.0]))
    rnd = data.draw(st.randoms(use_true_random=False))
    return [s for s in range(lo, hi) if rnd.random() < density]


def _rows(choices: list[Choice]) -> list[Row]:
    return [(c.node, c.sp, list(c.dark), struct.pack("<d", c.margin)) for c in choices]


class Asked:
    """An ``excluded`` callback with fixed counts that records what was asked."""

    def __init__(self, counts: dict[int, int]) -> None:
        self.counts = counts
        self.asked: list[int] = []

    def __call__(self, node: int) -> int:
        self.asked.append(node)
        return self.counts.get(node, 0)


def _scorers(topo: Topology, data: st.DataObject) -> tuple[Scorer, InferenceTuning]:
    settings_ = EngineSettings(delivery_probability=data.draw(st.sampled_from([0.3, 0.7, 0.95])))
    tuning = InferenceTuning(min_nested_meters=data.draw(st.integers(1, 3)),
                             nested_prior=data.draw(st.sampled_from([0.05, 0.5])))
    return Scorer(TreeIndex(topo), settings_, tuning), tuning


def _counts(topo: Topology, data: st.DataObject) -> dict[int, int]:
    ami = topo.ami_counts().tolist()
    if not data.draw(st.booleans()):
        return {}
    return {v: data.draw(st.integers(0, max(a, 0))) for v, a in enumerate(ami)
            if data.draw(st.integers(0, 3)) == 0}


# ---------------------------------------------------------------------- tests
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(topo=topologies(), data=st.data())
def test_solve_matches_reference(topo: Topology, data: st.DataObject) -> None:
    scorer, _ = _scorers(topo, data)
    n_sp = topo.n_service_points
    dark = _some(data, 0, n_sp)
    forbidden = data.draw(st.sets(st.integers(0, n_sp - 1), max_size=3))
    restored = data.draw(st.booleans())
    counts = _counts(topo, data)
    want = _rows(ref_solve(scorer, dark, Asked(counts), forbidden, restored))
    for vector_min in (0, 10**9):   # the array programme, then the scalar one
        scorer.vector_min = vector_min
        asked = Asked(counts)
        got = scorer.solve(dark, excluded=asked, forbidden_sps=forbidden, restored=restored)
        assert _rows(got) == want
        assert len(asked.asked) == len(set(asked.asked))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(topo=topologies(), data=st.data())
def test_solve_any_order_matches_reference(topo: Topology, data: st.DataObject) -> None:
    """Unsorted or repeated meters take the scalar programme, with the same answer."""
    scorer, _ = _scorers(topo, data)
    scorer.vector_min = 0
    n_sp = topo.n_service_points
    dark = data.draw(st.lists(st.integers(0, n_sp - 1), max_size=2 * n_sp))
    counts = _counts(topo, data)
    want = _rows(ref_solve(scorer, dark, Asked(counts)))
    assert _rows(scorer.solve(iter(dark), excluded=Asked(counts))) == want


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(topo=topologies(), data=st.data())
def test_nested_matches_reference(topo: Topology, data: st.DataObject) -> None:
    scorer, _ = _scorers(topo, data)
    tree = scorer.tree
    top = data.draw(st.integers(-1, topo.n_nodes - 1))
    lo, hi = (tree.sp_lo[top], tree.sp_hi[top]) if top >= 0 else (0, 0)
    if data.draw(st.integers(0, 4)) == 0 or hi <= lo:   # sometimes meters outside ``top``
        lo, hi = 0, topo.n_service_points
    dark = _some(data, lo, hi)
    rate = data.draw(st.sampled_from([0.0, 0.5, 0.9, 0.99]))
    on = data.draw(st.none() | st.tuples(st.integers(0, 60), st.integers(0, 80)))
    counts = _counts(topo, data)
    found, stragglers = ref_nested(scorer, top, dark, Asked(counts), rate, on_counts=on)
    want = (_rows(found), stragglers)
    for vector_min in (0, 10**9):
        scorer.vector_min = vector_min
        asked = Asked(counts)
        got, rest = scorer.nested(top, dark, excluded=asked, restore_rate=rate, on_counts=on)
        assert (_rows(got), rest) == want
        assert len(asked.asked) == len(set(asked.asked))


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(topo=topologies(), data=st.data())
def test_priors_match_reference(topo: Topology, data: st.DataObject) -> None:
    scorer, tuning = _scorers(topo, data)
    settings_ = EngineSettings(base_rate=data.draw(st.sampled_from([0.5, 1.0])))
    scorer = Scorer(scorer.tree, settings_, tuning)
    assert scorer.tree.preorder
    want = ref_log_prior(scorer, topo, settings_, tuning)
    assert [struct.pack("<d", x) for x in scorer.log_prior] == [
        struct.pack("<d", x) for x in want]


def test_layout_check_refuses_a_broken_order() -> None:
    b = TopologyBuilder()
    f = b.feeder("F")
    xf = b.device("XF", "transformer", f)
    for i in range(3):
        b.service_point(f"SP{i}", xf, meter=f"M{i}")
    topo = b.build()
    assert TreeIndex(topo).preorder
    arrays: dict[str, Any] = {k: v for k, v in vars(topo).items() if k != "_node_lookup"}
    arrays["node_sp_hi"] = topo.node_sp_hi.copy()
    arrays["node_sp_hi"][1] -= 1
    assert not TreeIndex(Topology(**arrays)).preorder


@settings(max_examples=50, deadline=None)
@given(topo=topologies())
def test_sp_feeder_is_the_feeder_of_the_meters_node(topo: Topology) -> None:
    tree = TreeIndex(topo)
    assert [tree.sp_feeder(sp) for sp in range(topo.n_service_points)] == [
        tree.feeder[tree.sp_node[sp]] for sp in range(topo.n_service_points)]
