"""From an :class:`~gis_import.layers.Export` to a compiled topology and a report.

Pure: no file I/O. The steps, each in its own module:

1. :mod:`gis_import.validate` checks ids and attributes, and
   :mod:`gis_import.network` keeps what is sound and snaps conductor end
   points, point devices and service points lying within ``tolerance_m`` into
   junctions (:mod:`gis_import.snap`); conductors become edges between their
   two end junctions; a point device *is* its junction (several devices on one
   junction are chained in class order: source, protective device, fuse,
   switch, transformer);
2. :mod:`gis_import.trace` traces every feeder from its CircuitSource through
   closed devices, breaking loops and source-to-source ties;
3. here, the point devices energised through closed devices become the nodes
   of the radial tree (a device's parent is the nearest energised device
   upstream), service points hang on the transformer their secondary
   conductors reach, else on their TRANSFORMERID, and
   :func:`~oms_bridge.core.topology.compile_topology` orders it all;
4. :mod:`gis_import.findings` reports what could not be placed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from gis_import.findings import note_feeder_ids, report_breaks, report_strays, report_unreached
from gis_import.gcpause import gc_paused
from gis_import.layers import CLASS_NAMES, Export
from gis_import.network import SP_LAYER, Network, gather, snap_network, text
from gis_import.report import DefectKind, FeederSummary, ImportReport
from gis_import.trace import Trace, nearest_marked, trace_network
from oms_bridge.core.kinds import PROTECTIVE_KINDS, DeviceKind
from oms_bridge.core.topology import Topology, compile_topology
from oms_bridge.errors import TopologyError

__all__ = ["ImportResult", "build_topology", "feeder_summaries"]

Bool = NDArray[np.bool_]
I64 = NDArray[np.int64]

_SOURCE = DeviceKind.SOURCE.code
_SWITCH = DeviceKind.SWITCH.code
_TRANSFORMER = DeviceKind.TRANSFORMER.code
_PROTECTIVE = np.array(sorted(k.code for k in PROTECTIVE_KINDS), dtype=np.uint8)


@dataclass
class ImportResult:
    """The compiled topology (None when nothing could be traced) and the report."""

    topology: Topology | None
    report: ImportReport


@dataclass
class _Tree:
    """Energised devices as tree nodes: ``node_dev[i]`` is the device of node ``i``."""

    node_dev: I64
    node_parent: I64
    node_feeder: I64
    #: per junction, the node its descendants hang from (last of its chain), -1 if none
    rep_node: I64
    #: per junction, the nearest junction at or above it holding a node
    up: I64


def build_topology(
    export: Export,
    *,
    tolerance_m: float = 0.5,
    near_miss_m: float = 5.0,
    progress: Callable[[str], None] | None = None,
) -> ImportResult:
    """Snap, trace, validate and compile an export (see the module docstring).

    Raises :class:`TopologyError` (with the report as ``exc.report``) only when
    no CircuitSource sits on a conductor, so that nothing can be traced.
    """
    # The export already holds millions of Python objects; pausing the cyclic
    # collector while the builder allocates saves seconds at a million meters.
    with gc_paused():
        return _build(export, tolerance_m, near_miss_m, progress or _quiet)


def _build(export: Export, tolerance_m: float, near_miss_m: float,
           say: Callable[[str], None]) -> ImportResult:
    report = ImportReport(source=export.source)
    report.defects.extend(export.defects)
    report.counts = {name: len(export.layers[name]) for name in CLASS_NAMES
                     if name in export.layers}
    f = gather(export, report)
    say(f"snapping {2 * len(f.con_fid) + len(f.dev_fid) + len(f.sp_fid):,} points"
        f" within {tolerance_m:g} m")
    net = snap_network(f, tolerance_m)
    say(f"{net.n:,} junctions: {len(f.con_fid):,} conductors, {len(f.dev_fid):,} devices,"
        f" {len(f.sp_fid):,} service points")

    active = np.ones(len(f.dev_fid), dtype=np.bool_)
    src_dev = _choose_sources(export, net, active=active, report=report)
    if not src_dev:
        report.traced = False
        exc = TopologyError(f"{export.source}: no CircuitSource is on a conductor;"
                            " nothing can be traced")
        exc.report = report  # type: ignore[attr-defined]
        raise exc
    feeder_ids = [_source_attr(export, net, d, "FEEDERID") or f.dev_fid[d] for d in src_dev]
    substations = [_source_attr(export, net, d, "SUBSTATION") or "" for d in src_dev]

    say(f"tracing {len(src_dev)} feeder(s)")
    tr = _trace(net, active, src_dev)
    report_breaks(net, tr, active=active, src_dev=src_dev, feeder_ids=feeder_ids, report=report)
    tree = _tree(net, tr, active, src_dev)

    say("attaching service points")
    sp_node = _attach_services(net, tr, tree, active=active, report=report)
    report_unreached(net, tr, active=active, report=report)
    report_strays(net, tr, near_miss_m=near_miss_m, tolerance_m=tolerance_m, report=report)
    note_feeder_ids(export, net, tr, feeder_ids=feeder_ids, report=report)

    say("compiling the topology")
    sel = np.flatnonzero(sp_node >= 0)
    sel_l = sel.tolist()
    topo = compile_topology(
        feeder_ids=feeder_ids,
        feeder_substation=substations,
        node_ids=[f.dev_fid[d] for d in tree.node_dev.tolist()],
        node_kind=f.dev_kind[tree.node_dev],
        node_parent=tree.node_parent.astype(np.int32),
        node_feeder=tree.node_feeder.astype(np.int32),
        node_xy=f.dev_xy[tree.node_dev],
        sp_ids=[f.sp_fid[i] for i in sel_l],
        sp_meter=[f.sp_meter[i] for i in sel_l],
        sp_meter_type=f.sp_mtype[sel],
        sp_node=sp_node[sel].astype(np.int32),
        sp_xy=f.sp_xy[sel],
    )
    report.feeders = feeder_summaries(topo)
    return ImportResult(topo, report)


def feeder_summaries(topo: Topology) -> list[FeederSummary]:
    """Per feeder: service points, AMI meters, protective and blind devices."""
    ami = topo.ami_counts()
    protective = np.isin(topo.node_kind, _PROTECTIVE)
    out: list[FeederSummary] = []
    for k, fid in enumerate(topo.feeder_ids):
        root = int(topo.feeder_root[k])
        if root < 0:
            continue
        end = int(topo.node_end[root])
        prot = np.flatnonzero(protective[root:end]) + root
        blind = prot[ami[prot] == 0]
        out.append(FeederSummary(
            feeder_id=fid,
            source_id=topo.node_id(root),
            service_points=topo.sp_count(root),
            ami_meters=topo.ami_count(root),
            protective_devices=int(prot.shape[0]),
            blind_devices=[topo.node_id(int(i)) for i in blind.tolist()],
        ))
    return out


def _source_attr(export: Export, net: Network, d: int, attr: str) -> str | None:
    col = export.layer("CircuitSource").attrs.get(attr)
    return text(col[int(net.f.dev_row[d])]) if col is not None else None


def _choose_sources(export: Export, net: Network, *, active: Bool,
                    report: ImportReport) -> list[int]:
    """The devices that start a feeder: one per junction and per FEEDERID.

    A source on no conductor is left to the stray-device check; a second
    source on a junction or with a FEEDERID already taken is MULTI_SOURCE and
    not used (its junction stays a plain junction).
    """
    f = net.f
    chosen: list[int] = []
    by_junction: dict[int, int] = {}
    by_feeder: dict[str, int] = {}
    for d in np.flatnonzero(f.dev_kind == _SOURCE).tolist():
        c = int(net.dev_cl[d])
        fid = f.dev_fid[d]
        if net.deg[c] == 0:
            active[d] = False
            continue
        feeder = _source_attr(export, net, d, "FEEDERID")
        if feeder is None:
            report.add(DefectKind.MISSING_ATTRIBUTE, "CircuitSource", fid,
                       f"no FEEDERID; the feeder is named after its source {fid!r}")
            feeder = fid
        if c in by_junction:
            report.add(DefectKind.MULTI_SOURCE, "CircuitSource", fid,
                       f"on the same junction as source {f.dev_fid[by_junction[c]]!r};"
                       " not used as a source")
            active[d] = False
            continue
        if feeder in by_feeder:
            first = f.dev_fid[by_feeder[feeder]]
            report.add(DefectKind.MULTI_SOURCE, "CircuitSource", fid,
                       f"second source of feeder {feeder!r} (first: {first!r});"
                       " not used as a source")
            active[d] = False
            continue
        by_junction[c] = d
        by_feeder[feeder] = d
        chosen.append(d)
    return chosen


def _trace(net: Network, active: Bool, src_dev: list[int]) -> Trace:
    f = net.f
    act = np.flatnonzero(active)
    blocked = net.mark(net.dev_cl[act[f.dev_open[act]]])
    per_junction = np.bincount(net.dev_cl[act], minlength=net.n)
    closed_switch = act[(f.dev_kind[act] == _SWITCH) & ~f.dev_open[act]]
    switch = net.mark(net.dev_cl[closed_switch]) & (per_junction == 1)
    return trace_network(
        net.n, edge_a=net.ea, edge_b=net.eb,
        sources=net.dev_cl[np.asarray(src_dev, dtype=np.int64)],
        blocked=blocked, switch=switch, service=net.mark(net.sp_cl),
    )


def _tree(net: Network, tr: Trace, active: Bool, src_dev: list[int]) -> _Tree:
    """Nodes: sources, and active devices on energised closed junctions.

    Devices sharing a junction are chained in device order (class order); the
    first hangs from the nearest node upstream, the last carries what is below.
    """
    n = net.n
    dev_cl = net.dev_cl
    is_node = active & tr.reached[dev_cl] & ~tr.blocked[dev_cl]
    is_node[np.asarray(src_dev, dtype=np.int64)] = True
    node_dev = np.flatnonzero(is_node)
    node_dev = node_dev[np.lexsort((node_dev, dev_cl[node_dev]))]
    node_cl = dev_cl[node_dev]
    m = node_dev.shape[0]
    first = np.ones(m, dtype=np.bool_)
    first[1:] = node_cl[1:] != node_cl[:-1]
    last = np.ones(m, dtype=np.bool_)
    last[:-1] = node_cl[1:] != node_cl[:-1]
    rep_node = np.full(n, -1, dtype=np.int64)
    rep_node[node_cl[last]] = np.flatnonzero(last)
    up = nearest_marked(tr.pred, net.mark(node_cl))
    pred = tr.pred[node_cl]
    inner = (pred >= 0) & (pred < n)
    from_above = np.full(m, -1, dtype=np.int64)
    from_above[inner] = rep_node[up[pred[inner]]]
    parent = np.where(first, from_above, np.arange(m, dtype=np.int64) - 1)
    return _Tree(node_dev, parent, tr.feeder[node_cl], rep_node, up)


def _attach_services(net: Network, tr: Trace, tree: _Tree, *, active: Bool,
                     report: ImportReport) -> I64:
    """The node feeding every service point, -1 for those not imported.

    By conductor: the nearest node upstream of its junction, if a transformer.
    Else, unless its conductors lead to a transformer no source reaches, by
    TRANSFORMERID. Else NO_TRANSFORMER (or UNREACHED when the named
    transformer is not energised).
    """
    f = net.f
    sp_cl = net.sp_cl
    k = len(f.sp_fid)
    node_of_dev = np.full(len(f.dev_fid), -1, dtype=np.int64)
    node_of_dev[tree.node_dev] = np.arange(tree.node_dev.shape[0])
    node_kind = f.dev_kind[tree.node_dev]
    reached = tr.reached[sp_cl]
    top = tree.up[sp_cl]
    via = np.where(reached & (top >= 0), tree.rep_node[np.maximum(top, 0)], -1)
    by_wire = (via >= 0) & (node_kind[np.maximum(via, 0)] == _TRANSFORMER)
    sp_node = np.where(by_wire, via, -1)
    cut_off = np.zeros(k, dtype=np.bool_)
    stray = np.flatnonzero(~reached & (net.deg[sp_cl] > 0))
    if stray.size:
        comp = _components(net)
        xf = active & (f.dev_kind == _TRANSFORMER)
        comp_has_xf = np.zeros(int(comp.max()) + 1, dtype=np.bool_)
        comp_has_xf[comp[net.dev_cl[xf]]] = True
        cut_off[stray] = comp_has_xf[comp[sp_cl[stray]]]
        for i in stray[cut_off[stray]].tolist():
            report.add(DefectKind.UNREACHED, SP_LAYER, f.sp_fid[i],
                       "its secondary conductors lead to a transformer no source reaches")
    xf_first: dict[str, int] = {}
    for d in np.flatnonzero(f.dev_kind == _TRANSFORMER).tolist():
        xf_first.setdefault(f.dev_fid[d], d)
    wired = np.flatnonzero(by_wire).tolist()
    feeding = [f.dev_fid[int(tree.node_dev[sp_node[i]])] for i in wired]
    mismatched = sum(1 for i, xf_id in zip(wired, feeding, strict=True)
                     if f.sp_xfmr[i] is not None and f.sp_xfmr[i] != xf_id)
    by_id = 0
    for i in np.flatnonzero(~by_wire & ~cut_off).tolist():
        named = f.sp_xfmr[i]
        d = xf_first.get(named, -1) if named is not None else -1
        if d >= 0 and node_of_dev[d] >= 0:
            sp_node[i] = node_of_dev[d]
            by_id += 1
        elif d >= 0:
            report.add(DefectKind.UNREACHED, SP_LAYER, f.sp_fid[i],
                       f"its TRANSFORMERID {named!r} is not energised by any source")
        else:
            if reached[i] and via[i] >= 0:
                why = (f"reached through {f.dev_fid[int(tree.node_dev[via[i]])]}"
                       " but no transformer is upstream")
            elif reached[i]:
                why = "reached but no transformer is upstream"
            else:
                why = "no secondary conductor reaches it"
            tail = "no TRANSFORMERID" if named is None else f"TRANSFORMERID {named!r} is unknown"
            report.add(DefectKind.NO_TRANSFORMER, SP_LAYER, f.sp_fid[i], f"{why}, and {tail}")
    if mismatched:
        report.notes.append(
            f"{mismatched} service point(s) name a TRANSFORMERID other than the transformer"
            " their secondary conductor reaches; the conductor was followed")
    if by_id:
        report.notes.append(f"{by_id} service point(s) attached by TRANSFORMERID"
                            " (no secondary conductor reaches them)")
    return sp_node


def _components(net: Network) -> I64:
    g = coo_matrix((np.ones(net.ea.shape[0], np.int8), (net.ea, net.eb)),
                   shape=(net.n, net.n)).tocsr()
    _, comp = connected_components(g, directed=False)
    out: I64 = comp.astype(np.int64)
    return out


def _quiet(_: str) -> None:
    return None
