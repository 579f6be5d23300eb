"""What the dispatcher map draws, cut from the topology arrays with numpy masks.

Pure: takes a :class:`~oms_bridge.core.topology.Topology` and plain numbers,
returns plain dicts ready for JSON. No aiohttp, no I/O.

The compiled topology keeps no conductor polylines, so the network is drawn as
it is known: one straight segment from each device to its upstream device.
What is sent depends on how much is in view:

- devices other than transformers (breakers, reclosers, fuses, switches, the
  source) and the segments between them are always sent for the visible area;
- transformers (and their taps) once the view holds at most
  ``MapBudget.transformers`` of them;
- service points one by one once zoomed in to ``MapBudget.sp_min_zoom`` with at
  most ``MapBudget.service_points`` in view, otherwise as one cluster per grid
  cell of about ``MapBudget.cell_px`` screen pixels, with counts.

Outage extents travel as ranges of service-point indices: the service points
below node ``i`` are ``[node_sp_lo[i], node_sp_hi[i])`` and a single-customer
outage is ``[k, k + 1)``. :func:`resolve` hands those ranges to the page, the
page sends back the union of the active ones (``dark``) and every service point
or cluster says how many of its customers are inside.
"""

from __future__ import annotations

import math
import weakref
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from oms_bridge.core.kinds import PROTECTIVE_KINDS, DeviceKind, MeterType
from oms_bridge.core.topology import Topology

__all__ = [
    "BBox",
    "MapBudget",
    "feeder_summaries",
    "merge_ranges",
    "parse_bbox",
    "resolve",
    "view",
]

BBox = tuple[float, float, float, float]
F64 = NDArray[np.float64]
I64 = NDArray[np.int64]
Mask = NDArray[np.bool_]

_TRANSFORMER = DeviceKind.TRANSFORMER.code
_PROTECTIVE = np.array(sorted(k.code for k in PROTECTIVE_KINDS), dtype=np.uint8)
_AMI = MeterType.AMI.code
_KIND_NAMES: tuple[str, ...] = tuple(k.value for k in DeviceKind)
_METER_NAMES: tuple[str, ...] = tuple(m.value for m in MeterType)
_MAX_ZOOM = 22
_PRECISION = 7  # decimals of a degree kept in answers: about 1 cm


@dataclass(frozen=True)
class MapBudget:
    """How much the map endpoint sends before it simplifies."""

    transformers: int = 2500
    service_points: int = 4000
    sp_min_zoom: int = 15
    cell_px: int = 56


class _Index:
    """Per-topology arrays the map needs, computed once and cached weakly."""

    def __init__(self, topo: Topology) -> None:
        n = topo.n_nodes
        xy = topo.node_xy if n else np.zeros((0, 2))
        self.node_ok: Mask = np.asarray(np.isfinite(xy).all(axis=1), dtype=bool)
        parent = topo.node_parent.astype(np.int64)
        safe_parent = np.maximum(parent, 0)
        self.seg_ok: Mask = (parent >= 0) & self.node_ok & self.node_ok[safe_parent]
        self.parent = safe_parent
        self.is_xfmr: Mask = topo.node_kind == _TRANSFORMER
        self.sp_count: I64 = (topo.node_sp_hi - topo.node_sp_lo).astype(np.int64)
        self.ami_count: I64 = topo.ami_counts().astype(np.int64)
        self.blind: Mask = np.isin(topo.node_kind, _PROTECTIVE) & (self.ami_count == 0)
        sp_xy = topo.sp_xy if topo.n_service_points else np.zeros((0, 2))
        self.sp_ok: Mask = np.asarray(np.isfinite(sp_xy).all(axis=1), dtype=bool)
        self.sp_feeder: I64 = (
            topo.node_feeder[topo.sp_node].astype(np.int64)
            if topo.n_service_points else np.zeros(0, dtype=np.int64)
        )
        self.sp_ami: Mask = np.diff(topo.ami_cum) > 0
        self.sp_order: I64 = np.argsort(topo.sp_ids, kind="stable").astype(np.int64)
        self.sp_sorted = topo.sp_ids[self.sp_order]
        self.feeder_bbox: list[BBox | None] = []
        for f in range(len(topo.feeder_ids)):
            pts = [xy[(topo.node_feeder == f) & self.node_ok],
                   sp_xy[(self.sp_feeder == f) & self.sp_ok]]
            both = np.concatenate(pts) if any(p.size for p in pts) else np.zeros((0, 2))
            self.feeder_bbox.append(_bbox_of(both))


