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


def _row_hashes(codes: NDArray[np.uint32]) -> NDArray[np.uint64]:
    """A hash of each row of code points that ignores zero padding (ids hold no NUL)."""
    h = np.full(codes.shape[0], 0x243F6A8885A308D3, dtype=np.uint64)
    for j in range(codes.shape[1]):
        c = codes[:, j].astype(np.uint64)
        mixed = (h ^ c) * _MIX
        mixed ^= mixed >> _SHIFT
        h = np.where(c != 0, mixed, h)
    return h


def _codepoints(ids: Sequence[str] | NDArray[np.str_]) -> NDArray[np.uint32]:
    arr = np.asarray(ids, dtype=np.str_)
    width = arr.dtype.itemsize // 4
    if arr.size == 0 or width == 0:
        return np.zeros((arr.size, max(width, 1)), dtype=np.uint32)
    return np.ascontiguousarray(arr).view(np.uint32).reshape(arr.size, width)


class MeterTable:
    """Exact meter id -> service point look-up for a whole chunk at once.

    Open addressing in numpy arrays over the code points of the ids: a probe
    compares the whole id, so the answer is exactly that of a dict; unlike a
    dict of a million strings it costs no chain of dependent cache misses per
    id (the chunk's probes run side by side).
    """

    __slots__ = ("_bits", "_codes", "_sp", "_table")

    def __init__(self, keys: NDArray[np.bytes_], sps: NDArray[np.integer]) -> None:
        raw = np.ascontiguousarray(keys)
        width = raw.dtype.itemsize
        if raw.size and width and int(raw.view(np.uint8).max()) < 128:
            # ASCII: the UTF-8 bytes are the code points
            codes = raw.view(np.uint8).reshape(raw.size, width).astype(np.uint32)
        else:
            codes = _codepoints([bytes(k).decode("utf-8") for k in raw.tolist()])
        self._codes = np.ascontiguousarray(codes)
        self._sp = np.asarray(sps, dtype=np.int64)
        n = codes.shape[0]
        self._bits = max(4, (2 * n).bit_length())
        self._table = np.full(1 << self._bits, -1, dtype=np.int64)
        hashes = _row_hashes(codes)
        pending = np.arange(n, dtype=np.int64)
        pos = self._slot(hashes)
        table, mask = self._table, (1 << self._bits) - 1
        while pending.size:
            free = table[pos] < 0
            slots, first = np.unique(pos[free], return_index=True)
            table[slots] = pending[free][first]
            placed = np.zeros(pending.size, dtype=np.bool_)
            placed[np.flatnonzero(free)[first]] = True
            pending, pos = pending[~placed], (pos[~placed] + 1) & mask

    def _slot(self, hashes: NDArray[np.uint64]) -> NDArray[np.int64]:
        return ((hashes * _MIX) >> np.uint64(64 - self._bits)).astype(np.int64)

    @property
    def unique(self) -> bool:
        """False when the topology lists a meter id twice (then use a dict)."""
        n = self._codes.shape[0]
        return n == 0 or bool((self.lookup_codes(self._codes) == np.arange(n)).all())

    def lookup(self, ids: Sequence[str]) -> NDArray[np.int64]:
        """Service point of each meter id, -1 where the topology has no such meter."""
        n = len(ids)
        if n == 0 or self._codes.shape[0] == 0:
            return np.full(n, -1, dtype=np.int64)
        found = self.lookup_codes(_codepoints(ids))
        return np.where(found >= 0, self._sp[np.maximum(found, 0)], -1)

    def lookup_codes(self, query: NDArray[np.uint32]) -> NDArray[np.int64]:
        """Row of each query (code points, zero padded) in the key table (-1: absent)."""
        keys = self._codes
        width = keys.shape[1]
        n = query.shape[0]
        out = np.full(n, -1, dtype=np.int64)
        if query.shape[1] > width:
            fits = ~query[:, width:].any(axis=1)
            query = query[:, :width]
        else:
            fits = np.ones(n, dtype=np.bool_)
            if query.shape[1] < width:
                query = np.pad(query, ((0, 0), (0, width - query.shape[1])))
        # whole rows as one opaque item: gathers and compares are 1-D
        row = np.dtype((np.void, 4 * width))
        key_rows = keys.view(row).reshape(-1)
        text = np.dtype(f"<U{width}")
        query_text = np.ascontiguousarray(query).view(text).reshape(-1)
        active = np.flatnonzero(fits)
        pos = self._slot(_row_hashes(query[active]))
        table, mask = self._table, (1 << self._bits) - 1
        while active.size:
            cand = table[pos]
            live = cand >= 0
            active, pos, cand = active[live], pos[live], cand[live]
            hit = key_rows[cand].view(text) == query_text[active]
            out[active[hit]] = cand[hit]
            miss = ~hit
            active, pos = active[miss], (pos[miss] + 1) & mask
        return out
