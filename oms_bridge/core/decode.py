"""JSON lines straight to validated columns, for the replay's hot loop.

Decoding each line to a dict with ``orjson`` and then picking four values out
of it costs more than the rest of the replay's parsing. ``msgspec`` decodes a
line into a small struct of exactly the four fields, in C, about twice as fast,
and the four columns then come out with plain attribute reads.

Why the outcome is exactly that of ``orjson.loads`` then
:func:`~oms_bridge.core.bulk.normalise`:

- Each line is decoded on its own (``Decoder.decode``: one document, nothing but
  JSON whitespace around it). ``Decoder.decode_lines`` is *not* used: it reads a
  stream of whitespace-separated values, so ``{A}{B}`` on one line, or an object
  broken over two lines, would not come out one value per line.
- The struct forbids unknown fields and its four fields are ``str``: msgspec
  accepts a line only if it is one JSON object whose keys are among those four
  (a repeated key: the last one wins, as in a dict) and whose values are
  strings. It does not check what it merely skips as strictly as orjson (a
  number too large for a double, bad UTF-8), hence no skipping at all. In
  what it does read (strings, escapes, UTF-8, surrogates, whitespace, trailing
  characters) it is at least as strict as orjson, and yields the same strings
  (tests/core/test_decode.py checks this on random lines).
- Every line msgspec refuses, for whatever reason, takes today's path:
  ``orjson.loads``; blank lines skipped, other lines that are not JSON and
  JSON values that are not objects counted invalid, objects judged by their
  four values with the rules of ``normalise`` (``columns_of``), in arrival
  order with the others.
"""

from __future__ import annotations

from collections.abc import Sequence

import msgspec
import orjson

from oms_bridge.core.bulk import Columns, columns_of
from oms_bridge.core.events import EventCodes

__all__ = ["decode_columns"]


class _Line(msgspec.Struct, forbid_unknown_fields=True, gc=False):
    """A line in the expected shape (types only: the values are checked later)."""

    event_id: str
    meter_id: str
    type: str
    occurred_at: str


class _Loose(msgspec.Struct, gc=False):
    """The four values of an object msgspec refused (``None`` where absent)."""

    event_id: object
    meter_id: object
    type: object
    occurred_at: object


_decode = msgspec.json.Decoder(_Line).decode


def decode_columns(lines: Sequence[bytes | str], codes: EventCodes,
                   table: dict[str, int] | None = None) -> Columns:
    """Decode and validate a chunk of JSON lines (blank ones skipped).

    The same columns and invalid count as ``normalise`` of the lines decoded
    one by one with ``orjson.loads`` (``None`` for a line that is not JSON).
    """
    rows: list[_Line | _Loose] = []
    invalid = 0
    loose = False
    loads = orjson.loads
    it = iter(lines)
    done = 0   # lines consumed so far
    while True:
        before = len(rows)
        try:
            # one C-level pass; on a refused line, what came before it is kept
            rows.extend(map(_decode, it))
        except Exception:  # any refusal: the exact path decides
            done += len(rows) - before
            line = lines[done]
            done += 1
            try:
                obj = loads(line)
            except orjson.JSONDecodeError:
                if line and not line.isspace():
                    invalid += 1
                continue
            if type(obj) is dict:
                get = obj.get
                rows.append(_Loose(get("event_id"), get("meter_id"), get("type"),
                                   get("occurred_at")))
                loose = True
            else:
                invalid += 1
        else:
            break
    return columns_of([r.event_id for r in rows], [r.meter_id for r in rows],
                      [r.type for r in rows], [r.occurred_at for r in rows],
                      invalid=invalid, codes=codes, table=table, strings=not loose)