_CACHE: weakref.WeakKeyDictionary[Topology, _Index] = weakref.WeakKeyDictionary()


def _index(topo: Topology) -> _Index:
    found = _CACHE.get(topo)
    if found is None:
        found = _CACHE[topo] = _Index(topo)
    return found


def _bbox_of(xy: F64) -> BBox | None:
    if xy.shape[0] == 0:
        return None
    lo = xy.min(axis=0)
    hi = xy.max(axis=0)
    return (_r(lo[0]), _r(lo[1]), _r(hi[0]), _r(hi[1]))


def _r(value: float | np.floating[Any]) -> float:
    return round(float(value), _PRECISION)


def parse_bbox(text: str | None) -> BBox | None:
    """``minlon,minlat,maxlon,maxlat`` -> a tuple; ``None`` for no box.

    Raises :class:`ValueError` naming what is wrong.
    """
    if text is None or not text.strip():
        return None
    parts = text.split(",")
    if len(parts) != 4:
        raise ValueError("bbox must be minlon,minlat,maxlon,maxlat")
    try:
        x0, y0, x1, y1 = (float(p) for p in parts)
    except ValueError as exc:
        raise ValueError("bbox values must be numbers") from exc
    if not all(math.isfinite(v) for v in (x0, y0, x1, y1)) or x0 > x1 or y0 > y1:
        raise ValueError("bbox must be finite with min <= max")
    return (x0, y0, x1, y1)


def merge_ranges(ranges: Iterable[Sequence[int]]) -> tuple[I64, I64]:
    """Union of half-open ``[lo, hi)`` ranges as two sorted, disjoint arrays."""
    pairs = np.array([(int(r[0]), int(r[1])) for r in ranges if int(r[1]) > int(r[0])],
                     dtype=np.int64).reshape(-1, 2)
    if pairs.shape[0] == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    pairs = pairs[np.argsort(pairs[:, 0], kind="stable")]
    los, his = pairs[:, 0], np.maximum.accumulate(pairs[:, 1])
    # A new run starts where a range begins after every earlier one has ended.
    starts = np.ones(los.shape[0], dtype=bool)
    starts[1:] = los[1:] > his[:-1]
    run = np.cumsum(starts) - 1
    out_lo = los[starts]
    out_hi = np.zeros(out_lo.shape[0], dtype=np.int64)
    np.maximum.at(out_hi, run, his)
    return out_lo, out_hi


def _in_ranges(values: I64, los: I64, his: I64) -> Mask:
    if los.size == 0:
        return np.zeros(values.shape[0], dtype=bool)
    k = np.searchsorted(los, values, side="right") - 1
    ok = k >= 0
    inside = np.zeros(values.shape[0], dtype=bool)
    inside[ok] = values[ok] < his[k[ok]]
    return inside


def _in_box(xy: F64, box: BBox | None) -> Mask:
    if box is None:
        return np.ones(xy.shape[0], dtype=bool)
    x, y = xy[:, 0], xy[:, 1]
    return (x >= box[0]) & (x <= box[2]) & (y >= box[1]) & (y <= box[3])


def _pad(box: BBox | None, fraction: float = 0.15) -> BBox | None:
    if box is None:
        return None
    dx = (box[2] - box[0]) * fraction
    dy = (box[3] - box[1]) * fraction
    return (box[0] - dx, box[1] - dy, box[2] + dx, box[3] + dy)


def _feeder_pos(topo: Topology, feeder: str | None) -> int | None:
    if not feeder:
        return None
    try:
        return topo.feeder_ids.index(feeder)
    except ValueError:
        return -1


