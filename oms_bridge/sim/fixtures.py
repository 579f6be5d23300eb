"""Named reference topologies for simulation tests and benchmarks, built through
the public :class:`~oms_bridge.core.topology.TopologyBuilder` / ``compile_topology``.
"""

from __future__ import annotations

import math

import numpy as np

from oms_bridge.core.kinds import DeviceKind, MeterType
from oms_bridge.core.topology import Topology, TopologyBuilder, compile_topology

__all__ = ["storm_feeder", "synthetic_utility"]


def storm_feeder() -> Topology:
    """Two feeders with every device kind and the awkward cases of AMI inference.

    ``FDR-S1``: breaker, a midline recloser, a sectionalizer on a three-phase tap,
    fused laterals (one with a sub-lateral fuse), transformers on the backbone,
    a fuse over a single transformer (AMI cannot tell them apart), transformers
    with one metered customer, and an AMR pocket. ``FDR-S2``: a short feeder
    with a breaker and three fused laterals.
    """
    b = TopologyBuilder()
    counter = {"xf": 0, "sp": 0}

    def xfmr(parent: int, meters: int, amr: int = 0) -> int:
        counter["xf"] += 1
        x = b.device(f"XFMR-S{counter['xf']:03d}", "transformer", parent)
        for i in range(meters + amr):
            counter["sp"] += 1
            sid = f"SP-S{counter['sp']:04d}"
            if i < meters:
                b.service_point(sid, x, meter=f"MS{counter['sp']:06d}")
            else:
                b.service_point(sid, x, meter=f"RS{counter['sp']:06d}", meter_type=MeterType.AMR)
        return x

    src = b.feeder("FDR-S1", substation="SUB-S")
    brk = b.device("BRK-S1", "breaker", src)
    for m in (4, 3, 5):
        xfmr(brk, m)
    f1 = b.device("FUSE-S01", "fuse", brk)
    for m in (3, 4, 2, 5, 1):
        xfmr(f1, m)
    rec = b.device("REC-S01", "recloser", brk)
    for m in (3, 4):
        xfmr(rec, m)
    f2 = b.device("FUSE-S02", "fuse", rec)
    for m in (4, 3, 3):
        xfmr(f2, m)
    f3 = b.device("FUSE-S03", "fuse", f2)
    for m in (2, 4, 3, 1):
        xfmr(f3, m)
    sec = b.device("SEC-S01", "sectionalizer", rec)
    xfmr(sec, 3)
    for k, sizes in enumerate(((3, 3, 2), (4, 2), (5,)), start=4):
        fu = b.device(f"FUSE-S{k:02d}", "fuse", sec)
        for m in sizes:
            xfmr(fu, m)
    f7 = b.device("FUSE-S07", "fuse", rec)
    for m, amr in ((2, 2), (0, 4), (3, 1)):
        xfmr(f7, m, amr)

    src2 = b.feeder("FDR-S2", substation="SUB-S")
    brk2 = b.device("BRK-S2", "breaker", src2)
    xfmr(brk2, 4)
    for k, sizes in enumerate(((3, 4, 2), (2, 5), (4, 3, 3, 1)), start=8):
        fu = b.device(f"FUSE-S{k:02d}", "fuse", brk2)
        for m in sizes:
            xfmr(fu, m)
    return b.build()


def synthetic_utility(n_service_points: int, rng: np.random.Generator, *,
                      sp_per_feeder: int = 5000, sp_per_transformer: float = 4.0,
                      transformers_per_fuse: int = 10, ami_fraction: float = 1.0) -> Topology:
    """A utility-scale forest built straight from arrays (no GIS export).

    Each feeder: source, breaker, two reclosers in series, fuses hanging off the
    three backbone sections, transformers under the fuses (a tenth on the
    backbone), service points spread over the transformers.
    """
    n_f = max(1, math.ceil(n_service_points / sp_per_feeder))
    n_t = max(1, round(sp_per_feeder / sp_per_transformer))
    n_u = max(1, n_t // transformers_per_fuse)
    head = 4
    per = head + n_u + n_t
    f_idx = np.arange(n_f, dtype=np.int64)
    base = f_idx * per
    n_nodes = n_f * per
    kind = np.empty(n_nodes, dtype=np.uint8)
    parent = np.empty(n_nodes, dtype=np.int64)
    feeder = np.repeat(f_idx, per).astype(np.int32)
    local = np.tile(np.arange(per), n_f)
    codes = [DeviceKind.SOURCE, DeviceKind.BREAKER, DeviceKind.RECLOSER, DeviceKind.RECLOSER]
    for i, k in enumerate(codes):
        kind[base + i] = k.code
        parent[base + i] = base + i - 1 if i else -1
    fuse_rows = (base[:, None] + head + np.arange(n_u)[None, :]).ravel()
    kind[fuse_rows] = DeviceKind.FUSE.code
    section = 1 + (np.arange(n_u) * 3 // n_u)  # breaker, recloser 1, recloser 2
    parent[fuse_rows] = (base[:, None] + section[None, :]).ravel()
    xf_rows = (base[:, None] + head + n_u + np.arange(n_t)[None, :]).ravel()
    kind[xf_rows] = DeviceKind.TRANSFORMER.code
    on_fuse = rng.random(xf_rows.size) < 0.9
    fuse_pick = rng.integers(0, n_u, xf_rows.size)
    backbone_pick = rng.integers(1, head, xf_rows.size)
    xf_feeder_base = base[feeder[xf_rows]]
    parent[xf_rows] = np.where(on_fuse, xf_feeder_base + head + fuse_pick,
                               xf_feeder_base + backbone_pick)
    prefix = np.array(["SRC", "BRK", "REC", "REC"])
    ids = [
        f"{prefix[r]}-{f:05d}-{r}" if r < head else
        (f"FUSE-{f:05d}-{r - head:04d}" if r < head + n_u else f"XFMR-{f:05d}-{r - head - n_u:05d}")
        for f, r in zip(feeder.tolist(), local.tolist(), strict=True)
    ]
    sp_feeder = np.arange(n_service_points) // sp_per_feeder
    sp_node = base[sp_feeder] + head + n_u + rng.integers(0, n_t, n_service_points)
    ami = rng.random(n_service_points) < ami_fraction
    mtype = np.where(ami, MeterType.AMI.code, MeterType.AMR.code).astype(np.uint8)
    meters = np.char.add("M", np.char.zfill(np.arange(n_service_points).astype(str), 9))
    sp_ids = np.char.add("SP-", np.char.zfill(np.arange(n_service_points).astype(str), 8))
    return compile_topology(
        feeder_ids=[f"FDR-{f:05d}" for f in range(n_f)],
        node_ids=ids, node_kind=kind, node_parent=parent.astype(np.int32), node_feeder=feeder,
        sp_ids=np.char.encode(sp_ids, "ascii"), sp_meter=np.char.encode(meters, "ascii"),
        sp_meter_type=mtype, sp_node=sp_node,
    )
