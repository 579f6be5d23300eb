"""``Scorer.solve_keys`` sorts an incident's dark meters with numpy and hands
the array to the vectorised cover; it must answer exactly as ``solve`` of the
sorted list (devices, order, margins bit for bit, the same counts asked in the
same order). ``Engine._resolve`` sorts the restores it read while pending the
same way from ``engine._BULK_READ`` on: a storm's result is the same bytes
whichever way it goes."""

from __future__ import annotations

from typing import Any

import numpy as np
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from oms_bridge.core import engine as engine_mod
from oms_bridge.core.inference import sorted_ints
from oms_bridge.core.replay import replay
from oms_bridge.core.topology import Topology
from oms_bridge.settings import EngineSettings
from oms_bridge.sim.fixtures import storm_feeder

from .test_chunked import storm
from .test_scorer_equivalence import Asked, _counts, _rows, _scorers, topologies


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(topo=topologies(), data=st.data())
def test_solve_keys_is_solve_of_the_sorted_keys(topo: Topology, data: st.DataObject) -> None:
    scorer, _ = _scorers(topo, data)
    n_sp = topo.n_service_points
    dark = data.draw(st.lists(st.integers(0, n_sp - 1), unique=True, max_size=n_sp))
    keys = dict.fromkeys(dark, (0.0, "e"))   # in arrival order, not sorted
    forbidden = data.draw(st.sets(st.integers(0, n_sp - 1), max_size=3))
    counts = _counts(topo, data)
    for vector_min in (0, 10**9):
        scorer.vector_min = vector_min
        want_asked, got_asked = Asked(counts), Asked(counts)
        want = scorer.solve(sorted(keys), excluded=want_asked, forbidden_sps=forbidden)
        got = scorer.solve_keys(keys, excluded=got_asked, forbidden_sps=forbidden)
        assert _rows(got) == _rows(want)
        assert got_asked.asked == want_asked.asked


@given(st.sets(st.integers(-(2**63), 2**63 - 1)))
def test_sorted_ints_is_sorted(keys: set[int]) -> None:
    got = sorted_ints(keys)
    assert got is not None
    assert got.dtype == np.int64
    assert got.tolist() == sorted(keys)


@pytest.mark.parametrize("keys", [{2**63, 1}, {-(2**63) - 1}, {1.5, 2}])
def test_sorted_ints_refuses_what_is_no_int64(keys: set[Any]) -> None:
    assert sorted_ints(keys) is None


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**31), outages=st.integers(2, 12),
       late=st.sampled_from([0.0, 0.3]))
def test_resolve_reads_restores_alike_either_way(seed: int, outages: int, late: float) -> None:
    topo = storm_feeder()
    lines = storm(topo, seed, outages=outages, duration_h=1.0, late_fraction=late)
    out = []
    saved = engine_mod._BULK_READ
    try:
        for bulk in (1, 10**9):
            engine_mod._BULK_READ = bulk
            out.append(orjson.dumps(replay(topo, lines, EngineSettings())))
    finally:
        engine_mod._BULK_READ = saved
    assert out[0] == out[1]
