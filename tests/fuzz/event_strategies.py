"""Hypothesis strategies for meter events (contract section 2), good and bad.

:func:`valid_events` draws events the parser must accept, with their expected
epoch time. :func:`broken_events` takes a valid event and breaks one field
(or the object itself) in one of many ways, and says which field it broke and
whether the result must be refused or may legitimately be accepted (a unicode
meter id is odd, not wrong).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import strategies as st

__all__ = [
    "FIELDS",
    "MB",
    "Broken",
    "Valid",
    "bad_timestamps",
    "broken_events",
    "valid_events",
    "valid_timestamps",
]

FIELDS = ("event_id", "meter_id", "type", "occurred_at")
MB = 1024 * 1024
#: type strings the default settings accept (names and IEC 61968-9 codes)
TYPE_CODES = ("last_gasp", "power_restored", "3.26.0.85", "3.26.0.216",
              "LAST_GASP", " Power_Restored ")
MISSING = object()

_LO = datetime(1990, 1, 2, tzinfo=UTC)   # a day inside the accepted years, so that
_HI = datetime(2099, 12, 30, tzinfo=UTC)  # every offset keeps the local year inside too


@dataclass(frozen=True)
class Valid:
    obj: dict[str, Any]
    epoch_s: float          # the exact instant, to the microsecond


@dataclass(frozen=True)
class Broken:
    obj: Any
    field: str | None       # the field broken, None when the object itself is wrong
    how: str                # what was done, for the failure message
    must_refuse: bool       # False: the value is odd but legal (checked by the oracle)


# ----------------------------------------------------------------- timestamps

def _offset_text(minutes: int) -> str:
    sign = "+" if minutes >= 0 else "-"
    hh, mm = divmod(abs(minutes), 60)
    return f"{sign}{hh:02d}:{mm:02d}"


@st.composite
def valid_timestamps(draw: st.DrawFn) -> tuple[str, float]:
    """An ISO-8601 text with a zone, and its epoch seconds (microsecond precision).

    Offsets span -12:00..+14:00 (odd ones included: +05:45, +13:45, -09:30),
    with 0 to 12 fractional digits (beyond six, the parser may truncate)."""
    micros = draw(st.integers(0, int((_HI - _LO).total_seconds() * 1e6)))
    instant = _LO + timedelta(microseconds=micros)
    minutes = draw(st.one_of(
        st.sampled_from([0, 14 * 60, -12 * 60, 5 * 60 + 45, 13 * 60 + 45, -(9 * 60 + 30),
                         5 * 60 + 30, 12 * 60 + 45]),
        st.integers(-12 * 60, 14 * 60)))
    local = instant + timedelta(minutes=minutes)
    digits = draw(st.integers(0, 12))
    frac = f"{local.microsecond:06d}"
    if digits == 0:
        instant = instant.replace(microsecond=0)
        fraction = ""
    elif digits <= 6:
        keep = frac[:digits]
        instant = instant.replace(microsecond=int(keep.ljust(6, "0")))
        fraction = "." + keep
    else:
        fraction = "." + frac + "".join(draw(st.lists(st.sampled_from("0123456789"),
                                                       min_size=digits - 6,
                                                       max_size=digits - 6)))
    zone = "Z" if minutes == 0 and draw(st.booleans()) else _offset_text(minutes)
    sep = draw(st.sampled_from("T T"))  # mostly T; a space is ISO-8601 too (RFC 3339)
    text = f"{local:%Y-%m-%d}{sep}{local:%H:%M:%S}{fraction}{zone}"
    return text, instant.timestamp()


@st.composite
def bad_timestamps(draw: st.DrawFn) -> tuple[str, str]:
    """Timestamp *strings* the parser must refuse, with what is wrong."""
    good, _ = draw(valid_timestamps())
    year = draw(st.sampled_from([0, 1, 999, 1000, 1969, 1970, 1989, 2100, 2999, 9999,
                                 10000, 99999]))
    kind = draw(st.sampled_from([
        "naive", "year", "leap_second", "bad_month", "bad_day", "bad_hour", "offset_24",
        "offset_garbage", "format", "epoch_text", "empty", "truncated", "unicode_digits",
        "control",
    ]))
    base = good[:19]  # "YYYY-MM-DDTHH:MM:SS"
    if kind == "naive":
        return base + draw(st.sampled_from(["", ".123", ".123456789"])), "no zone"
    if kind == "year":
        zone = draw(st.sampled_from(["Z", "+00:00", "+14:00", "-12:00"]))
        text = f"{year:04d}" + base[4:] + zone
        if year >= 10000:
            text = f"{year}" + base[4:] + zone
        return text, f"year {year}"
    if kind == "leap_second":
        return base[:17] + "60" + draw(st.sampled_from(["Z", ".5Z", "+00:00"])), "leap second"
    if kind == "bad_month":
        return base[:5] + draw(st.sampled_from(["00", "13", "99"])) + base[7:] + "Z", "month"
    if kind == "bad_day":
        return base[:8] + draw(st.sampled_from(["00", "32", "99"])) + base[10:] + "Z", "day"
    if kind == "bad_hour":
        return base[:11] + draw(st.sampled_from(["24", "25", "99"])) + base[13:] + "Z", "hour"
    if kind == "offset_24":
        return base + draw(st.sampled_from(["+24:00", "-24:00", "+99:00", "+25:30"])), "offset"
    if kind == "offset_garbage":
        return base + draw(st.sampled_from(["+1:00", "+01:0", "UTC", "GMT", "z", "+",
                                            "EST", "+01:00Z", "Z+01:00"])), "zone text"
    if kind == "format":
        return draw(st.sampled_from([
            "26/11/2026 07:00:03Z", "Thu, 26 Nov 2026 07:00:03 GMT", "2026-11-26Z",
            "yesterday", "now", "T07:00:03Z", "2026/11/26T07:00:03Z", "null", "NaN",
            "Infinity", "2026-11-26T07:00:03 UTC", "2026-11-26T07:00:03+01:00 "
            "[Europe/Paris]"])), "format"
    if kind == "epoch_text":
        return str(draw(st.sampled_from([0, 1764140403, -1, 10**12]))) + draw(
            st.sampled_from(["", ".5", "Z"])), "epoch as text"
    if kind == "empty":
        return draw(st.sampled_from(["", " ", "\t", "\n"])), "empty"
    if kind == "truncated":
        return good[: draw(st.integers(0, 9))], "truncated"
    if kind == "unicode_digits":
        return good.replace("2", "\uff12").replace("1", "\u0661"), "non-ASCII digits"
    return good[:10] + draw(st.sampled_from(["\x00", "\x1b", "\u2028", "\ufeff"])) + good[11:], (
        "control character")


# --------------------------------------------------------------------- events

def _id_text() -> st.SearchStrategy[str]:
    return st.text(st.characters(codec="utf-8", exclude_characters="\x00"), min_size=1,
                   max_size=40).filter(lambda s: not s.isspace())


@st.composite
def valid_events(draw: st.DrawFn) -> Valid:
    text, epoch = draw(valid_timestamps())
    obj: dict[str, Any] = {
        "event_id": draw(st.one_of(st.from_regex(r"\AHE-[0-9]{1,9}\Z"), _id_text())),
        "meter_id": draw(st.one_of(st.from_regex(r"\AM[0-9]{9}\Z"), _id_text())),
        "type": draw(st.sampled_from(TYPE_CODES)),
        "occurred_at": text,
    }
    if draw(st.integers(0, 5)) == 0:   # extra fields are fine (contract: extra fields ok)
        obj.update(draw(st.dictionaries(st.text(max_size=8).filter(lambda k: k not in obj),
                                        st.integers() | st.text(max_size=8), max_size=3)))
    return Valid(obj, epoch)


def _huge(draw: st.DrawFn) -> str:
    char = draw(st.sampled_from(["x", "é", "\u4e2d", "\U0001f600", "\x00", " "]))
    return char * draw(st.sampled_from([257, 4096, MB, MB + 1]))


_TINY = [5e-324, -5e-324, 2.2250738585072014e-308, 1e-300]
_HUGE_NUMBERS = [1e308, -1e308, 1.7976931348623157e308, 2**63, 2**64, -(2**63) - 1,
                 10**30, 10**400]


@st.composite
def wrong_values(draw: st.DrawFn, field: str) -> tuple[Any, str, bool]:
    """(value, description, must_refuse) for ``field``; MISSING drops the key."""
    kind = draw(st.sampled_from([
        "missing", "null", "int", "float", "nan", "inf", "tiny", "huge_number", "bool",
        "list", "dict", "empty", "blank", "huge", "control", "unicode", "long_id",
        "number_text",
    ]))
    if kind == "missing":
        return MISSING, kind, True
    if kind == "null":
        return None, kind, True
    if kind == "int":
        return draw(st.integers()), kind, True
    if kind == "float":
        return draw(st.floats(allow_nan=False, allow_infinity=False)), kind, True
    if kind == "nan":
        return math.nan, kind, True
    if kind == "inf":
        return draw(st.sampled_from([math.inf, -math.inf])), kind, True
    if kind == "tiny":
        return draw(st.sampled_from(_TINY)), kind, True
    if kind == "huge_number":
        return draw(st.sampled_from(_HUGE_NUMBERS)), kind, True
    if kind == "bool":
        return draw(st.booleans()), kind, True
    if kind == "list":
        return draw(st.lists(st.text(max_size=5) | st.integers(), max_size=3)), kind, True
    if kind == "dict":
        return draw(st.dictionaries(st.text(max_size=5), st.integers(), max_size=3)), kind, True
    if kind == "empty":
        return "", kind, True
    if kind == "blank":
        return draw(st.text(alphabet=" \t\n\r\x0b\x0c\u3000\u2003", min_size=1,
                            max_size=20)), kind, True
    if kind == "huge":
        value = _huge(draw)
        # a 257+ character id is over the limit; a huge blank one is blank
        return value, kind, True
    if kind == "control":
        text = draw(st.text(alphabet=st.characters(codec="utf-8", categories=["Cc", "Cf"]),
                            min_size=1, max_size=20))
        return text, kind, field in ("type", "occurred_at")
    if kind == "unicode":
        text = draw(st.text(alphabet=st.characters(codec="utf-8", min_codepoint=0x80),
                            min_size=1, max_size=40))
        return text, kind, field in ("type", "occurred_at")
    if kind == "long_id":
        return "A" * draw(st.integers(257, 1000)), kind, True
    return str(draw(st.integers(0, 2**40))), kind, field in ("type", "occurred_at")


@st.composite
def broken_events(draw: st.DrawFn) -> Broken:
    """A valid event with one field broken, or something that is not an event."""
    base = draw(valid_events()).obj
    which = draw(st.sampled_from([*FIELDS, "occurred_at", "occurred_at", None]))
    if which is None:
        obj = draw(st.one_of(
            st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=20),
            st.lists(st.integers(), max_size=3), st.just([base]),
            st.sampled_from(["", "{}", '{"event_id": 1}'])))
        return Broken(obj, None, f"not an object: {type(obj).__name__}", True)
    obj = dict(base)
    if which == "occurred_at" and draw(st.booleans()):
        text, what = draw(bad_timestamps())
        obj[which] = text
        return Broken(obj, which, f"timestamp: {what}", True)
    value, how, must = draw(wrong_values(which))
    if value is MISSING:
        del obj[which]
    else:
        obj[which] = value
    return Broken(obj, which, how, must)
