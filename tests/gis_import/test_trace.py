"""Radial tracing on plain junction arrays (gis_import.trace)."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from gis_import.trace import Trace, nearest_marked, trace_network


def run(n: int, edges: list[tuple[int, int]], sources: list[int], *, blocked: tuple[int, ...] = (),
        switch: tuple[int, ...] = (), service: tuple[int, ...] = ()) -> Trace:
    def mask(idx: tuple[int, ...]) -> NDArray[np.bool_]:
        m = np.zeros(n, dtype=np.bool_)
        m[list(idx)] = True
        return m

    ea = np.array([a for a, _ in edges], dtype=np.int64)
    eb = np.array([b for _, b in edges], dtype=np.int64)
    return trace_network(n, edge_a=ea, edge_b=eb, sources=np.array(sources, dtype=np.int64),
                         blocked=mask(blocked), switch=mask(switch), service=mask(service))


def test_chain_and_open_device() -> None:
    # 0 - 1 - 2(open) - 3 - 4
    tr = run(5, [(0, 1), (1, 2), (2, 3), (3, 4)], [0], blocked=(2,))
    assert tr.reached.tolist() == [True, True, True, False, False]
    assert tr.pred.tolist() == [5, 0, 1, -1, -1]
    assert tr.traversed.tolist() == [True, True, False, False]
    assert tr.breaks == []


def test_loop_is_broken_at_the_switch_nearest_the_meeting_point() -> None:
    # ring 0-1-2-3-4-0 fed at 0; switches at 1 (near the feed) and 3 (far side)
    edges = [(0, 1), (1, 2), (2, 3), (3, 4), (4, 0)]
    tr = run(5, edges, [0], switch=(1, 3))
    assert len(tr.breaks) == 1
    br = tr.breaks[0]
    assert br.opened == 3 and br.dropped == -1 and not br.multi_source
    assert set(br.cycle) == {0, 1, 2, 3, 4}
    assert tr.blocked[3] and tr.reached.all()
    assert not tr.dropped.any()


def test_loop_without_switch_drops_the_closing_conductor() -> None:
    # triangle fed at 0: the trace reaches 1 and 2 first, so 1-2 closes the loop
    edges = [(0, 1), (1, 2), (2, 0)]
    tr = run(3, edges, [0])
    (br,) = tr.breaks
    assert br.opened == -1 and br.dropped == 1 and tr.dropped.tolist() == [False, True, False]
    assert tr.reached.all()


def test_two_sources_meeting() -> None:
    # 0 = source A, 4 = source B: 0-1-2(switch)-3-4
    tr = run(5, [(0, 1), (1, 2), (2, 3), (3, 4)], [0, 4], switch=(2,))
    (br,) = tr.breaks
    assert br.multi_source and sorted(br.sources) == [0, 1]
    assert br.opened == 2
    assert tr.feeder.tolist()[:2] == [0, 0] and tr.feeder.tolist()[3:] == [1, 1]


def test_duplex_service_is_not_a_loop() -> None:
    # transformer 1 feeds service junction 2 through two parallel secondaries
    tr = run(3, [(0, 1), (1, 2), (1, 2)], [0], service=(2,))
    assert tr.breaks == []


def test_switch_with_a_third_conductor_is_not_opened() -> None:
    # ring 0-1-2-0 where the switch at 2 also feeds 3: opening 2 would cut 3 off
    tr = run(4, [(0, 1), (1, 2), (2, 0), (2, 3)], [0], switch=(2,))
    (br,) = tr.breaks
    assert br.opened == -1 and br.dropped >= 0
    assert tr.reached.all()


def test_nearest_marked() -> None:
    # super-root is 5; 0 <- 1 <- 2 <- 3, 4 unreached
    pred = np.array([5, 0, 1, 2, -1], dtype=np.int64)
    marked = np.array([True, False, True, False, False])
    assert nearest_marked(pred, marked).tolist() == [0, 0, 2, 2, -1]
