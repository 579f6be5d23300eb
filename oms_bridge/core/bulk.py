"""Bulk normalisation: a chunk of decoded events in, validated columns out.

The same rules as :func:`oms_bridge.core.events.parse_event`, applied to a
whole chunk at once. Rows in the canonical shape (string fields, an exact
event-type code, a ``YYYY-MM-DDTHH:MM:SS.fffZ`` timestamp) are checked with a
few C-level passes and the timestamps converted with numpy; every other row
goes through :func:`parse_event` itself, so what is accepted, refused and the
values produced are exactly those of the per-event path.

Exactness of the timestamp fast path: :meth:`datetime.timestamp` of an aware
datetime is the integer number of microseconds since the epoch divided by
10**6, correctly rounded. Here the integer number of milliseconds (exact in a
float64 below 2**53) is divided by 1000.0 in IEEE arithmetic, also correctly
rounded: the same rational number, so the same float.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import compress, repeat
from typing import Any

import numpy as np
from numpy.typing import NDArray

from oms_bridge.core.events import (
    MAX_ID_CHARS,
    MAX_YEAR,
    MIN_YEAR,
    EventCodes,
    EventKind,
    MeterEvent,
    parse_event,
)
from oms_bridge.errors import EventError

__all__ = [
    "KIND_CODE",
    "Columns",
    "MeterTable",
    "canonical_stamps",
    "columns_of",
    "kind_table",
    "normalise",
]

#: engine code of each event kind (0: last gasp, 1: power restored)
KIND_CODE: dict[EventKind, int] = {EventKind.LAST_GASP: 0, EventKind.POWER_RESTORED: 1}

_FIELDS = ("event_id", "meter_id", "type", "occurred_at")
_STAMP_CHARS = 24  # 2026-11-26T07:00:03.120Z
_MS_PER_DAY = 86_400_000
# per character of a canonical stamp: the lowest byte and the span above it
# ("0".."9" where a digit goes, the separator itself elsewhere)
_STAMP_LOW = np.frombuffer(b"0000-00-00T00:00:00.000Z", dtype=np.uint8)
_STAMP_SPAN = np.frombuffer(b"9999-99-99T99:99:99.999Z", dtype=np.uint8) - _STAMP_LOW
_TILED = 4096   # stamps the tiled copies below cover
_STAMP_LOWS = np.tile(_STAMP_LOW, _TILED)
_STAMP_SPANS = np.tile(_STAMP_SPAN, _TILED)
# the two-digit numbers: year (two halves), month, day, hour, minute, second,
# the first two digits of the milliseconds (their tens digit, then ones digit)
_TENS = np.array([0, 2, 5, 8, 11, 14, 17, 20])
_ONES = _TENS + 1
# lowest and highest month, day (before the month's own length), hour, minute, second
_FIELD_LO = np.array([1, 1, 0, 0, 0], dtype=np.int16)[:, None]
_FIELD_HI = np.array([12, 31, 23, 59, 59], dtype=np.int16)[:, None]
# per month of the accepted years, from (year - MIN_YEAR) * 12 + month - 1: days
# from the epoch to its first day, and its length (numpy's proleptic Gregorian)
_MONTHS = np.arange(np.datetime64(f"{MIN_YEAR}-01", "M"), np.datetime64(f"{MAX_YEAR + 1}-02", "M"))
_MONTH_FIRST = _MONTHS.astype("datetime64[D]").astype(np.int64)
_MONTH_DAYS = np.diff(_MONTH_FIRST)
# milliseconds from the epoch to the day before the month's first
_MONTH_MS = (_MONTH_FIRST[:-1] - 1) * _MS_PER_DAY


@dataclass(slots=True)
class Columns:
    """Valid events of a chunk, in arrival order, and how many rows were invalid."""

    event_ids: list[str]
    meter_ids: list[str]
    kinds: NDArray[np.int8]
    occurred_at: NDArray[np.float64]
    invalid: int


def canonical_stamps(stamps: Sequence[str], *,
                     sized: bool = False) -> tuple[NDArray[np.bool_], NDArray[np.float64]]:
    """Epoch seconds of canonical ``YYYY-MM-DDTHH:MM:SS.fffZ`` strings.

    Returns ``(ok, seconds)``: ``ok`` false where the string is not in that
    exact shape with a valid date and time in the accepted years (the caller
    parses those one by one); ``seconds`` is meaningful only where ``ok``.
    ``sized``: the caller knows every string has the 24 characters.
    """
    n = len(stamps)
    ok = np.zeros(n, dtype=np.bool_)
    out = np.zeros(n, dtype=np.float64)
    if n == 0:
        return ok, out
    shaped: NDArray[np.bool_] | None = None   # None: all of them
    if sized or set(map(len, stamps)) == {_STAMP_CHARS}:
        joined = "".join(stamps)
    else:
        shaped = np.fromiter(map(len, stamps), dtype=np.int64, count=n) == _STAMP_CHARS
        if not shaped.any():
            return ok, out
        joined = "".join(compress(stamps, shaped.tolist()))
    # non-ASCII characters become "?" (one byte each), which fails the checks below
    good, seconds = _stamp_seconds(np.frombuffer(joined.encode("ascii", "replace"),
                                                 dtype=np.uint8))
    if shaped is None:
        return good, seconds
    ok[shaped] = good
    out[shaped] = seconds
    return ok, out


def _stamp_seconds(raw: NDArray[np.uint8]) -> tuple[NDArray[np.bool_], NDArray[np.float64]]:
    """``canonical_stamps`` of stamps of the right length, their bytes end to end.

    Numbers are exact small integers throughout (int16 for the two-digit
    fields, int32 for the time of day, int64 for milliseconds since the
    epoch). Rows of wrong characters give garbage, masked by ``good``;
    everything runs along the stamps (arrays of one value per stamp), which
    numpy does much faster than along the 24 characters of each.
    """
    n = raw.shape[0] // _STAMP_CHARS
    if n <= _TILED:
        low, span = _STAMP_LOWS[:raw.shape[0]], _STAMP_SPANS[:raw.shape[0]]
    else:
        low, span = np.tile(_STAMP_LOW, n), np.tile(_STAMP_SPAN, n)
    good = np.ones(n, dtype=np.bool_)
    wrong = (raw - low) > span   # wraps around below the lowest: above the span too
    if wrong.any():
        good[np.flatnonzero(wrong) // _STAMP_CHARS] = False
    # (character, stamp): one row per position
    digit = raw.reshape(n, _STAMP_CHARS).T.astype(np.int16) - np.int16(48)
    pairs = digit[_TENS] * np.int16(10) + digit[_ONES]
    year = pairs[0] * np.int16(100) + pairs[1]
    good &= (year >= MIN_YEAR) & (year <= MAX_YEAR)
    good &= ((pairs[2:7] >= _FIELD_LO) & (pairs[2:7] <= _FIELD_HI)).all(axis=0)
    ym = np.where(good, (year - MIN_YEAR) * 12 + pairs[2] - 1, 0)
    day = pairs[3]
    good &= day <= _MONTH_DAYS[ym]
    hms = pairs[4:8].astype(np.int32)
    ms_of_day = ((hms[0] * 60 + hms[1]) * 60 + hms[2]) * 1000 + hms[3] * 10 + digit[22]
    ms = _MONTH_MS[ym] + day.astype(np.int64) * _MS_PER_DAY + ms_of_day
    return good, ms.astype(np.float64) / 1000.0


def _good_ids(ids: list[object], strings: bool = False,
              sized: bool = False) -> NDArray[np.bool_]:
    """Rows whose id is certainly valid (see ``events._ident``); others: slow path.

    ``strings``: the caller knows every id is a ``str`` (decoded as one), which
    spares a pass over the types; ``sized``: and of 1 to ``MAX_ID_CHARS``
    characters, which spares one over the lengths.
    """
    n = len(ids)
    if n == 0:
        return np.ones(0, dtype=np.bool_)
    if strings or set(map(type, ids)) == {str}:
        strs: list[str] = ids  # type: ignore[assignment]  # checked just above
        ok = np.ones(n, dtype=np.bool_)
    else:
        ok = np.fromiter((type(x) is str for x in ids), dtype=np.bool_, count=n)
        strs = [x if isinstance(x, str) else "" for x in ids]
    sizes = {1} if sized else set(map(len, strs))
    if min(sizes) < 1 or max(sizes) > MAX_ID_CHARS:
        lens = np.fromiter(map(len, strs), dtype=np.int64, count=n)
        ok &= (lens >= 1) & (lens <= MAX_ID_CHARS)
    joined = "".join(strs)
    if "\x00" in joined:
        ok &= np.fromiter(("\x00" not in x for x in strs), dtype=np.bool_, count=n)
    parts = joined.split(maxsplit=1)
    if len(parts) != 1 or len(parts[0]) != len(joined):   # some whitespace somewhere
        ok &= ~np.fromiter(map(str.isspace, strs), dtype=np.bool_, count=n)
    return ok


def kind_table(codes: EventCodes) -> dict[str, int]:
    """Exact type strings -> engine kind code (what ``codes.lookup`` finds first)."""
    return {k: KIND_CODE[v] for k, v in codes.mapping().items()}


def normalise(items: Sequence[object], codes: EventCodes,
              table: dict[str, int] | None = None) -> Columns:
    """Validate a chunk of decoded JSON objects (or :class:`MeterEvent`) in bulk.

    ``None`` (a line that was not JSON) and anything that is not a valid event
    count as invalid. ``table`` is :func:`kind_table` of ``codes`` (computed
    here when not given).
    """
    rows = [o for o in items if type(o) is dict]
    extra = len(items) - len(rows)
    if extra and any(type(o) is MeterEvent for o in items if type(o) is not dict):
        return _one_by_one(items, codes)   # mixed input: keep arrival order simply
    get = dict.get
    return columns_of(list(map(get, rows, repeat("event_id"))),
                      list(map(get, rows, repeat("meter_id"))),
                      list(map(get, rows, repeat("type"))),
                      list(map(get, rows, repeat("occurred_at"))),
                      invalid=extra, codes=codes, table=table)


def columns_of(eids: list[object], mids: list[object], types: list[object],
               stamps: list[object], *, invalid: int, codes: EventCodes,
               table: dict[str, int] | None = None, strings: bool = False,
               sized: bool = False,
               odd: dict[int, tuple[object, object, object, object]] | None = None) -> Columns:
    """Validate events given as their four fields (``None`` where absent), in bulk.

    One row per object, in arrival order; ``invalid`` rows were refused
    before (not objects) and are only counted. :func:`parse_event` of an
    object depends on nothing but these four values, so a row outside the
    fast path is judged by it on a dict of them: the same verdict and values
    as on the object itself. ``strings``: every value is known to be a ``str``;
    ``sized``: and each id of 1 to ``MAX_ID_CHARS`` characters, each stamp of 24.
    ``odd``: rows whose four values are these instead of what the lists hold
    (placeholders): always judged by ``parse_event``. The lists are reused for
    the result.
    """
    n = len(eids)
    sized = sized and strings
    ok = _good_ids(eids, strings, sized) & _good_ids(mids, strings, sized)
    exact = kind_table(codes) if table is None else table
    lookup = exact.get
    try:  # -1 where not an exact code (or not a string): slow path for those rows
        kinds = np.fromiter(map(lookup, types, repeat(-1)),  # type: ignore[arg-type]
                            dtype=np.int8, count=n)
    except TypeError:  # an unhashable "type" (list, object)
        kinds = np.array([lookup(x, -1) if isinstance(x, str) else -1 for x in types],
                         dtype=np.int8).reshape(n)
    ok &= kinds >= 0
    if strings or set(map(type, stamps)) == {str}:
        s_ok, seconds = canonical_stamps(stamps, sized=sized)  # type: ignore[arg-type]
    else:
        is_str = [type(x) is str for x in stamps]
        s_ok, seconds = canonical_stamps([x if s else "" for x, s in  # type: ignore[misc]
                                          zip(stamps, is_str, strict=True)])
    ok &= s_ok
    if odd:
        ok[list(odd)] = False
    if ok.all():
        return Columns(eids, mids, kinds, seconds, invalid)  # type: ignore[arg-type]
    # rows outside the fast path: parse_event decides, with its exact rules
    for i in np.flatnonzero(~ok).tolist():
        values = odd.get(i) if odd else None
        if values is None:
            values = (eids[i], mids[i], types[i], stamps[i])
        row = dict(zip(_FIELDS, values, strict=True))
        try:
            event = parse_event(row, codes)
        except EventError:
            ok[i] = False
            continue
        eids[i], mids[i] = event.event_id, event.meter_id
        kinds[i] = KIND_CODE[event.kind]
        seconds[i] = event.occurred_at
        ok[i] = True
    keep = ok.tolist()
    invalid += n - int(ok.sum())
    return Columns(list(compress(eids, keep)), list(compress(mids, keep)),  # type: ignore[arg-type]
                   kinds[ok], seconds[ok], invalid)


def _one_by_one(items: Sequence[object], codes: EventCodes) -> Columns:
    eids: list[str] = []
    mids: list[str] = []
    kinds: list[int] = []
    seconds: list[float] = []
    invalid = 0
    for obj in items:
        if isinstance(obj, MeterEvent):
            event = obj
        else:
            try:
                event = parse_event(obj, codes)
            except EventError:
                invalid += 1
                continue
        code = KIND_CODE.get(event.kind)
        if code is None:
            invalid += 1
            continue
        eids.append(event.event_id)
        mids.append(event.meter_id)
        kinds.append(code)
        seconds.append(event.occurred_at)
    return Columns(eids, mids, np.array(kinds, dtype=np.int8),
                   np.array(seconds, dtype=np.float64), invalid)


_MIX = np.uint64(0x9E3779B97F4A7C15)
_SHIFT = np.uint64(29)
_SEED = 0x243F6A8885A308D3


def _row_hashes(words: NDArray[np.uint64]) -> NDArray[np.uint64]:
    """A hash of each row of 8-byte words (an id's bytes, zero padded)."""
    h = np.full(words.shape[0], _SEED, dtype=np.uint64)
    for j in range(words.shape[1]):
        h ^= words[:, j]
        h *= _MIX
        h ^= h >> _SHIFT
    return h


class MeterTable:
    """Exact meter id -> service point look-up for a whole chunk at once.

    The UTF-8 bytes of the ids, zero padded to whole 8-byte words, sorted by a
    64-bit hash of them; the leading bits of the hash pick a bucket (a run of
    that order, about half an id on average). A query compares the whole id
    with each entry of its bucket in turn, so the answer is exactly that of a
    dict (the keys hold no trailing NUL, numpy's fixed width bytes cannot;
    a query ending in one matches nothing). Unlike a dict of a million strings
    it costs no chain of dependent cache misses per id: a chunk's queries run
    side by side, one step of every walk at a time.
    """

    __slots__ = ("_columns", "_n", "_shift", "_sp", "_start", "_unique", "_width")

    def __init__(self, keys: NDArray[np.bytes_], sps: NDArray[np.integer]) -> None:
        raw = np.ascontiguousarray(keys)
        n = raw.size
        width = raw.dtype.itemsize
        if n and width and int(raw.view(np.uint8).max()) >= 128:
            for k in raw.tolist():   # what the dict of decoded ids would refuse
                k.decode("utf-8")
        k_words = max(1, -(-width // 8))
        rows = np.zeros((n, 8 * k_words), dtype=np.uint8)
        if n and width:
            rows[:, :width] = raw.view(np.uint8).reshape(n, width)
        words = rows.view(np.uint64)
        hashes = _row_hashes(words)
        order = np.argsort(hashes)
        self._n = n
        self._width = k_words
        # (built once per replay, in a process that has just started: every
        # array made here is memory touched for the first time, which costs
        # more than the arithmetic, so as few and as narrow as the look-up allows)
        narrow: type[np.signedinteger[Any]] = np.int32 if n < 2**31 - 1 else np.int64
        self._sp: NDArray[np.signedinteger[Any]] = np.take(np.asarray(sps, dtype=narrow), order)
        # word j of every id, as its own array (gathers of 1-D arrays are fast),
        # and one entry of padding (what an empty last bucket points at)
        self._columns = []
        for j in range(k_words):
            column = np.empty(n + 1, dtype=np.uint64)
            np.take(words[:, j], order, out=column[:n])
            column[n] = 0
            self._columns.append(column)
        bits = n.bit_length() + 1
        self._shift = np.uint64(64 - bits)
        # bucket b holds entries _start[b] to _start[b + 1] - 1 (the counts
        # need no order: taken from the hashes as they are)
        self._start: NDArray[np.signedinteger[Any]] = np.zeros((1 << bits) + 1, dtype=narrow)
        buckets = np.right_shift(hashes, self._shift, out=hashes).view(np.int64)
        np.cumsum(np.bincount(buckets, minlength=1 << bits), out=self._start[1:])
        # distinct ids: sorted (as a compiled topology's are), or of distinct
        # hashes, or else each one finds itself
        self._unique = n < 2 or bool((raw[1:] > raw[:-1]).all())
        if not self._unique:
            ordered = _row_hashes(words)[order]
            self._unique = (bool((ordered[1:] != ordered[:-1]).all())
                            or bool((self._find(words[order], None) == np.arange(n)).all()))

    @property
    def unique(self) -> bool:
        """False when the topology lists a meter id twice (then use a dict)."""
        return self._unique

    def lookup(self, ids: Sequence[str]) -> NDArray[np.int64]:
        """Service point of each meter id, -1 where the topology has no such meter."""
        n = len(ids)
        if n == 0 or self._n == 0:
            return np.full(n, -1, dtype=np.int64)
        query, fits = self._query(ids)
        if query is None:
            return np.full(n, -1, dtype=np.int64)
        found = self._find(query, fits)
        return np.where(found >= 0, self._sp[np.maximum(found, 0)], -1).astype(np.int64)

    def _query(self, ids: Sequence[str]) -> tuple[NDArray[np.uint64] | None,
                                                   NDArray[np.bool_] | None]:
        """The ids as rows of words like the keys' (``None``: none can match), and
        which of them may match at all (``None``: all)."""
        n = len(ids)
        size = 8 * self._width
        chars = len(ids[0])
        if chars < size:
            # the usual chunk: ASCII ids of one length. Joined by NULs, they are
            # of one length if the text has the right length, holds n - 1 NULs
            # and one after every ``chars`` characters (those are the n - 1).
            joined = "\x00".join(ids)
            if (len(joined) == n * (chars + 1) - 1 and joined.isascii()
                    and joined.count("\x00") == n - 1):
                grid = np.frombuffer((joined + "\x00").encode("ascii"),
                                     dtype=np.uint8).reshape(n, chars + 1)
                if not grid[:, chars].any():
                    if chars + 1 == size:
                        return grid.view(np.uint64), None
                    rows = np.zeros((n, size), dtype=np.uint8)
                    rows[:, :chars + 1] = grid   # the NUL column is padding
                    return rows.view(np.uint64), None
        # anything else, one id at a time (lone surrogates never match a key)
        fits: NDArray[np.bool_] | None = None
        if any("\x00" in x for x in ids):   # a trailing NUL would vanish in the padding
            fits = ~np.fromiter((x.endswith("\x00") for x in ids), dtype=np.bool_, count=n)
        raw = np.array([x.encode("utf-8", "surrogatepass") for x in ids], dtype=np.bytes_)
        width = raw.dtype.itemsize
        data = raw.view(np.uint8).reshape(n, width)
        if width > size:
            short = ~np.asarray(data[:, size:].any(axis=1), dtype=np.bool_)
            fits = short if fits is None else fits & short
            data = data[:, :size]
        rows = np.zeros((n, size), dtype=np.uint8)
        rows[:, :data.shape[1]] = data
        return rows.view(np.uint64), fits

    def _find(self, query: NDArray[np.uint64], fits: NDArray[np.bool_] | None
              ) -> NDArray[np.int64]:
        """Entry of each query (rows of words) in the key order (-1: absent)."""
        columns = self._columns
        bucket = (_row_hashes(query) >> self._shift).astype(np.int64)
        at = self._start[bucket]
        end = self._start[bucket + 1]
        # first step of every walk at once: the bucket's first entry (an empty
        # bucket's "first entry" is the next bucket's, or the padding: masked)
        hit = at < end
        if fits is not None:
            hit &= fits
        for j, column in enumerate(columns):
            hit &= column[at] == query[:, j]
        out = np.where(hit, at, -1)
        at += 1
        more = ~hit & (at < end)
        if fits is not None:
            more &= fits
        active = np.flatnonzero(more)
        at, end = at[active], end[active]
        while active.size:   # the few buckets of two or more ids
            hit = columns[0][at] == query[active, 0]
            for j in range(1, len(columns)):
                hit &= columns[j][at] == query[active, j]
            out[active[hit]] = at[hit]
            at += 1
            live = ~hit & (at < end)
            active, at, end = active[live], at[live], end[live]
        return out