def _point(x: float, y: float, props: dict[str, Any]) -> dict[str, Any]:
    return {"type": "Feature", "geometry": {"type": "Point", "coordinates": [x, y]},
            "properties": props}


def view(
    topo: Topology,
    *,
    bbox: BBox | None = None,
    zoom: int = 14,
    feeder: str | None = None,
    dark: Iterable[Sequence[int]] = (),
    budget: MapBudget | None = None,
) -> dict[str, Any]:
    """A GeoJSON FeatureCollection of what is visible in ``bbox`` at ``zoom``.

    Every feature has a ``properties.t``: ``seg`` (a device to its upstream
    device), ``node`` (a device), ``sp`` (a service point) or ``cluster``
    (service points of one grid cell, with ``n`` customers, ``ami`` meters and
    ``dark`` of them inside an outage extent). ``meta`` says what was simplified.
    """
    budget = budget or MapBudget()
    zoom = max(0, min(_MAX_ZOOM, int(zoom)))
    idx = _index(topo)
    box = _pad(bbox)
    fpos = _feeder_pos(topo, feeder)
    dark_lo, dark_hi = merge_ranges(dark)
    features: list[dict[str, Any]] = []

    # Devices: everything but transformers always; transformers within budget.
    node_in = idx.node_ok & _in_box(topo.node_xy, box)
    if fpos is not None:
        node_in &= topo.node_feeder == fpos
    n_xfmr = int(np.count_nonzero(node_in & idx.is_xfmr))
    show_xfmr = n_xfmr <= budget.transformers and zoom >= 12
    shown = node_in if show_xfmr else node_in & ~idx.is_xfmr

    # Segments: child to parent, kept when their box meets the view.
    seg = idx.seg_ok.copy()
    if fpos is not None:
        seg &= topo.node_feeder == fpos
    if not show_xfmr:
        seg &= ~idx.is_xfmr
    if box is not None:
        a = topo.node_xy
        b = topo.node_xy[idx.parent]
        seg &= ((np.minimum(a[:, 0], b[:, 0]) <= box[2]) & (np.maximum(a[:, 0], b[:, 0]) >= box[0])
                & (np.minimum(a[:, 1], b[:, 1]) <= box[3])
                & (np.maximum(a[:, 1], b[:, 1]) >= box[1]))
    seg_nodes = np.flatnonzero(seg)
    if seg_nodes.size:
        child_xy = np.round(topo.node_xy[seg_nodes], _PRECISION).tolist()
        parent_xy = np.round(topo.node_xy[idx.parent[seg_nodes]], _PRECISION).tolist()
        kinds = topo.node_kind[seg_nodes].tolist()
        dark_seg = _in_ranges(topo.node_sp_lo[seg_nodes].astype(np.int64), dark_lo, dark_hi)
        dark_seg &= topo.node_sp_hi[seg_nodes] > topo.node_sp_lo[seg_nodes]
        for i, (c, p, k, d) in enumerate(zip(child_xy, parent_xy, kinds, dark_seg.tolist(),
                                             strict=True)):
            features.append({
                "type": "Feature",
                "geometry": {"type": "LineString", "coordinates": [p, c]},
                "properties": {"t": "seg", "i": int(seg_nodes[i]), "kind": _KIND_NAMES[k],
                               "dark": bool(d)},
            })

    nodes = np.flatnonzero(shown)
    if nodes.size:
        xy = np.round(topo.node_xy[nodes], _PRECISION).tolist()
        ids = topo.node_ids[nodes].tolist()
        kinds = topo.node_kind[nodes].tolist()
        feeders = topo.node_feeder[nodes].tolist()
        lo = topo.node_sp_lo[nodes].tolist()
        hi = topo.node_sp_hi[nodes].tolist()
        ami = idx.ami_count[nodes].tolist()
        blind = idx.blind[nodes].tolist()
        for j in range(nodes.size):
            features.append(_point(xy[j][0], xy[j][1], {
                "t": "node", "i": int(nodes[j]), "id": bytes(ids[j]).decode("utf-8"),
                "kind": _KIND_NAMES[kinds[j]], "feeder": topo.feeder_ids[feeders[j]],
                "lo": lo[j], "hi": hi[j], "customers": hi[j] - lo[j], "ami": ami[j],
                "blind": bool(blind[j]),
            }))

    # Service points: one by one when few and close, else clustered per cell.
    sp_in = idx.sp_ok & _in_box(topo.sp_xy, box)
    if fpos is not None:
        sp_in &= idx.sp_feeder == fpos
    sps = np.flatnonzero(sp_in)
    sp_dark = _in_ranges(sps.astype(np.int64), dark_lo, dark_hi)
    detail = zoom >= budget.sp_min_zoom and sps.size <= budget.service_points
    if detail:
        xy = np.round(topo.sp_xy[sps], _PRECISION).tolist()
        ids = topo.sp_ids[sps].tolist()
        meters = topo.sp_meter[sps].tolist()
        mtypes = topo.sp_meter_type[sps].tolist()
        darks = sp_dark.tolist()
        for j in range(sps.size):
            features.append(_point(xy[j][0], xy[j][1], {
                "t": "sp", "i": int(sps[j]), "id": bytes(ids[j]).decode("utf-8"),
                "meter": bytes(meters[j]).decode("utf-8") or None,
                "mt": _METER_NAMES[mtypes[j]], "dark": bool(darks[j]),
            }))
    elif sps.size:
        features.extend(_clusters(topo.sp_xy[sps], idx.sp_ami[sps], sp_dark, zoom,
                                  budget.cell_px))

    return {
        "type": "FeatureCollection",
        "features": features,
        "meta": {
            "zoom": zoom,
            "transformers": "shown" if show_xfmr else "hidden",
            "service_points": "shown" if detail else "clustered",
            "counts": {"segments": int(seg_nodes.size), "devices": int(nodes.size),
                       "service_points": int(sps.size),
                       "dark_service_points": int(np.count_nonzero(sp_dark))},
        },
    }


