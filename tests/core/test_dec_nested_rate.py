"""The vectorised split of a restored outage reads each candidate's restore rate
among the meters outside it inline (``_lost_outside`` without its calls). Its
edges: no meter outside (``affected - n <= 1``, the divisor then 1) and rates
on either side of the clamps, where ``known`` is 0, 1 or 2."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from oms_bridge.core.topology import Topology

from .test_scorer_equivalence import (
    Asked,
    _counts,
    _rows,
    _scorers,
    _some,
    ref_nested,
    topologies,
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(topo=topologies(), data=st.data())
def test_nested_vector_reads_the_outside_rate_at_its_edges(topo: Topology,
                                                           data: st.DataObject) -> None:
    scorer, _ = _scorers(topo, data)
    scorer.vector_min = 0
    tree = scorer.tree
    top = data.draw(st.integers(0, topo.n_nodes - 1))
    lo, hi = tree.sp_lo[top], tree.sp_hi[top]
    dark = _some(data, lo, hi)
    on = (data.draw(st.integers(0, 2)), data.draw(st.integers(0, 8)))
    counts = _counts(topo, data)
    found, stragglers = ref_nested(scorer, top, dark, Asked(counts), 0.5, on_counts=on)
    got, rest = scorer.nested(top, dark, excluded=Asked(counts), restore_rate=0.5, on_counts=on)
    assert (_rows(got), rest) == (_rows(found), stragglers)
