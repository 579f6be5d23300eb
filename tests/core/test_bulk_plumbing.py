"""The ingest plumbing's fast paths against their plain references.

Stamps read in bulk vs the parser, decoding with other event codes, duplicate
verdicts per chunk vs one id at a time, and the meter table's uniqueness.
"""

from __future__ import annotations

import math
import re

import numpy as np
import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from oms_bridge.core import bulk
from oms_bridge.core.bulk import MeterTable, canonical_stamps, kind_table, normalise
from oms_bridge.core.decode import decode_columns
from oms_bridge.core.engine import VERDICTS, Engine, Verdict
from oms_bridge.core.events import EventCodes, EventKind, MeterEvent, parse_timestamp
from oms_bridge.settings import EngineSettings
from oms_bridge.sim.fixtures import synthetic_utility

_SHAPE = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", re.ASCII)


@st.composite
def _stamp(draw: st.DrawFn) -> str:
    """24 characters, mostly a canonical stamp with a few characters changed."""
    y, mo, d = draw(st.integers(1985, 2105)), draw(st.integers(0, 13)), draw(st.integers(0, 32))
    h, mi, s = draw(st.integers(0, 25)), draw(st.integers(0, 61)), draw(st.integers(0, 61))
    ms = draw(st.integers(0, 999))
    text = list(f"{y:04d}-{mo:02d}-{d:02d}T{h:02d}:{mi:02d}:{s:02d}.{ms:03d}Z")
    for _ in range(draw(st.sampled_from([0, 0, 0, 1, 2]))):
        text[draw(st.integers(0, 23))] = draw(st.sampled_from("0123456789-T:.Z x/\x00٣é"))
    return "".join(text)


def _accepts(text: str) -> float | None:
    try:
        return parse_timestamp(text)
    except ValueError:
        return None


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_stamp(), max_size=60))
def test_stamps_agree_with_the_parser(stamps: list[str]) -> None:
    ok, seconds = canonical_stamps(stamps, sized=True)
    ok2, seconds2 = canonical_stamps(stamps)
    assert ok.tolist() == ok2.tolist()
    assert seconds[ok].tobytes() == seconds2[ok2].tobytes()
    for text, fast, value in zip(stamps, ok.tolist(), seconds.tolist(), strict=True):
        want = _accepts(text)
        if fast:
            assert want == value, text
        elif _SHAPE.fullmatch(text):   # the canonical shape: refused only if invalid
            assert want is None, text


def test_stamps_beyond_the_tiled_templates() -> None:
    rng = np.random.default_rng(3)
    base = 1_700_000_000_000 + rng.integers(0, 10**11, size=9000)
    stamps = [np.datetime_as_string(np.datetime64(int(t), "ms")) + "Z" for t in base]
    stamps[4500] = "2026-11-26T07:00:03.12xZ"
    ok, seconds = canonical_stamps(stamps, sized=True)
    assert ok.sum() == len(stamps) - 1 and not ok[4500]
    assert (seconds[ok] == base[ok] / 1000.0).all()


def test_decode_with_other_codes() -> None:
    codes = EventCodes.from_settings(EngineSettings(last_gasp_codes=("LG", "x.y"),
                                                    restore_codes=("PR",)))
    table = kind_table(codes)
    stamp = "2026-11-26T07:00:03.120Z"
    lines = [orjson.dumps({"event_id": f"E{i}", "meter_id": "M1", "type": t,
                           "occurred_at": stamp})
             for i, t in enumerate(["LG", "PR", "lg", " PR", "last_gasp", "x.y", "x.z", ""])]
    cols = decode_columns(lines, codes, table)
    want = normalise([orjson.loads(x) for x in lines], codes, table)
    assert cols.event_ids == want.event_ids == ["E0", "E1", "E2", "E3", "E4", "E5"]
    assert cols.kinds.tolist() == want.kinds.tolist() == [0, 1, 0, 1, 0, 0]
    assert cols.invalid == want.invalid == 2
    assert decode_columns(lines, codes).kinds.tolist() == cols.kinds.tolist()


_key_text = st.one_of(
    st.from_regex(r"[A-Z][0-9]{1,9}", fullmatch=True),
    st.text(alphabet="ab\x00é😀 ", min_size=0, max_size=17),
    st.sampled_from(["x" * 8, "y" * 16, "z" * 7, "é" * 4, "M1", "M10"]),
)


def _table_case(keys: list[str], shuffle: bool) -> tuple[np.ndarray, np.ndarray, dict[str, int]]:
    """Keys as a topology stores them (UTF-8, fixed width: no trailing NUL)."""
    keys = [k.rstrip("\x00") for k in keys]
    if not shuffle:
        keys = sorted(keys, key=str.encode)
    raw = np.array([k.encode() for k in keys] or [b""], dtype=np.bytes_)[:len(keys)]
    sps = np.arange(len(keys), dtype=np.int32)[::-1].copy()
    want: dict[str, int] = {}
    for k, sp in zip(raw.tolist(), sps.tolist(), strict=True):
        want[k.decode()] = sp
    return raw, sps, want


