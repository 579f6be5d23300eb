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
  strings (ids of 1 to 256 characters, stamps of 24, a type spelled exactly as
  one of the codes: all else is refused, for the exact path below). It does
  not check what it merely skips as strictly as orjson (a number too large
  for a double, bad UTF-8), hence no skipping at all. In
  what it does read (strings, escapes, UTF-8, surrogates, whitespace, trailing
  characters) it is at least as strict as orjson, and yields the same strings
  (tests/core/test_decode.py checks this on random lines).
- Every line msgspec refuses, for whatever reason, takes today's path:
  ``orjson.loads``; blank lines skipped, other lines that are not JSON and
  JSON values that are not objects counted invalid, objects judged by their
  four values with ``parse_event`` (``columns_of``), in arrival order with the
  others (their rows hold a placeholder, so the chunk stays on the fast path).
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Callable, Sequence
from typing import Annotated, Any, Literal

import msgspec
import orjson

from oms_bridge.core.bulk import _STAMP_CHARS, Columns, columns_of, kind_table
from oms_bridge.core.events import MAX_ID_CHARS, EventCodes

__all__ = ["decode_columns"]


_Id = Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_ID_CHARS)]
_Stamp = Annotated[str, msgspec.Meta(min_length=_STAMP_CHARS, max_length=_STAMP_CHARS)]


@functools.lru_cache(maxsize=8)
def _decoder(types: tuple[str, ...]) -> tuple[Callable[[bytes | str], Any], Any]:
    """A line in the expected shape, for the exact type strings ``types``: its
    decoder and a placeholder row.

    The lengths of the ids and of the stamp are checked as they are decoded
    (code points, as ``len``), and the type must be one of ``types``: msgspec
    then returns that very string object, whose hash is already known. What
    fails any of this is refused and judged by ``parse_event`` (ids too long or
    empty, types with other spellings, stamps of other shapes).
    """
    kind: Any = Literal.__getitem__(types) if types else str
    line = msgspec.defstruct("_Line", [("event_id", _Id), ("meter_id", _Id), ("type", kind),
                                       ("occurred_at", _Stamp)],
                             forbid_unknown_fields=True, gc=False)
    # stands for an object msgspec refused: strings of the fast path's shapes, so
    # that one odd row does not send the whole chunk down the general path
    placeholder = line("-", "-", "", "0" * _STAMP_CHARS)
    return msgspec.json.Decoder(line).decode, placeholder


def decode_columns(lines: Sequence[bytes | str], codes: EventCodes,
                   table: dict[str, int] | None = None) -> Columns:
    """Decode and validate a chunk of JSON lines (blank ones skipped).

    The same columns and invalid count as ``normalise`` of the lines decoded
    one by one with ``orjson.loads`` (``None`` for a line that is not JSON).
    """
    if table is None:
        table = kind_table(codes)
    decode, placeholder = _decoder(tuple(table))
    rows: list[Any] = []
    # objects msgspec refused, by row: their four values (``None`` where absent);
    # their rows hold a placeholder and are judged by ``parse_event``
    odd: dict[int, tuple[object, object, object, object]] = {}
    invalid = 0
    loads = orjson.loads
    if not isinstance(lines, list | tuple):
        lines = list(lines)
    it = iter(lines)
    done = 0   # lines consumed so far
    while True:
        before = len(rows)
        try:
            # one C-level pass; on a refused line, what came before it is kept
            # (CPython's list.extend appends as it goes)
            rows.extend(map(decode, it))
        except Exception:  # any refusal: the exact path decides
            done += len(rows) - before
            if done != len(lines) - 1 - operator.length_hint(it):
                # an extend that kept nothing (seen compiled with mypyc): lines
                # would be lost, so stop loudly instead
                raise RuntimeError("decode_columns: the rows decoded before a "
                                   "refused line were not kept") from None
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
                odd[len(rows)] = (get("event_id"), get("meter_id"), get("type"),
                                  get("occurred_at"))
                rows.append(placeholder)
            else:
                invalid += 1
        else:
            break
    return columns_of([r.event_id for r in rows], [r.meter_id for r in rows],
                      [r.type for r in rows], [r.occurred_at for r in rows],
                      invalid=invalid, codes=codes, table=table, strings=True, sized=True,
                      odd=odd)
