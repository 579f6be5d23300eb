"""msgspec line decoding gives exactly the columns of ``orjson.loads`` + ``normalise``.

Random mixes of good lines and lines broken in every way we could think of
(each field wrong in turn, wrong types, extra and repeated keys, blank lines,
non-JSON, two objects on a line, escapes, surrogates, bad UTF-8, huge numbers,
random byte damage), as ``bytes`` and as ``str``, are decoded by
:func:`decode_columns` and by the path it replaced; columns and invalid counts
must be identical, and both must agree with :func:`parse_event` line by line.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import numpy as np
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from oms_bridge.core.bulk import KIND_CODE, Columns, kind_table, normalise
from oms_bridge.core.decode import decode_columns
from oms_bridge.core.events import EventCodes, parse_event
from oms_bridge.core.replay import replay
from oms_bridge.errors import EventError
from oms_bridge.settings import EngineSettings
from oms_bridge.sim.fixtures import storm_feeder
from oms_bridge.sim.params import StormParams
from oms_bridge.sim.scenario import generate

SETTINGS = EngineSettings()
CODES = EventCodes.from_settings(SETTINGS)
TABLE = kind_table(CODES)
FIELDS = ("event_id", "meter_id", "type", "occurred_at")

_good_ids = st.from_regex(r"[A-Z]{2}-[0-9]{1,10}", fullmatch=True)
_good_stamps = st.builds(
    lambda t: f"{t:%Y-%m-%dT%H:%M:%S}.{t.microsecond // 1000:03d}Z",
    st.datetimes(datetime(1990, 1, 1), datetime(2099, 12, 31, 23, 59, 59)))
_good_types = st.sampled_from(["last_gasp", "power_restored", "3.26.0.85", "3.26.0.216"])
_ids = st.one_of(
    _good_ids,
    st.text(max_size=12),
    st.text(alphabet=" \t\n\x00\x0b\x0c\x1c\x85\xa0\u2028\u3000é😀", max_size=4),
    st.sampled_from(["", " ", "x" * 256, "x" * 257, "é" * 256, "é" * 257, "a\x00b",
                     "\ud800", "\udfff", "😀" * 200]),
)
_types = st.one_of(
    st.sampled_from(["last_gasp", "power_restored", "3.26.0.85", "3.26.0.216",
                     "LAST_GASP", " last_gasp", "Power_Restored ", "3.26.0.85 ", "3.26.0.99",
                     "", " ", "last_gasp\x00", "ping", "last gasp"]),
    st.text(max_size=6),
)
_stamps = st.one_of(
    st.builds(lambda y, mo, d, h, mi, s, ms: f"{y:04d}-{mo:02d}-{d:02d}T{h:02d}:{mi:02d}:"
              f"{s:02d}.{ms:03d}Z",
              st.integers(1985, 2105), st.integers(0, 13), st.integers(0, 32),
              st.integers(0, 24), st.integers(0, 60), st.integers(0, 60), st.integers(0, 999)),
    st.sampled_from(["2026-11-26T07:00:03.120Z", "2026-11-26T07:00:03Z",
                     "2026-11-26T07:00:03.120+02:00", "2026-11-26T07:00:03.120",
                     "2026-11-26 07:00:03.120Z", "2026-11-26T07:00:03.120z",
                     "2026-11-26T07:00:03.120000Z", "2026-11-26T07:00:03,120Z",
                     "2024-02-29T23:59:59.999Z", "2023-02-29T00:00:00.000Z",
                     "1990-01-01T00:00:00.000Z", "2099-12-31T23:59:59.999-01:00",
                     "2026-11-26T07:00:03.120Z ", "２０２６-11-26T07:00:03.120Z",
                     "2026-11-26\x0007:00:03.120Z", "2026-11-26T07:00:03.120\x00", "", "Z"]),
    st.text(max_size=26),
)
_json_values: st.SearchStrategy[Any] = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False)
    | st.text(max_size=5) | st.sampled_from([10**30, -(10**30), 2**64, 0.1]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner,
                                                                  max_size=3),
    max_leaves=6,
)
# raw JSON text for a value: what json.dumps cannot produce
_raw_values = st.sampled_from([
    "1e400", "-1e400", "1" * 400, "NaN", "Infinity", "01", "1.", "+1", ".5", "tru", "nul",
    '"\\ud800"', '"\\udc00x"', '"\\ud83d\\ude00"', '"\\u0000"', '"\\x"', '"\\u12"', '"a\tb"',
    '"\\u00e9\\/\\b\\f\\n\\r\\t\\"\\\\"', "[1,]", '{"a":1,}', "{1:2}", "[" * 50 + "]" * 50,
    "[" * 2000 + "]" * 2000, '"\xff"', '"\xc0\xaf"', '"\xed\xa0\x80"', '"\xf4\x90\x80\x80"',
    '"\u2028"', "true", "false", "null", "[]", "{}",
])


def _dump(value: Any, ascii_only: bool) -> str:
    return json.dumps(value, ensure_ascii=ascii_only)


@st.composite
def _object_line(draw: st.DrawFn) -> bytes:
    """One JSON object, usually an event, often with something wrong."""
    odd = draw(st.integers(0, 3)) == 0
    if odd:
        values: dict[str, Any] = {"event_id": draw(_ids), "meter_id": draw(_ids),
                                  "type": draw(_types), "occurred_at": draw(_stamps)}
    else:
        values = {"event_id": draw(_good_ids), "meter_id": draw(_good_ids),
                  "type": draw(_good_types), "occurred_at": draw(_good_stamps)}
    raw: dict[str, str] = {}
    ascii_only = draw(st.booleans())
    for name in FIELDS:
        change = draw(st.sampled_from(["keep"] * 40 + ["missing", "value", "raw", "null"]))
        if change == "missing":
            del values[name]
        elif change == "value":
            values[name] = draw(_json_values)
        elif change == "raw":
            raw[name] = draw(_raw_values)
        elif change == "null":
            values[name] = None
    parts = [f"{_dump(k, ascii_only)}:{raw[k] if k in raw else _dump(v, ascii_only)}"
             for k, v in values.items()]
    for _ in range(draw(st.sampled_from([0] * 8 + [1, 2]))):   # extra keys, odd values
        key = draw(st.sampled_from(["extra", "", "Event_id", "event_id ", "x\u00e9",
                                    "event\\u005fid"]))
        val = draw(_raw_values) if draw(st.booleans()) else _dump(draw(_json_values), True)
        parts.insert(draw(st.integers(0, len(parts))), f'"{key}":{val}')
    if draw(st.integers(0, 9)) == 0 and values:   # a key repeated, the last one wins
        key = draw(st.sampled_from(sorted(values)))
        other = draw(st.one_of(_ids, _json_values))
        parts.insert(draw(st.integers(0, len(parts))), f"{_dump(key, True)}:{_dump(other, True)}")
    shuffled = draw(st.permutations(parts))
    sep = draw(st.sampled_from([",", ",", " , ", ",\t"]))
    text = "{" + sep.join(shuffled) + "}"
    return text.encode("utf-8", "surrogatepass")


@st.composite
def _line(draw: st.DrawFn) -> bytes | str:
    kind = draw(st.sampled_from(["good"] * 16 + ["damaged", "blank", "garbage", "two",
                                               "wrapped", "json"]))
    if kind in {"good", "damaged", "two", "wrapped"}:
        body = draw(_object_line())
        if kind == "damaged":   # a byte flipped, inserted or deleted
            at = draw(st.integers(0, len(body)))
            byte = bytes([draw(st.integers(0, 255))])
            how = draw(st.sampled_from(["flip", "insert", "delete", "cut"]))
            if how == "flip":
                body = body[:at] + byte + body[at + 1:]
            elif how == "insert":
                body = body[:at] + byte + body[at:]
            elif how == "delete":
                body = body[:at] + body[at + 1:]
            else:
                body = body[:at]
        elif kind == "two":
            body += draw(st.sampled_from([b"", b" ", b",", b"\r", b"\t"])) + draw(_object_line())
        elif kind == "wrapped":
            body = draw(st.sampled_from([b"[", b"\xef\xbb\xbf", b" \t", b"\x0c", b"\"",
                                         b"\x00"])) + body + draw(
                st.sampled_from([b"]", b"", b" ", b"\r", b"\x0b", b"\xc2\xa0", b"x", b"}"]))
    elif kind == "blank":
        body = draw(st.sampled_from([b"", b" ", b"\t", b"\r", b"  \t ", b"\x0c", b"\x0b",
                                     b"\x1c", b"\xc2\xa0"]))
    elif kind == "json":
        body = _dump(draw(_json_values), True).encode()
    else:
        body = draw(st.binary(max_size=30))
    body += draw(st.sampled_from([b"\n"] * 4 + [b"\r\n", b""]))
    if draw(st.integers(0, 3)) == 0:   # as str, lone surrogates for bytes that are not UTF-8
        return body.decode("utf-8", "surrogateescape")
    return body


def _old(lines: list[bytes | str]) -> Columns:
    """The path decode_columns replaced (core/replay.py before it)."""
    try:
        objs: list[object] = list(map(orjson.loads, lines))
    except orjson.JSONDecodeError:
        objs = []
        for line in lines:
            try:
                objs.append(orjson.loads(line))
            except orjson.JSONDecodeError:
                if line and not line.isspace():
                    objs.append(None)
    return normalise(objs, CODES, TABLE)


def _oracle(lines: list[bytes | str]) -> tuple[list[tuple[str, str, int, float]], int]:
    """Line by line with parse_event."""
    events: list[tuple[str, str, int, float]] = []
    invalid = 0
    for line in lines:
        try:
            obj = orjson.loads(line)
        except orjson.JSONDecodeError:
            invalid += bool(line and not line.isspace())
            continue
        try:
            e = parse_event(obj, CODES)
        except EventError:
            invalid += 1
            continue
        events.append((e.event_id, e.meter_id, KIND_CODE[e.kind], e.occurred_at))
    return events, invalid


def _same(a: Columns, b: Columns) -> None:
    assert a.event_ids == b.event_ids
    assert a.meter_ids == b.meter_ids
    assert a.kinds.dtype == b.kinds.dtype == np.int8
    assert a.occurred_at.dtype == b.occurred_at.dtype == np.float64
    assert a.kinds.tobytes() == b.kinds.tobytes()
    assert a.occurred_at.tobytes() == b.occurred_at.tobytes()
    assert a.invalid == b.invalid
    assert all(type(x) is str for x in (*a.event_ids, *a.meter_ids))


def _check(lines: list[bytes | str]) -> None:
    new = decode_columns(lines, CODES, TABLE)
    _same(new, _old(lines))
    events, invalid = _oracle(lines)
    assert new.invalid == invalid
    got = list(zip(new.event_ids, new.meter_ids, new.kinds.tolist(),
                   new.occurred_at.tolist(), strict=True))
    assert got == events


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_line(), max_size=40))
def test_random_mixes(lines: list[bytes | str]) -> None:
    _check(lines)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_object_line(), min_size=1, max_size=20), st.data())
def test_objects_one_per_line(bodies: list[bytes], data: st.DataObject) -> None:
    ends = data.draw(st.lists(st.sampled_from([b"\n", b"\r\n", b" \n", b""]),
                              min_size=len(bodies), max_size=len(bodies)))
    _check([b + e for b, e in zip(bodies, ends, strict=True)])


GOOD = (b'{"event_id":"HE-1","meter_id":"U1","type":"last_gasp",'
        b'"occurred_at":"2026-11-26T07:00:03.120Z"}')


def test_known_traps() -> None:
    """Lines msgspec's stream or skip rules would read differently from orjson."""
    lines: list[bytes | str] = [
        GOOD + b"\n",
        GOOD + GOOD + b"\n",                          # two objects on one line
        GOOD + b"\r" + GOOD + b"\n",
        GOOD[:40] + b"\n", GOOD[40:] + b"\n",           # one object broken over two lines
        GOOD[:-1] + b',"x":1e400}\n',                  # skipped values orjson refuses
        GOOD[:-1] + b',"x":"\xff"}\n',
        GOOD[:-1] + b',"x":' + b"[" * 2000 + b"]" * 2000 + b"}\n",
        GOOD[:-1] + b',"x":123456789012345678901234567890}\n',
        GOOD.replace(b'"HE-1"', b'"\\ud800"') + b"\n",
        GOOD.replace(b'"last_gasp"', b'"3.26.0.216"') + b"\n",
        GOOD.replace(b'"last_gasp"', b'"LAST_GASP "') + b"\n",
        GOOD.replace(b"07:00:03.120Z", b"09:00:03.120+02:00") + b"\n",
        GOOD.replace(b'{"event_id":"HE-1",', b'{"event_id":7,"event_id":"HE-2",') + b"\n",
        GOOD.replace(b'{"event_id":"HE-1",', b'{"event_id":"HE-3","event_id":7,') + b"\n",
        b"\n", b"   \r\n", b"\x0c\n", b"", b"null\n", b"[]\n", b"not json\n",
        GOOD.decode() + "\n", GOOD.decode().replace("HE-1", "\ud800"),
    ]
    _check(lines)
    new = decode_columns(lines, CODES, TABLE)
    assert new.event_ids == ["HE-1"] * 5 + ["HE-2", "HE-1"]
    assert new.kinds.tolist() == [0, 0, 1, 0, 0, 0, 0]
    assert new.invalid == 13


