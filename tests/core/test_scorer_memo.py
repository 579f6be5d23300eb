"""A scorer reused across covers (as the engine does) answers each one as a
fresh reference would: what it keeps between calls (log-likelihoods by count,
the service-point scores) never leaks from one kind of read to the other."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from oms_bridge.core.inference import InferenceTuning, Scorer, TreeIndex
from oms_bridge.core.topology import Topology
from oms_bridge.settings import EngineSettings
from tests.core.test_scorer_equivalence import Asked, _counts, _rows, _some, ref_solve, topologies


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(topo=topologies(), data=st.data())
def test_one_scorer_many_covers(topo: Topology, data: st.DataObject) -> None:
    settings_ = EngineSettings(delivery_probability=data.draw(st.sampled_from([0.3, 0.7, 0.95])))
    scorer = Scorer(TreeIndex(topo), settings_, InferenceTuning())
    scorer.vector_min = data.draw(st.sampled_from([0, 10**9]))
    n_sp = topo.n_service_points
    for _ in range(data.draw(st.integers(2, 6))):
        dark = _some(data, 0, n_sp)
        restored = data.draw(st.booleans())
        counts = _counts(topo, data)
        want = _rows(ref_solve(scorer, dark, Asked(counts), (), restored))
        assert _rows(scorer.solve(dark, excluded=Asked(counts), restored=restored)) == want
