"""The sequencer's bulk release order: the sort by time (with its tie-breaking by
event id and the late events merged in) gives exactly the general lexsort's order,
and the bulk path stays push one by one when times tie a lot and ids come in any order."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from oms_bridge.core.reorder import Sequencer
from tests.core.test_reorder import record as _record

# few distinct times: runs of equal times of every length; steps of 30 s (the
# lateness) and more make events late or held over to later chunks
_TIMES = st.sampled_from([0.0, 0.5, 1.0, 1.0, 2.0, 29.0, 30.0, 31.0, 45.0, 60.0, 61.0, 200.0])
_IDS = st.sampled_from([f"E{i}" for i in range(40)])


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.sampled_from([0.0, 20.0, 40.0, 100.0]), _TIMES,
                          st.integers(0, 9), st.integers(0, 1)), max_size=90),
       st.permutations(range(90)), st.integers(1, 40))
def test_tied_times_and_shuffled_ids_as_one_by_one(raw: list[tuple[float, float, int, int]],
                                                   names: list[int], chunk: int) -> None:
    # distinct ids (as the engine's deduplication leaves them) in no particular order,
    # so that ties of time are ordered by id, not by arrival
    arrivals = [(base + t, f"E{names[i]:02d}", sp, kind)
                for i, (base, t, sp, kind) in enumerate(raw)]
    assert _record(arrivals, bulk=chunk) == _record(arrivals, bulk=0)


@settings(max_examples=400, deadline=None)
@given(st.lists(st.tuples(_TIMES, _IDS), max_size=60), st.lists(st.tuples(_TIMES, _IDS),
                                                                  min_size=1, max_size=60),
       st.sampled_from([float("-inf"), 0.0, 1.0, 30.0]), st.booleans())
def test_sort_by_time_is_the_lexsort(buffer: list[tuple[float, str]],
                                     new: list[tuple[float, str]], clock0: float,
                                     sorted_buffer: bool) -> None:
    """Both orders on the same input (repeated ids too): equal whenever the sort by
    time answers, and it answers when the buffer is above the clock (always so)."""
    if sorted_buffer:
        buffer = sorted(buffer, key=lambda x: x[0])
    n_old, n = len(buffer), len(new)
    t_new = np.array([x[0] for x in new], dtype=np.float64)
    t_u = np.array([x[0] for x in buffer] + [x[0] for x in new], dtype=np.float64)
    eid_u = np.empty(n_old + n, dtype=object)
    eid_u[:] = [x[1] for x in buffer] + [x[1] for x in new]
    seq = Sequencer(30.0, lambda t, eid, sp, kind: None)
    after = np.maximum(np.maximum.accumulate(t_new) - 30.0, clock0)
    before = np.concatenate(([clock0], after[:-1]))
    late_at = np.flatnonzero(t_new <= before)
    late_u = late_at + n_old
    buffered = np.delete(np.arange(n_old + n), late_u)
    general = seq._by_lexsort(t_u, eid_u, buffered, after, late_at, late_u)
    fast = Sequencer._by_time(t_u[buffered], buffered, eid_u, after, late_at, late_u, t_new)
    if all(t > clock0 for t, _ in buffer):
        assert fast is not None
    if fast is not None:
        assert fast[0].tolist() == general[0].tolist()
        assert fast[1].tolist() == general[1].tolist()
        assert fast[2] == general[2]
        # what stays buffered: the same events (the sort by time keeps them by time)
        assert sorted(fast[3].tolist()) == sorted(general[3].tolist())
        assert t_u[fast[3]].tolist() == sorted(t_u[fast[3]].tolist())


def test_runs_of_equal_times_are_ordered_by_id() -> None:
    """Everything buffered, then released at once by a later arrival: pairs and
    longer runs of one time."""
    ids = ["b", "a", "d", "c", "e", "z", "y", "x", "w", "m", "n"]
    times = [5.0, 5.0, 6.0, 6.0, 6.0, 7.0, 7.0, 7.0, 7.0, 8.0, 9.0]
    out: list[tuple[float, str]] = []
    seq = Sequencer(1000.0, lambda t, eid, sp, kind: out.append((t, eid)))
    seq.push_many(np.array(times, dtype=np.float64), ids, np.zeros(11, dtype=np.int64),
                  np.zeros(11, dtype=np.int8))
    assert not out
    seq.push_many(np.array([1500.0]), ["q"], np.zeros(1, dtype=np.int64),
                  np.zeros(1, dtype=np.int8))
    assert out == sorted(zip(times, ids, strict=True))


def test_not_a_number_takes_the_general_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """(The engine never pushes one: not even one by one is it ordered.)"""
    arrivals = [(1.0, "b", 0, 0), (float("nan"), "a", 1, 1), (40.0, "c", 2, 0),
                (0.5, "d", 3, 1), (100.0, "e", 4, 0)]
    fast = repr(_record(arrivals, bulk=5))
    monkeypatch.setattr(Sequencer, "_by_time", staticmethod(lambda *a: None))
    assert fast == repr(_record(arrivals, bulk=5))
