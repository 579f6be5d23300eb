"""Snapping in metres (gis_import.snap): exact at any latitude, single linkage."""

from __future__ import annotations

import gc
import math

import numpy as np
import pytest

from gis_import.snap import (
    EARTH_RADIUS_M,
    LocalFrame,
    cluster_points,
    distance_m,
    gc_paused,
    neighbours_within,
)

M_PER_DEG = EARTH_RADIUS_M * math.pi / 180


def east(lon: float, lat: float, metres: float) -> list[float]:
    return [lon + metres / (M_PER_DEG * math.cos(math.radians(lat))), lat]


def test_distance_is_metres_at_high_latitude() -> None:
    a = np.array([[10.0, 70.0]])
    b = np.array([east(10.0, 70.0, 0.49)])
    assert distance_m(a, b)[0] == pytest.approx(0.49, abs=1e-6)


@pytest.mark.parametrize("gap_m, joined", [(0.49, True), (0.51, False)])
def test_tolerance_holds_far_from_the_frame_latitude(gap_m: float, joined: bool) -> None:
    # A frame centred near 40° misjudges an east-west gap at 65° by 1.8x.
    pts = np.array([[0.0, 15.0], [1.0, 15.0], [20.0, 65.0], east(20.0, 65.0, gap_m)])
    frame = LocalFrame.around(pts)
    assert frame.inflation > 1.5
    c = cluster_points(pts, 0.5, frame)
    assert bool(c.label[2] == c.label[3]) is joined


def test_exact_duplicates_and_chains() -> None:
    base = [-90.0, 40.0]
    pts = np.array([base, base, east(-90.0, 40.0, 0.4), east(-90.0, 40.0, 0.8),
                    east(-90.0, 40.0, 3.0)])
    c = cluster_points(pts, 0.5)
    # 0.4 m steps chain into one junction (single linkage); 3 m stays apart
    assert c.label.tolist() == [0, 0, 0, 0, 1]
    assert c.count == 2
    assert c.xy[0].tolist() == base


def test_labels_follow_input_order() -> None:
    pts = np.array([[5.0, 5.0], [1.0, 1.0], [5.0, 5.0], [3.0, 3.0]])
    c = cluster_points(pts, 0.5)
    assert c.label.tolist() == [0, 1, 0, 2]


def test_zero_tolerance_joins_only_equal_points() -> None:
    pts = np.array([[1.0, 1.0], east(1.0, 1.0, 0.01), [1.0, 1.0]])
    assert cluster_points(pts, 0.0).label.tolist() == [0, 1, 0]


def test_empty_input() -> None:
    c = cluster_points(np.zeros((0, 2)), 0.5)
    assert c.count == 0 and c.label.shape == (0,)
    q, t, d = neighbours_within(np.zeros((0, 2)), np.zeros((3, 2)), 5.0)
    assert q.size == t.size == d.size == 0


def test_neighbours_within_reports_metres() -> None:
    targets = np.array([[-90.0, 40.0], east(-90.0, 40.0, 4.0), east(-90.0, 40.0, 6.0)])
    query = np.array([east(-90.0, 40.0, 1.0)])
    _, t, d = neighbours_within(query, targets, 5.0)
    found = dict(zip(t.tolist(), d.tolist(), strict=True))
    assert set(found) == {0, 1}
    assert found[0] == pytest.approx(1.0, abs=1e-6)
    assert found[1] == pytest.approx(3.0, abs=1e-6)


def test_gc_paused_restores_the_collector() -> None:
    assert gc.isenabled()
    with gc_paused():
        assert not gc.isenabled()
    assert gc.isenabled()
