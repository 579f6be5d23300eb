"""AMI coverage per feeder (contract section 5), a pure function of the topology.

``coverage`` is the share of a feeder's service points that carry an AMI meter;
``blind_devices`` are protective devices (:data:`PROTECTIVE_KINDS`) with no AMI
meter downstream: AMI can neither see nor confirm their outages.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from oms_bridge.core.kinds import PROTECTIVE_KINDS
from oms_bridge.core.topology import Topology
from oms_bridge.settings import CoverageSettings

__all__ = ["coverage"]


def coverage(topology: Topology, settings: CoverageSettings | None = None) -> list[dict[str, Any]]:
    """One row per feeder, in feeder order, blind devices sorted by FACILITYID."""
    settings = settings or CoverageSettings()
    ami = topology.ami_counts()
    protective = np.isin(topology.node_kind, [k.code for k in PROTECTIVE_KINDS])
    blind = np.flatnonzero(protective & (ami == 0))
    blind_by_feeder: dict[int, list[str]] = {}
    for node in blind.tolist():
        blind_by_feeder.setdefault(int(topology.node_feeder[node]), []).append(
            topology.node_id(node))
    rows: list[dict[str, Any]] = []
    for f, feeder_id in enumerate(topology.feeder_ids):
        root = int(topology.feeder_root[f])
        if root < 0:
            sps = meters = 0
        else:
            sps = topology.sp_count(root)
            meters = topology.ami_count(root)
        share = meters / sps if sps else 0.0
        rows.append({
            "feeder_id": feeder_id,
            "service_points": sps,
            "ami_meters": meters,
            "coverage": round(share, 4),
            "flagged": share < settings.flag_below,
            "blind_devices": sorted(blind_by_feeder.get(f, [])),
        })
    return rows
