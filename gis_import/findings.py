"""What the trace could not place, as defects and notes in the import report.

Each function looks at a snapped :class:`~gis_import.network.Network` and its
:class:`~gis_import.trace.Trace` and adds to the report: the loops and
source-to-source ties the trace broke, features no source reaches, near
misses and devices on no conductor, and the FEEDERID summary note.
"""

from __future__ import annotations

from collections import Counter

import numpy as np
from numpy.typing import NDArray

from gis_import.layers import Export
from gis_import.network import SP_LAYER, Network, text
from gis_import.report import DefectKind, ImportReport
from gis_import.trace import Trace
from gis_import.validate import defect, find_near_misses
from oms_bridge.core.kinds import DeviceKind

__all__ = ["note_feeder_ids", "report_breaks", "report_strays", "report_unreached"]

Bool = NDArray[np.bool_]
I64 = NDArray[np.int64]

_SOURCE = DeviceKind.SOURCE.code
_TRANSFORMER = DeviceKind.TRANSFORMER.code
#: devices named in a loop message before "and N more"
_NAMED_ON_LOOP = 12


def report_breaks(net: Network, tr: Trace, *, active: Bool, src_dev: list[int],
                  feeder_ids: list[str], report: ImportReport) -> None:
    """One LOOP or MULTI_SOURCE defect per cycle the trace broke."""
    if not tr.breaks:
        return
    f = net.f
    devs_at: dict[int, list[int]] = {}
    for d in np.flatnonzero(active).tolist():
        devs_at.setdefault(int(net.dev_cl[d]), []).append(d)
    for br in tr.breaks:
        names = [f.dev_fid[d] for c in br.cycle for d in devs_at.get(c, [])]
        through = ", ".join(names[:_NAMED_ON_LOOP])
        if len(names) > _NAMED_ON_LOOP:
            through += f" and {len(names) - _NAMED_ON_LOOP} more"
        if br.opened >= 0:
            d = devs_at[br.opened][0]
            layer, fid = f.dev_layer_name(d), f.dev_fid[d]
            action = "treated as Open"
        else:
            layer, fid = f.con_layer_name(br.dropped), f.con_fid[br.dropped]
            action = "left out of the trace"
        if br.multi_source:
            a, b = sorted(br.sources)
            report.add(DefectKind.MULTI_SOURCE, "CircuitSource", f.dev_fid[src_dev[b]],
                       f"feeder {feeder_ids[b]!r} is also energised from {feeder_ids[a]!r}"
                       f" through {layer} {fid} ({action}); devices on the path: {through}")
        else:
            report.add(DefectKind.LOOP, layer, fid,
                       f"closes a loop in feeder {feeder_ids[br.sources[0]]!r} through"
                       f" {through or 'conductors only'}; {action}")


def report_unreached(net: Network, tr: Trace, *, active: Bool, report: ImportReport) -> None:
    """UNREACHED per conductor and device no source reaches, plus one summary note.

    Devices on no conductor are left to :func:`report_strays`, sources not used
    as sources were reported as MULTI_SOURCE, service points while attaching
    them; the note counts those too.
    """
    f = net.f
    counts: Counter[str] = Counter()
    for e in np.flatnonzero(~tr.traversed & ~tr.dropped).tolist():
        counts[f.con_layer_name(e)] += 1
        report.add(DefectKind.UNREACHED, f.con_layer_name(e), f.con_fid[e],
                   "no source reaches this conductor")
    demoted_src = (f.dev_kind == _SOURCE) & ~active
    lost = ~tr.reached[net.dev_cl] & (net.deg[net.dev_cl] > 0) & ~demoted_src
    for d in np.flatnonzero(lost).tolist():
        counts[f.dev_layer_name(d)] += 1
        report.add(DefectKind.UNREACHED, f.dev_layer_name(d), f.dev_fid[d],
                   "no source reaches this device")
    counts[SP_LAYER] += sum(1 for d in report.defects
                            if d.kind is DefectKind.UNREACHED and d.layer == SP_LAYER)
    total = sum(counts.values())
    if total:
        parts = ", ".join(f"{v} {k}" for k, v in sorted(counts.items()) if v)
        report.notes.append(f"{total} feature(s) reached by no source: {parts}")


