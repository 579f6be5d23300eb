"""Attribute checks and geometric findings, each one a defect in the report.

Pure functions over layers and arrays. What is done with a bad feature is
decided here and said in the defect's message, so a GIS admin reading the
report knows what was imported:

- a missing FACILITYID: a device gets a placeholder id ``<Class>#<row>`` and
  stays in the network, a conductor stays (its id is not part of the
  topology), a service point is not imported (nothing could address it);
- a repeated FACILITYID: the first feature is kept; a later point feature is
  not imported (its junction stays, without a device); a later conductor is
  kept for connectivity unless its geometry repeats the first one's exactly;
- an invalid NORMALSTATUS is read as Closed, an invalid SUBTYPE as Recloser,
  an invalid METERTYPE as no meter type; an AMI meter without METERNUMBER
  cannot be matched to events; a METERNUMBER on two service points is kept on
  the first only.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from gis_import.layers import Layer
from gis_import.report import Defect, DefectKind, ImportReport
from gis_import.snap import LocalFrame, neighbours_within
from oms_bridge.core.kinds import DeviceKind, MeterType

__all__ = [
    "DeviceStates",
    "NearMiss",
    "check_ids",
    "device_states",
    "find_near_misses",
    "service_meters",
]

Bool = NDArray[np.bool_]
I64 = NDArray[np.int64]
U8 = NDArray[np.uint8]
F64 = NDArray[np.float64]

_STATUS = {"closed": False, "open": True}
_SUBTYPES = {
    "breaker": DeviceKind.BREAKER,
    "recloser": DeviceKind.RECLOSER,
    "sectionalizer": DeviceKind.SECTIONALIZER,
}
_FIXED_KIND = {
    "CircuitSource": DeviceKind.SOURCE,
    "Fuse": DeviceKind.FUSE,
    "Switch": DeviceKind.SWITCH,
    "Transformer": DeviceKind.TRANSFORMER,
}
_HAS_STATUS = ("DynamicProtectiveDevice", "Fuse", "Switch")


def check_ids(layer: Layer, report: ImportReport, *, placeholder: bool) -> tuple[list[str], Bool]:
    """FACILITYIDs (placeholders where missing) and which features to import."""
    n = len(layer)
    name = layer.name
    ids: list[str | None] = list(layer.ids)
    keep = np.ones(n, dtype=np.bool_)
    n_missing = ids.count(None)
    if n_missing:
        for row, fid in enumerate(ids):
            if fid is not None:
                continue
            if placeholder:
                ids[row] = f"{name}#{row}"
                report.add(DefectKind.MISSING_ATTRIBUTE, name, None,
                           f"feature {row} has no FACILITYID; imported as {ids[row]!r}")
            else:
                keep[row] = False
                report.add(DefectKind.MISSING_ATTRIBUTE, name, None,
                           f"feature {row} has no FACILITYID; not imported")
    if len(set(ids)) - (1 if n_missing else 0) != n - n_missing:
        first: dict[str, int] = {}
        for row, fid in enumerate(ids):
            if fid is None or not keep[row]:
                continue
            earlier = first.setdefault(fid, row)
            if earlier == row:
                continue
            if layer.is_point:
                keep[row] = False
                what = "not imported"
            elif _same_line(layer, earlier, row):
                keep[row] = False
                what = "same geometry as that one, not imported"
            else:
                what = "kept for connectivity"
            report.add(DefectKind.DUPLICATE_ID, name, fid,
                       f"FACILITYID repeated (feature {row}, first at feature {earlier}); {what}")
    return [v if v is not None else "" for v in ids], keep


def _same_line(layer: Layer, a: int, b: int) -> bool:
    return bool(np.array_equal(layer.line(a), layer.line(b)))


@dataclass(frozen=True)
class DeviceStates:
    kind: U8
    open: Bool


def device_states(layer: Layer, ids: Sequence[str], keep: Bool,
                  report: ImportReport) -> DeviceStates:
    """Device kind and normal state of every feature of a point-device layer."""
    n = len(layer)
    name = layer.name
    kind = np.full(n, _FIXED_KIND.get(name, DeviceKind.RECLOSER).code, dtype=np.uint8)
    is_open = np.zeros(n, dtype=np.bool_)
    if name == "DynamicProtectiveDevice":
        subtypes = _column(layer, "SUBTYPE")
        for row, raw in enumerate(subtypes):
            found = _SUBTYPES.get(str(raw).strip().lower()) if raw is not None else None
            if found is None:
                if keep[row]:
                    report.add(DefectKind.MISSING_ATTRIBUTE, name, ids[row],
                               f"SUBTYPE {raw!r} is not Breaker, Recloser or Sectionalizer;"
                               " treated as Recloser")
                continue
            kind[row] = found.code
    if name in _HAS_STATUS:
        statuses = _column(layer, "NORMALSTATUS")
        cache: dict[Any, bool | None] = {}
        for row, raw in enumerate(statuses):
            key = _key(raw)
            if key in cache:
                state = cache[key]
            else:
                state = _STATUS.get(str(raw).strip().lower()) if raw is not None else None
                cache[key] = state
            if state is None:
                if keep[row]:
                    report.add(DefectKind.MISSING_ATTRIBUTE, name, ids[row],
                               f"NORMALSTATUS {raw!r} is not Closed or Open; treated as Closed")
                continue
            is_open[row] = state
    return DeviceStates(kind, is_open)


def service_meters(layer: Layer, ids: Sequence[str], keep: Bool,
                   report: ImportReport) -> tuple[list[str | None], U8]:
    """METERNUMBER (None where unusable) and METERTYPE code of every service point."""
    name = layer.name
    n = len(layer)
    meters: list[str | None] = [
        m if type(m) is str and m and not m[0].isspace() and not m[-1].isspace()
        else _meter_number(m)
        for m in _column(layer, "METERNUMBER")
    ]
    types = _column(layer, "METERTYPE")
    keys = [_key(raw) for raw in types] if any(
        not (raw is None or type(raw) is str) for raw in types) else types
    lookup = {key: _meter_code(key) for key in set(keys)}
    as_code = {k: _NONE if v is None else v for k, v in lookup.items()}
    codes = np.array(list(map(as_code.__getitem__, keys)), dtype=np.uint8).reshape(n)
    if None in lookup.values():
        for row, key in enumerate(keys):
            if lookup[key] is None and keep[row]:
                report.add(DefectKind.MISSING_ATTRIBUTE, name, ids[row],
                           f"METERTYPE {types[row]!r} is not AMI, AMR or MANUAL; no meter type")
    no_meter = np.array([m is None for m in meters], dtype=np.bool_).reshape(n)
    for row in np.flatnonzero(keep & no_meter & (codes == MeterType.AMI.code)).tolist():
        report.add(DefectKind.MISSING_ATTRIBUTE, name, ids[row],
                   "AMI service point has no METERNUMBER; its events cannot be matched")
    kept = meters if keep.all() else [m for m, k in zip(meters, keep.tolist(), strict=True) if k]
    n_none = kept.count(None)
    if len(set(kept)) - (1 if n_none else 0) != len(kept) - n_none:
        owner: dict[str, int] = {}
        for row, m in enumerate(meters):
            if m is None or not keep[row]:
                continue
            first = owner.setdefault(m, row)
            if first != row:
                meters[row] = None
                report.add(DefectKind.DUPLICATE_ID, name, ids[row],
                           f"METERNUMBER {m!r} already on {ids[first]!r}; imported without meter")
    return meters, codes


_NONE = MeterType.NONE.code


def _meter_number(raw: Any) -> str | None:
    if raw is None:
        return None
    return str(raw).strip() or None


def _meter_code(raw: Any) -> int | None:
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return MeterType.NONE.code
    try:
        return MeterType(str(raw)).code
    except ValueError:
        return None


def _key(raw: Any) -> Any:
    """A hashable cache key for an attribute value (JSON may hold lists)."""
    return raw if raw is None or isinstance(raw, str | int | float) else repr(raw)


def _column(layer: Layer, attr: str) -> list[Any]:
    col = layer.attrs.get(attr)
    return col if col is not None else [None] * len(layer)


@dataclass(frozen=True)
class NearMiss:
    """Junction ``query`` (a loose conductor end or a device on no conductor)
    lies ``distance_m`` from junction ``target``."""

    query: int
    target: int
    distance_m: float


def find_near_misses(
    junction_xy: F64,
    *,
    query: Bool,
    accept: Callable[[I64, I64], Bool],
    reached: Bool,
    near_miss_m: float,
    frame: LocalFrame,
    rank: Callable[[int], int],
) -> list[NearMiss]:
    """Junctions of ``query`` with another junction within ``near_miss_m``.

    ``accept(q, t)`` filters candidate pairs (vectorised: arrays of junction
    indices); the nearest accepted neighbour of each query junction wins. A
    pair found from both sides is reported once: from the side no source
    reaches if only one is unreached, else from the side ``rank`` orders first.
    """
    qs = np.flatnonzero(query)
    if qs.size == 0 or near_miss_m <= 0:
        return []
    q, t, d = neighbours_within(junction_xy[qs], junction_xy, near_miss_m, frame)
    qj = qs[q]
    ok = t != qj
    qj, t, d = qj[ok], t[ok], d[ok]
    ok = accept(qj, t)
    qj, t, d = qj[ok], t[ok], d[ok]
    order = np.lexsort((t, d, qj))
    best: dict[int, tuple[int, float]] = {}
    for a, b, dist in zip(qj[order].tolist(), t[order].tolist(), d[order].tolist(), strict=True):
        best.setdefault(a, (b, dist))
    found: list[NearMiss] = []
    seen: set[tuple[int, int]] = set()
    for a, (b, dist) in sorted(best.items()):
        pair = (min(a, b), max(a, b))
        if pair in seen:
            continue
        seen.add(pair)
        reporter = a
        if best.get(b, (-1, 0.0))[0] == a:  # found from both sides
            one_side_cut = reached[a] != reached[b]
            reporter = (b if reached[a] else a) if one_side_cut else min(a, b, key=rank)
        found.append(NearMiss(reporter, b if reporter == a else a, dist))
    return found


def defect(kind: DefectKind, layer: str, facility_id: str | None, message: str,
           distance_m: float | None = None) -> Defect:
    """A defect with an optional distance (kept here so callers need one import)."""
    return Defect(kind, layer, facility_id, message, distance_m=distance_m)
