"""The outage book's root of each node (its owner memos are versioned per
tree): in pre-order, the greatest root at or before each node, in one pass,
must be what pointer jumping finds."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from oms_bridge.core.inference import TreeIndex
from oms_bridge.core.outages import _roots
from tests.core.feeders import dense_lateral, radial, two_laterals


def _preorder(parent: list[int]) -> np.ndarray:
    """The same forest numbered in pre-order (roots, then children, in index order)."""
    kids: dict[int, list[int]] = {}
    for v, p in enumerate(parent):
        kids.setdefault(p, []).append(v)
    order: list[int] = []
    stack = list(reversed(kids.get(-1, [])))
    while stack:
        v = stack.pop()
        order.append(v)
        stack.extend(reversed(kids.get(v, [])))
    new = {v: i for i, v in enumerate(order)}
    return np.array([new[parent[v]] if parent[v] >= 0 else -1 for v in order], dtype=np.int32)


@given(st.lists(st.integers(0, 10**6), max_size=60), st.integers(0, 10**6))
def test_preorder_roots_are_pointer_jumping(links: list[int], salt: int) -> None:
    # node v hangs under one of 0..v-1, or is a root (now and then)
    parent = [(x % v if (x + salt) % 7 else -1) if v else -1 for v, x in enumerate(links)]
    p = _preorder(parent)
    assert _roots(p, preorder=True).tolist() == _roots(p).tolist()
    assert _roots(p, preorder=True).dtype == np.int64


def test_preorder_roots_of_the_feeders() -> None:
    for make in (radial, two_laterals, dense_lateral):
        topo = make()
        assert TreeIndex(topo).preorder
        parent = topo.node_parent
        assert _roots(parent, preorder=True).tolist() == _roots(parent).tolist()