def _clusters(xy: F64, ami: Mask, dark: Mask, zoom: int, cell_px: int) -> list[dict[str, Any]]:
    """One feature per occupied grid cell, square on a Web Mercator screen."""
    cell = 360.0 / (256.0 * 2.0**zoom) * cell_px
    lat = np.clip(xy[:, 1], -85.0, 85.0)
    merc_y = np.degrees(np.log(np.tan(np.pi / 4 + np.radians(lat) / 2)))
    cx = np.floor(xy[:, 0] / cell).astype(np.int64)
    cy = np.floor(merc_y / cell).astype(np.int64)
    keys = (cx - cx.min()) * (int(cy.max() - cy.min()) + 1) + (cy - cy.min())
    uniq, inverse = np.unique(keys, return_inverse=True)
    count = np.bincount(inverse, minlength=uniq.size)
    sx = np.bincount(inverse, weights=xy[:, 0], minlength=uniq.size) / count
    sy = np.bincount(inverse, weights=xy[:, 1], minlength=uniq.size) / count
    n_ami = np.bincount(inverse, weights=ami.astype(np.float64), minlength=uniq.size)
    n_dark = np.bincount(inverse, weights=dark.astype(np.float64), minlength=uniq.size)
    out: list[dict[str, Any]] = []
    for x, y, n, a, d in zip(np.round(sx, _PRECISION).tolist(), np.round(sy, _PRECISION).tolist(),
                             count.tolist(), n_ami.tolist(), n_dark.tolist(), strict=True):
        out.append(_point(x, y, {"t": "cluster", "n": int(n), "ami": int(a), "dark": int(d)}))
    return out


