"""Meter events: the one validated shape every ingest path produces.

:func:`parse_event` turns a decoded JSON object (contract section 2) into a
:class:`MeterEvent` or raises :class:`~oms_bridge.errors.EventError` naming the
offending field. Rules, decided once for every ingest path:

- ``event_id`` and ``meter_id`` are non-empty strings of at most 256 characters,
  without NUL characters (numbers are refused rather than silently turned into text: ``12`` and
  ``"12"`` would otherwise be two ids for one event).
- ``type`` is looked up in :class:`EventCodes` (names and IEC 61968-9
  EndDeviceEvent codes, configurable); anything else is refused.
- ``occurred_at`` is an ISO-8601 string **with** ``Z`` or a UTC offset. Naive
  timestamps are refused: a head end in local time would shift every window by
  hours without anyone noticing. Years outside 1990..2099 are refused as absurd.

Timestamps go through :meth:`datetime.fromisoformat` (C code: faster than any
hand-written fast path measured here).
"""

from __future__ import annotations

import enum
import functools
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from oms_bridge.errors import EventError
from oms_bridge.settings import EngineSettings

__all__ = [
    "EventCodes",
    "EventKind",
    "MeterEvent",
    "format_time",
    "parse_event",
    "parse_timestamp",
]

MAX_ID_CHARS = 256
MIN_YEAR = 1990
MAX_YEAR = 2099


class EventKind(enum.Enum):
    """What a meter said. Open to more kinds (ping results...) later."""

    LAST_GASP = "last_gasp"
    POWER_RESTORED = "power_restored"

    @classmethod
    def _missing_(cls, value: object) -> EventKind:
        valid = ", ".join(repr(m.value) for m in cls)
        raise ValueError(f"{value!r} is not a valid {cls.__name__}; valid: {valid}")


@dataclass(frozen=True, slots=True)
class MeterEvent:
    """One validated head-end event; ``occurred_at`` in epoch seconds (UTC)."""

    event_id: str
    meter_id: str
    kind: EventKind
    occurred_at: float


class EventCodes:
    """Maps head-end type strings and IEC 61968-9 codes to :class:`EventKind`."""

    __slots__ = ("_map",)

    def __init__(self, mapping: Mapping[str, EventKind]) -> None:
        self._map = {k.strip().lower(): v for k, v in mapping.items()}

    @classmethod
    def from_settings(cls, settings: EngineSettings) -> EventCodes:
        mapping: dict[str, EventKind] = {k.value: k for k in EventKind}
        mapping.update(dict.fromkeys(settings.last_gasp_codes, EventKind.LAST_GASP))
        mapping.update(dict.fromkeys(settings.restore_codes, EventKind.POWER_RESTORED))
        return cls(mapping)

    def lookup(self, code: str) -> EventKind | None:
        kind = self._map.get(code)
        if kind is None:
            kind = self._map.get(code.strip().lower())
        return kind

    def mapping(self) -> dict[str, EventKind]:
        """The type strings looked up exactly (before stripping and lower-casing)."""
        return dict(self._map)

    def codes(self) -> Iterable[str]:
        return sorted(self._map)


def parse_timestamp(text: str) -> float:
    """Epoch seconds of an ISO-8601 timestamp with ``Z`` or an offset.

    Raises :class:`ValueError` with the reason (the caller names the field).
    """
    try:
        stamp = datetime.fromisoformat(text)
    except ValueError as exc:
        raise ValueError(f"not an ISO-8601 timestamp: {text[:40]!r}") from exc
    if not (text.isascii() and text.isprintable()):
        # fromisoformat takes any one character between date and time, NUL included
        raise ValueError(f"control or non-ASCII character in timestamp: {text[:40]!r}")
    if stamp.tzinfo is None or stamp.utcoffset() is None:
        raise ValueError("timestamp has no UTC offset (add 'Z' or '+HH:MM')")
    if not MIN_YEAR <= stamp.year <= MAX_YEAR:
        raise ValueError(f"year {stamp.year} is outside {MIN_YEAR}..{MAX_YEAR}")
    return stamp.timestamp()


