"""The ``--paths`` view of a compiled topology (contract section 7).

For every service point: its feeder and the FACILITYIDs of every point device
upstream of it, breaker first, its transformer last. Service points that are
not in the topology (unreached, no transformer) are absent.
"""

from __future__ import annotations

from typing import TypedDict

from gis_import.gcpause import gc_paused
from oms_bridge.core.kinds import DeviceKind
from oms_bridge.core.topology import Topology

__all__ = ["ServicePath", "paths_of"]

_SOURCE = DeviceKind.SOURCE.code


class ServicePath(TypedDict):
    feeder_id: str
    path: list[str]


def paths_of(topology: Topology) -> dict[str, ServicePath]:
    """``{sp_id: {"feeder_id": ..., "path": [...]}}`` for every service point.

    Same order as :meth:`Topology.path`, computed once per node (nodes are in
    pre-order, so a parent's path is ready before its children's), so a
    million service points cost one dict entry each.
    """
    with gc_paused():
        return _paths(topology)


def _paths(topology: Topology) -> dict[str, ServicePath]:
    ids = [bytes(v).decode("utf-8") for v in topology.node_ids.tolist()]
    kinds = topology.node_kind.tolist()
    parents = topology.node_parent.tolist()
    node_path: list[tuple[str, ...]] = []
    for i, (parent, kind) in enumerate(zip(parents, kinds, strict=True)):
        above = node_path[parent] if parent >= 0 else ()
        node_path.append(above if kind == _SOURCE else (*above, ids[i]))
    feeders = [topology.feeder_ids[k] for k in topology.node_feeder.tolist()]
    out: dict[str, ServicePath] = {}
    for sp_id, node in zip(topology.sp_ids.tolist(), topology.sp_node.tolist(), strict=True):
        out[bytes(sp_id).decode("utf-8")] = {"feeder_id": feeders[node],
                                              "path": list(node_path[node])}
    return out
