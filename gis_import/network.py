"""The junction graph of an export: kept features, snapped into junctions.

:func:`gather` reads the layers of an :class:`~gis_import.layers.Export`
column-wise (after the id and attribute checks of :mod:`gis_import.validate`)
into :class:`Features`: conductors of both classes together, point devices of
every class together (in class order, which is also the order devices sharing
one junction are chained in), service points apart. :func:`snap_network` then
snaps every conductor end and point into junctions (:mod:`gis_import.snap`)
and gives each conductor its two end junctions.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from gis_import.layers import Export
from gis_import.report import ImportReport
from gis_import.snap import LocalFrame, cluster_points
from gis_import.validate import check_ids, device_states, service_meters

__all__ = ["DEVICE_LAYERS", "LINE_LAYERS", "SP_LAYER", "Features", "Network", "gather",
           "snap_network", "text"]

DEVICE_LAYERS: tuple[str, ...] = (
    "CircuitSource", "DynamicProtectiveDevice", "Fuse", "Switch", "Transformer",
)
LINE_LAYERS: tuple[str, ...] = ("PrimaryConductor", "SecondaryConductor")
SP_LAYER = "ServicePoint"

Bool = NDArray[np.bool_]
I64 = NDArray[np.int64]
U8 = NDArray[np.uint8]
F64 = NDArray[np.float64]


@dataclass
class Features:
    """The kept features of an export, column-wise.

    ``con_*``: conductors (``con_layer`` indexes :data:`LINE_LAYERS`);
    ``dev_*``: point devices (``dev_layer`` indexes :data:`DEVICE_LAYERS`);
    ``sp_*``: service points. ``*_row`` is the feature's row in its layer.
    """

    con_layer: U8
    con_row: I64
    con_fid: list[str]
    con_start: F64
    con_end: F64
    dev_layer: U8
    dev_row: I64
    dev_fid: list[str]
    dev_kind: U8
    dev_open: Bool
    dev_xy: F64
    sp_row: I64
    sp_fid: list[str]
    sp_meter: list[str | None]
    sp_mtype: U8
    sp_xfmr: list[str | None]
    sp_xy: F64

    def dev_layer_name(self, d: int) -> str:
        return DEVICE_LAYERS[int(self.dev_layer[d])]

    def con_layer_name(self, e: int) -> str:
        return LINE_LAYERS[int(self.con_layer[e])]


@dataclass
class Network:
    """Features snapped into ``n`` junctions.

    Conductor ``e`` joins junctions ``ea[e]`` and ``eb[e]``; device ``d`` sits
    on junction ``dev_cl[d]``, service point ``s`` on ``sp_cl[s]``; ``deg``
    counts conductor ends per junction; ``xy`` is each junction's lon/lat.
    """

    f: Features
    n: int
    ea: I64
    eb: I64
    dev_cl: I64
    sp_cl: I64
    deg: I64
    xy: F64
    frame: LocalFrame

    def mark(self, junctions: I64) -> Bool:
        """A junction mask with ``junctions`` set."""
        out = np.zeros(self.n, dtype=np.bool_)
        out[junctions] = True
        return out


def gather(export: Export, report: ImportReport) -> Features:
    """Check ids and attributes (defects into ``report``) and keep what is sound."""
    con_parts: list[tuple[int, I64, list[str], F64, F64]] = []
    for li, name in enumerate(LINE_LAYERS):
        layer = export.layer(name)
        ids, keep = check_ids(layer, report, placeholder=True)
        rows = np.flatnonzero(keep).astype(np.int64)
        start, end = layer.endpoints()
        con_parts.append((li, rows, [ids[r] for r in rows.tolist()], start[rows], end[rows]))
    dev_parts: list[tuple[int, I64, list[str], U8, Bool, F64]] = []
    for li, name in enumerate(DEVICE_LAYERS):
        layer = export.layer(name)
        ids, keep = check_ids(layer, report, placeholder=True)
        states = device_states(layer, ids, keep, report)
        rows = np.flatnonzero(keep).astype(np.int64)
        dev_parts.append((li, rows, [ids[r] for r in rows.tolist()], states.kind[rows],
                          states.open[rows], layer.xy[rows]))
    sp_layer = export.layer(SP_LAYER)
    sp_ids, sp_keep = check_ids(sp_layer, report, placeholder=False)
    meters, mtype = service_meters(sp_layer, sp_ids, sp_keep, report)
    sp_rows = np.flatnonzero(sp_keep).astype(np.int64)
    xf_col = sp_layer.attrs.get("TRANSFORMERID") or [None] * len(sp_layer)
    rows_l = sp_rows.tolist()
    return Features(
        con_layer=np.concatenate([np.full(p[1].shape[0], p[0], np.uint8) for p in con_parts]),
        con_row=np.concatenate([p[1] for p in con_parts]),
        con_fid=[fid for p in con_parts for fid in p[2]],
        con_start=np.concatenate([p[3] for p in con_parts]).reshape(-1, 2),
        con_end=np.concatenate([p[4] for p in con_parts]).reshape(-1, 2),
        dev_layer=np.concatenate([np.full(p[1].shape[0], p[0], np.uint8) for p in dev_parts]),
        dev_row=np.concatenate([p[1] for p in dev_parts]),
        dev_fid=[fid for p in dev_parts for fid in p[2]],
        dev_kind=np.concatenate([p[3] for p in dev_parts]),
        dev_open=np.concatenate([p[4] for p in dev_parts]),
        dev_xy=np.concatenate([p[5] for p in dev_parts]).reshape(-1, 2),
        sp_row=sp_rows,
        sp_fid=[sp_ids[r] for r in rows_l],
        sp_meter=[meters[r] for r in rows_l],
        sp_mtype=mtype[sp_rows],
        sp_xfmr=[text(xf_col[r]) for r in rows_l],
        sp_xy=sp_layer.xy[sp_rows].reshape(-1, 2),
    )


def snap_network(f: Features, tolerance_m: float) -> Network:
    """Snap conductor ends, devices and service points into junctions."""
    n_con, n_dev = len(f.con_fid), len(f.dev_fid)
    points = np.concatenate([f.con_start, f.con_end, f.dev_xy, f.sp_xy])
    frame = LocalFrame.around(points)
    clusters = cluster_points(points, tolerance_m, frame)
    lab = clusters.label
    n = clusters.count
    ea, eb = lab[:n_con], lab[n_con:2 * n_con]
    deg = np.bincount(ea, minlength=n) + np.bincount(eb, minlength=n)
    return Network(
        f=f, n=n, ea=ea, eb=eb,
        dev_cl=lab[2 * n_con:2 * n_con + n_dev], sp_cl=lab[2 * n_con + n_dev:],
        deg=deg.astype(np.int64), xy=clusters.xy, frame=frame,
    )


def text(value: object) -> str | None:
    """An attribute as stripped text, None when null or empty."""
    if value is None:
        return None
    s = str(value).strip()
    return s or None