def report_strays(net: Network, tr: Trace, *, near_miss_m: float, tolerance_m: float,
                  report: ImportReport) -> None:
    """Near misses and devices on no conductor.

    A near miss is a loose conductor end (one conductor, no device) or a device
    on no conductor, with a junction it could plausibly join within
    ``near_miss_m``: for a primary end, another primary end or a device; for a
    secondary end, another secondary end, a transformer or a service point.
    And the gap must matter: one side is reached by no source, or the other
    side is a closed device with a single conductor, or the query is a device
    on no conductor. Dead-end stubs of a clean export that happen to end near
    something are therefore not reported. The import never joins them.
    """
    f, n, ea, eb, deg = net.f, net.n, net.ea, net.eb, net.deg
    prim = f.con_layer == 0
    has_prim = net.mark(np.concatenate([ea[prim], eb[prim]]))
    has_sec = net.mark(np.concatenate([ea[~prim], eb[~prim]]))
    has_dev = net.mark(net.dev_cl)
    has_xf = net.mark(net.dev_cl[f.dev_kind == _TRANSFORMER])
    has_sp = net.mark(net.sp_cl)
    two_terminal = (f.dev_kind != _SOURCE) & (f.dev_kind != _TRANSFORMER) & ~f.dev_open
    lonely = net.mark(net.dev_cl[two_terminal]) & (deg == 1)
    loose = (deg == 1) & ~has_dev & ~has_sp
    off = (deg == 0) & has_dev
    idx = np.arange(ea.shape[0], dtype=np.int64)
    owner = np.full(n, -1, dtype=np.int64)
    other_end = np.full(n, -1, dtype=np.int64)
    owner[ea], other_end[ea] = idx, eb
    owner[eb], other_end[eb] = idx, ea
    first_dev = np.full(n, -1, dtype=np.int64)
    first_dev[net.dev_cl[::-1]] = np.arange(net.dev_cl.shape[0] - 1, -1, -1)
    first_sp = np.full(n, -1, dtype=np.int64)
    first_sp[net.sp_cl[::-1]] = np.arange(net.sp_cl.shape[0] - 1, -1, -1)
    loose_prim = loose & has_prim
    reached = tr.reached

    def accept(q: I64, t: I64) -> Bool:
        fits = np.where(loose_prim[q], has_prim[t] | has_dev[t],
                        has_sec[t] | has_xf[t] | has_sp[t])
        fits = np.where(off[q], deg[t] > 0, fits & (t != other_end[q]))
        matters = off[q] | ~reached[q] | ~reached[t] | lonely[t]
        return np.asarray(fits & matters, dtype=np.bool_)

    def rank(c: int) -> int:
        e = int(owner[c])
        return int(f.con_layer[e]) * (1 << 40) + int(f.con_row[e]) if e >= 0 else 1 << 50

    def describe(c: int) -> str:
        if first_dev[c] >= 0:
            d = int(first_dev[c])
            return f"{f.dev_layer_name(d)} {f.dev_fid[d]}"
        if first_sp[c] >= 0:
            return f"{SP_LAYER} {f.sp_fid[int(first_sp[c])]}"
        e = int(owner[c])
        return f"an end of {f.con_layer_name(e)} {f.con_fid[e]}"

    misses = find_near_misses(net.xy, query=loose | off, accept=accept, reached=reached,
                              near_miss_m=near_miss_m, frame=net.frame, rank=rank)
    near_dev: dict[int, tuple[int, float]] = {}
    for nm in misses:
        if off[nm.query]:
            near_dev[nm.query] = (nm.target, nm.distance_m)
            continue
        e = int(owner[nm.query])
        report.defects.append(defect(
            DefectKind.NEAR_MISS, f.con_layer_name(e), f.con_fid[e],
            f"end point {nm.distance_m:.2f} m from {describe(nm.target)}, beyond the"
            f" {tolerance_m:g} m tolerance: not connected", nm.distance_m))
    for d in np.flatnonzero(off[net.dev_cl]).tolist():
        c = int(net.dev_cl[d])
        layer, fid = f.dev_layer_name(d), f.dev_fid[d]
        if c in near_dev:
            target, dist = near_dev[c]
            report.defects.append(defect(
                DefectKind.NEAR_MISS, layer, fid,
                f"{dist:.2f} m from {describe(target)}, beyond the {tolerance_m:g} m"
                " tolerance: on no conductor, not connected", dist))
        else:
            report.add(DefectKind.DEVICE_OFF_CONDUCTOR, layer, fid,
                       f"not on any conductor end point (none within {near_miss_m:g} m)")


def note_feeder_ids(export: Export, net: Network, tr: Trace, *, feeder_ids: list[str],
                    report: ImportReport) -> None:
    """One note counting PrimaryConductor FEEDERIDs missing or naming another feeder."""
    f = net.f
    col = export.layer("PrimaryConductor").attrs.get("FEEDERID")
    prim = np.flatnonzero(f.con_layer == 0)
    if prim.size == 0:
        return
    values = [text(col[r]) if col is not None else None for r in f.con_row[prim].tolist()]
    fa, fb = tr.feeder[net.ea[prim]], tr.feeder[net.eb[prim]]
    traced = np.where(fa >= 0, fa, fb).tolist()
    ran = tr.traversed[prim].tolist()
    missing = sum(1 for v in values if v is None)
    stale = sum(
        1 for v, t, ok in zip(values, traced, ran, strict=True)
        if v is not None and ok and t >= 0 and v != feeder_ids[t]
    )
    if missing or stale:
        report.notes.append(
            f"PrimaryConductor FEEDERID: {missing} missing, {stale} naming another feeder than"
            f" the one tracing them (of {prim.size}); the trace decides")