def feeder_summaries(topo: Topology) -> list[dict[str, Any]]:
    """Per feeder: its extent, customers, AMI meters and blind protective devices."""
    idx = _index(topo)
    out: list[dict[str, Any]] = []
    for f, fid in enumerate(topo.feeder_ids):
        root = int(topo.feeder_root[f])
        in_f = topo.node_feeder == f
        out.append({
            "feeder_id": fid,
            "substation": topo.feeder_substation[f] or None,
            "source_id": topo.node_id(root) if root >= 0 else None,
            "bbox": idx.feeder_bbox[f],
            "service_points": int(idx.sp_count[root]) if root >= 0 else 0,
            "ami_meters": int(idx.ami_count[root]) if root >= 0 else 0,
            "devices": int(np.count_nonzero(in_f & ~idx.is_xfmr)),
            "transformers": int(np.count_nonzero(in_f & idx.is_xfmr)),
            "blind_devices": int(np.count_nonzero(in_f & idx.blind)),
        })
    return out


def resolve(
    topo: Topology, *, devices: Iterable[str] = (), meters: Iterable[str] = ()
) -> dict[str, Any]:
    """Where devices and meters are, and the customers below each device.

    A device id may also be a service point's FACILITYID (a one-customer
    outage). Each device answers its kind, feeder, position, the bounding box
    of everything below it, its service-point range ``[lo, hi)`` and the
    customers below it split into AMI and non-AMI. Unknown ids are listed.
    """
    idx = _index(topo)
    found: dict[str, Any] = {}
    unknown: list[str] = []
    for fid in dict.fromkeys(devices):
        node = topo.node_index(fid)
        if node >= 0:
            lo, hi = int(topo.node_sp_lo[node]), int(topo.node_sp_hi[node])
            end = int(topo.node_end[node])
            below = np.concatenate([topo.node_xy[node:end][idx.node_ok[node:end]],
                                    topo.sp_xy[lo:hi][idx.sp_ok[lo:hi]]])
            ami = int(idx.ami_count[node])
            xy = topo.node_xy[node]
            found[fid] = {
                "kind": _KIND_NAMES[int(topo.node_kind[node])],
                "feeder_id": topo.feeder_of_node(node),
                "xy": [_r(xy[0]), _r(xy[1])] if idx.node_ok[node] else None,
                "bbox": _bbox_of(below), "lo": lo, "hi": hi,
                "customers": hi - lo, "ami": ami, "non_ami": hi - lo - ami,
                "blind": bool(idx.blind[node]),
            }
            continue
        sp = _sp_lookup(idx, fid)
        if sp >= 0:
            found[fid] = _sp_entry(topo, idx, sp)
            continue
        unknown.append(fid)
    meter_list = list(dict.fromkeys(meters))
    located: dict[str, Any] = {}
    if meter_list:
        sps = topo.meters_index(meter_list)
        for mid, sp in zip(meter_list, sps.tolist(), strict=True):
            if sp < 0:
                unknown.append(mid)
            else:
                located[mid] = _sp_entry(topo, idx, sp)
    return {"devices": found, "meters": located, "unknown": unknown}


def _sp_lookup(idx: _Index, facility_id: str) -> int:
    key = facility_id.encode("utf-8")
    if idx.sp_sorted.size == 0:
        return -1
    pos = int(np.searchsorted(idx.sp_sorted, key))
    if pos < idx.sp_sorted.size and bytes(idx.sp_sorted[pos]) == key:
        return int(idx.sp_order[pos])
    return -1


def _sp_entry(topo: Topology, idx: _Index, sp: int) -> dict[str, Any]:
    xy = topo.sp_xy[sp]
    ok = bool(idx.sp_ok[sp])
    ami = 1 if bool(idx.sp_ami[sp]) else 0
    return {
        "kind": DeviceKind.SERVICE_POINT.value, "sp_id": topo.sp_id(sp),
        "feeder_id": topo.feeder_of_sp(sp),
        "xy": [_r(xy[0]), _r(xy[1])] if ok else None,
        "bbox": (_r(xy[0]), _r(xy[1]), _r(xy[0]), _r(xy[1])) if ok else None,
        "lo": sp, "hi": sp + 1, "customers": 1, "ami": ami, "non_ami": 1 - ami,
        "blind": ami == 0,
    }