def _check_table(keys: list[str], queries: list[str], shuffle: bool) -> None:
    raw, sps, want = _table_case(keys, shuffle)
    table = MeterTable(raw, sps)
    assert table.unique == (len(want) == len(raw))
    if table.unique:
        asked = [*want, *queries]
        assert table.lookup(asked).tolist() == [want.get(q, -1) for q in asked]


_query_text = st.one_of(_key_text, st.text(max_size=20),
                        st.sampled_from(["", "\x00", "M1\x00", "\ud800", "x" * 9, "y" * 17]))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_key_text, max_size=40), st.lists(_query_text, max_size=30), st.booleans())
def test_meter_table_is_a_dict(keys: list[str], queries: list[str], shuffle: bool) -> None:
    _check_table(keys, queries, shuffle)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_key_text, max_size=40), st.lists(_query_text, max_size=30), st.booleans(),
       st.integers(0, 3))
def test_meter_table_with_colliding_hashes(keys: list[str], queries: list[str], shuffle: bool,
                                           bits: int) -> None:
    real = bulk._row_hashes
    # a hash of only ``bits`` bits: distinct ids share hashes and buckets
    bulk._row_hashes = lambda words: real(words) & np.uint64((1 << bits) - 1)
    try:
        _check_table(keys, queries, shuffle)
    finally:
        bulk._row_hashes = real


def test_meter_table_uniform_chunks() -> None:
    """The usual chunk (ASCII ids of one length) and its near misses."""
    keys = [f"U{i:09d}" for i in range(0, 5000, 3)] + ["abcdefg", "abcdefgh", "abcdefghijklmnop"]
    for shuffle in (False, True):
        for queries in ([f"U{i:09d}" for i in range(2000)], ["abcdefg"] * 3,
                        ["abcdefgh", "abcdefgx"], ["abcdefghijklmnop", "abcdefghijklmnoq"],
                        [f"U{i:09d}\x00"[:10] for i in range(50)] + ["U00000000\x00"],
                        ["U000000003", "U00000003", "U0000000030"]):
            _check_table(keys, queries, shuffle)


def _engine() -> Engine:
    return Engine(synthetic_utility(40, np.random.default_rng(0)))


def _reference_duplicates(seen: set[str], ids: list[str], keep_out: list[bool]) -> list[bool]:
    """One id at a time, as Engine.ingest does."""
    dup = []
    for eid, out in zip(ids, keep_out, strict=True):
        dup.append(eid in seen)
        if eid not in seen and not out:
            seen.add(eid)
    return dup


_chunk = st.lists(st.tuples(st.sampled_from([f"E{i}" for i in range(12)]),
                            st.sampled_from([False] * 5 + [True])), max_size=30)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_chunk, max_size=6), st.booleans())
def test_duplicate_verdicts_as_one_by_one(chunks: list[list[tuple[str, bool]]],
                                          keep_none: bool) -> None:
    engine = _engine()
    want: set[str] = set()
    for chunk in chunks:
        ids = [eid for eid, _ in chunk]
        out = [False] * len(chunk) if keep_none else [o for _, o in chunk]
        mask = np.array(out, dtype=np.bool_)
        got = engine._duplicates(ids, mask if mask.any() else None)
        assert got.dtype == np.bool_
        assert got.tolist() == _reference_duplicates(want, ids, out)
        assert engine._seen == want


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.sampled_from([f"E{i}" for i in range(15)]),
                          st.sampled_from([0, 1, 2, 3]),
                          st.sampled_from([0.0, 5.0, 60.0, 3600.0, 200_000.0, 400_000.0,
                                           math.nan, math.inf]),
                          st.sampled_from([0, 1, 1, 1, 5])), max_size=60),
       st.integers(1, 25))
def test_chunked_verdicts_as_one_by_one(rows: list[tuple[str, int, float, int]],
                                        size: int) -> None:
    """Ids repeated within and across chunks, some of events too old to be
    recorded (past the horizon) or invalid: the same verdicts as ingest."""
    one, bulk_engine = _engine(), _engine()
    meters = [m.decode() for m in one.topology.meter_keys[:3].tolist()]
    kinds = (EventKind.LAST_GASP, EventKind.POWER_RESTORED)
    want = []
    for eid, meter, t, kind in rows:
        mid = meters[meter] if meter < len(meters) else "nope"
        # an unknown kind: what ingest does with an event of no engine kind
        want.append(one.ingest(MeterEvent(eid, mid, kinds[kind] if kind < 2 else None,  # type: ignore[arg-type]
                                          1.8e9 + t)))
    got: list[Verdict] = []
    for a in range(0, len(rows), size):
        part = rows[a:a + size]
        got += bulk_engine.ingest_columns(
            [r[0] for r in part], [meters[r[1]] if r[1] < len(meters) else "nope" for r in part],
            [r[3] for r in part], [1.8e9 + r[2] for r in part]).tolist()
    assert [VERDICTS[v] for v in got] == want