def test_replay_takes_lines_objects_and_events_mixed() -> None:
    """Batches of bytes, str, decoded objects and MeterEvent: the result of the lines."""
    topo = storm_feeder()
    scenario = generate(topo, np.random.default_rng(4), StormParams(outages=3, duration_h=1.0),
                        seed=4)
    lines = list(scenario.lines())
    lines[3:3] = ["", "  ", "not json", "[1]", GOOD.decode(), GOOD.decode() * 2,
                  GOOD.decode().replace("last_gasp", " LAST_GASP ")]
    rng = np.random.default_rng(9)
    items: list[object] = []
    for text in lines:
        form = int(rng.integers(0, 4))
        try:
            obj = orjson.loads(text)
            event = parse_event(obj, CODES)
        except (orjson.JSONDecodeError, EventError):
            obj = event = None
        if form == 2 and obj is not None:
            items.append(obj)
        elif form == 3 and event is not None:
            items.append(event)
        else:
            items.append(text.encode() if form % 2 else text)
    want = orjson.dumps(replay(topo, lines, SETTINGS, chunk_size=64))
    for size in (1, 5, 64, 4096):
        assert orjson.dumps(replay(topo, items, SETTINGS, chunk_size=size)) == want, size
    # the same file read as bytes lines, all through the line decoder
    raw = [f"{t}\n".encode() for t in lines]
    assert orjson.dumps(replay(topo, raw, SETTINGS, chunk_size=4096)) == want


def test_rows_lost_before_a_refused_line_stop_the_decode(monkeypatch: Any) -> None:
    """The fast path counts on ``list.extend`` keeping what it appended before
    the decoder refused a line (CPython does; a mypyc build of this module did
    not). Where that fails, the chunk stops with an error instead of losing the
    good lines before the bad one."""
    import oms_bridge.core.decode as decode_mod  # noqa: PLC0415

    def eager_map(fn: Any, it: Any) -> Any:
        return iter([fn(x) for x in it])   # refuses before yielding anything

    good = [json.dumps({"event_id": f"E-{i}", "meter_id": "M-1", "type": "3.26.0.85",
                        "occurred_at": "2026-11-26T07:00:00.000Z"}).encode()
            for i in range(3)]
    lines = [*good[:2], b"not json", good[2]]
    assert decode_columns(lines, CODES, TABLE).event_ids == ["E-0", "E-1", "E-2"]
    monkeypatch.setattr(decode_mod, "map", eager_map, raising=False)
    with pytest.raises(RuntimeError, match="were not kept"):
        decode_columns(lines, CODES, TABLE)