def format_time(epoch_s: float | None) -> str | None:
    """Contract form of an event time: ``2026-11-26T07:00:03.120Z`` (ms, UTC)."""
    if epoch_s is None:
        return None
    # (an outage's few times are written again at every change it sees: a
    # plain dict read, cheaper than an lru_cache call; equal keys such as 0.0
    # and -0.0 or 5 and 5.0 are written alike)
    text = _FORMATTED.get(epoch_s)
    if text is None:
        if not math.isfinite(epoch_s):
            return None
        if len(_FORMATTED) >= _FORMATTED_MAX:
            _FORMATTED.clear()
        text = _FORMATTED[epoch_s] = _format_finite(epoch_s)
    return text


#: times already written (bounded: cleared when full)
_FORMATTED: dict[float, str] = {}
_FORMATTED_MAX = 8192


def _format_finite(epoch_s: float) -> str:
    seconds, milli = divmod(round(epoch_s * 1000.0), 1000)
    # the text up to the second is shared by the times of that second (a
    # storm's few hours hold some thousands); the milliseconds are a table read
    text = _SECONDS.get(seconds)
    if text is None:
        if len(_SECONDS) >= _SECONDS_MAX:
            _SECONDS.clear()
        day, second = divmod(seconds, 86_400)
        hour, second = divmod(second, 3600)
        minute, second = divmod(second, 60)
        text = _SECONDS[seconds] = f"{_day_text(day)}T{hour:02d}:{minute:02d}:{second:02d}"
    return text + _MILLIS[milli]


#: ``YYYY-MM-DDTHH:MM:SS`` by epoch second (bounded: cleared when full)
_SECONDS: dict[int, str] = {}
_SECONDS_MAX = 65_536
#: ``.mmmZ`` by millisecond
_MILLIS: tuple[str, ...] = tuple(f".{m:03d}Z" for m in range(1000))


@functools.lru_cache(maxsize=4096)
def _day_text(day: int) -> str:
    """``YYYY-MM-DD`` of a day since the epoch (a storm's outages share a few)."""
    return f"{datetime.fromtimestamp(day * 86_400, tz=UTC):%Y-%m-%d}"


def _ident(obj: Mapping[str, object], name: str) -> str:
    value = obj.get(name)
    if value is None:
        raise EventError("missing", field=name)
    if type(value) is not str:
        raise EventError(f"must be a string, not {type(value).__name__}", field=name)
    if not value or value.isspace():
        raise EventError("must not be empty", field=name)
    if len(value) > MAX_ID_CHARS:
        raise EventError(f"longer than {MAX_ID_CHARS} characters", field=name)
    if "\x00" in value:  # PostgreSQL text cannot hold it: the whole batch would fail
        raise EventError("must not contain a NUL character", field=name)
    return value


def parse_event(obj: object, codes: EventCodes) -> MeterEvent:
    """Validate one decoded JSON object (contract section 2)."""
    if not isinstance(obj, dict):
        raise EventError(f"an event must be a JSON object, not {type(obj).__name__}")
    event_id = _ident(obj, "event_id")
    meter_id = _ident(obj, "meter_id")
    code = obj.get("type")
    if code is None:
        raise EventError("missing", field="type")
    if type(code) is not str:
        raise EventError(f"must be a string, not {type(code).__name__}", field="type")
    kind = codes.lookup(code)
    if kind is None:
        raise EventError(f"unknown event type {code[:40]!r}", field="type")
    stamp = obj.get("occurred_at")
    if stamp is None:
        raise EventError("missing", field="occurred_at")
    if type(stamp) is not str:
        raise EventError(f"must be an ISO-8601 string, not {type(stamp).__name__}",
                         field="occurred_at")
    try:
        occurred_at = parse_timestamp(stamp)
    except ValueError as exc:
        raise EventError(str(exc), field="occurred_at") from None
    return MeterEvent(event_id, meter_id, kind, occurred_at)
