"""SeenIds answers exactly as a set of strings would (in order, per chunk)."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from oms_bridge.core.dedupe import SeenIds

ids = st.text(alphabet="ab\x00é\U0001f600", max_size=3)
chunk = st.lists(st.tuples(ids, st.booleans()), max_size=60)


@settings(max_examples=200, deadline=None)
@given(st.lists(chunk, max_size=8))
def test_same_verdicts_as_a_set(chunks: list[list[tuple[str, bool]]]) -> None:
    seen = SeenIds()
    ref: set[str] = set()
    for part in chunks:
        got = seen.add_new([x for x, _ in part], np.array([r for _, r in part], dtype=np.bool_))
        want = []
        for x, record in part:
            want.append(x in ref)
            if x not in ref and record:
                ref.add(x)
        assert got.tolist() == want
    assert len(seen) == len(ref)
    assert all(x in seen for x in ref)


def test_grows_past_its_first_table() -> None:
    seen = SeenIds()
    first = [f"E{i}" for i in range(20_000)]
    assert not seen.add_new(first).any()
    assert seen.add_new(first).all()
    assert len(seen) == 20_000
    assert "E19999" in seen
    assert "E20000" not in seen
