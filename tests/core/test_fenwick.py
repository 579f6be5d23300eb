"""The Fenwick tree behind the excluded-meter counts answers as plain sums."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from oms_bridge.core.outages import _Fenwick


@given(st.integers(1, 300), st.lists(st.tuples(st.integers(0, 10**6), st.integers(-9, 9),
                                              st.integers(0, 10**6), st.integers(0, 10**6)),
                                    max_size=60))
def test_range_is_the_sum_of_the_slice(n: int, ops: list[tuple[int, int, int, int]]) -> None:
    tree = _Fenwick(n)
    plain = [0] * n
    for at, delta, a, b in ops:
        tree.add(at % n, delta)
        plain[at % n] += delta
        lo, hi = sorted((a % (n + 1), b % (n + 1)))
        assert tree.range(lo, hi) == sum(plain[lo:hi]) == tree.prefix(hi) - tree.prefix(lo)
