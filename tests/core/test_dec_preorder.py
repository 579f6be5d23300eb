"""The pre-order layout check against the one it replaced, on valid layouts
and on every small corruption of them (which must give the same verdict)."""

from __future__ import annotations

import random

import numpy as np
import pytest
from numpy.typing import NDArray

from oms_bridge.core.inference import _preorder_layout

I32 = NDArray[np.int32]


def ref_layout(parent: I32, end: I32, sp_lo: I32, sp_hi: I32, sp_node: I32) -> bool:
    """The check as it was (bincount and masks): the reference."""
    n = parent.shape[0]
    if n == 0:
        return int(sp_node.shape[0]) == 0
    idx = np.arange(n, dtype=np.int64)
    if not (bool(np.all(end > idx)) and bool(np.all(end <= n)) and bool(np.all(parent < idx))
            and bool(np.all(parent >= -1)) and int(parent[0]) == -1):
        return False
    kid = parent >= 0
    p = parent[kid]
    if not (bool(np.all(idx[kid] < end[p])) and bool(np.all(end[kid] <= end[p]))):
        return False
    # the node after v is its first child when v has one, else the node after
    # v's subtree is its next sibling (or, past its parent's end, not its child)
    first = end > idx + 1
    if not bool(np.all(parent[(idx + 1)[first]] == idx[first])):
        return False
    nxt = end < n
    after = end[nxt]
    par_v = parent[nxt]
    # within the parent's subtree the next node is a sibling, else a root or a
    # node of an ancestor's later subtree
    inside = np.where(par_v >= 0, after < end[np.maximum(par_v, 0)], False)
    if not bool(np.all(parent[after[inside]] == par_v[inside])):
        return False
    roots_next = nxt & (parent < 0)
    if not bool(np.all(parent[end[roots_next]] == -1)):
        return False
    if sp_node.shape[0] and not (bool(np.all(np.diff(sp_node) >= 0))
                                 and int(sp_node[0]) >= 0 and int(sp_node[-1]) < n):
        return False
    # the service points of nodes [0, v) come first
    before = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(sp_node, minlength=n), out=before[1:])
    return bool(np.array_equal(sp_lo, before[:n])) and bool(np.array_equal(sp_hi, before[end]))


def layout(rng: random.Random, n: int, m: int) -> list[I32]:
    """A random forest of ``n`` nodes in pre-order with ``m`` service points."""
    parent = [-1]
    for v in range(1, n):
        # attach to a node on the path from the last node up (pre-order), or a new root
        path = []
        u = v - 1
        while u >= 0:
            path.append(u)
            u = parent[u]
        parent.append(rng.choice([*path, -1]) if rng.random() < 0.95 else -1)
    end = list(range(1, n + 1))
    for v in range(n - 1, -1, -1):
        if parent[v] >= 0:
            end[parent[v]] = max(end[parent[v]], end[v])
    sp_node = sorted(rng.randrange(n) for _ in range(m))
    counts = np.bincount(np.array(sp_node, dtype=np.int64), minlength=n)
    before = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(counts, out=before[1:])
    return [np.array(parent, dtype=np.int32), np.array(end, dtype=np.int32),
            before[:n].astype(np.int32), before[np.array(end)].astype(np.int32),
            np.array(sp_node, dtype=np.int32)]


def both(arrays: list[I32]) -> tuple[bool, bool]:
    return ref_layout(*arrays), _preorder_layout(*arrays)


@pytest.mark.parametrize("seed", range(40))
def test_same_verdict_as_the_reference(seed: int) -> None:
    rng = random.Random(seed)
    n, m = rng.randint(1, 30), rng.choice([0, 1, rng.randint(2, 60)])
    arrays = layout(rng, n, m)
    assert both(arrays) == (True, True)
    verdicts = set()
    for _ in range(300):
        bad = [a.copy() for a in arrays]
        which = rng.randrange(5)
        a = bad[which]
        if not a.shape[0]:
            continue
        i = rng.randrange(a.shape[0])
        how = rng.randrange(4)
        if how == 0:
            a[i] += rng.choice([-2, -1, 1, 2])
        elif how == 1:
            j = rng.randrange(a.shape[0])
            a[i], a[j] = a[j], a[i]
        elif how == 2:
            a[i] = rng.choice([-1, 0, n - 1, n, m, m - 1])
        else:
            a[:] = a[np.array(rng.sample(range(a.shape[0]), a.shape[0]))]
        want, got = both(bad)
        assert got == want, (which, how, [x.tolist() for x in bad])
        verdicts.add(got)
    assert True in verdicts


def test_empty_and_real_topologies() -> None:
    e = np.zeros(0, dtype=np.int32)
    assert _preorder_layout(e, e, e, e, e)
    assert not _preorder_layout(e, e, e, e, np.zeros(1, np.int32))
    one = np.array([-1], dtype=np.int32)
    assert _preorder_layout(one, np.array([1], np.int32), np.zeros(1, np.int32),
                            np.zeros(1, np.int32), e)
    assert not _preorder_layout(one, np.array([1], np.int32), np.zeros(1, np.int32),
                                np.ones(1, np.int32), e)
