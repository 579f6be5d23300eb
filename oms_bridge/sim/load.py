"""Topology for the simulator: a compiled ``.npz`` image or a GIS export.

A GIS export goes through ``gis_import`` (reader, then builder). While the
builder is not available, an export that carries the reference trace
``paths.json`` (as the shared benchmark feeders do) is loaded from that trace
instead: an interim path for experiments, used only as a fallback.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import orjson

from oms_bridge.core.kinds import DeviceKind, MeterType
from oms_bridge.core.topology import Topology, compile_topology
from oms_bridge.errors import TopologyError

__all__ = ["load_topology", "topology_from_paths"]

_DEVICE_LAYERS = ("DynamicProtectiveDevice", "Fuse", "Switch", "Transformer")


def load_topology(path: str | Path, tolerance_m: float = 0.5) -> Topology:
    """Load ``path``: ``.npz`` compiled image, or export folder / ``.zip`` / ``.gpkg``."""
    p = Path(path)
    if p.suffix == ".npz":
        return Topology.from_bytes(p.read_bytes())
    try:
        readers = importlib.import_module("gis_import.readers")
        build = importlib.import_module("gis_import.build")
    except ModuleNotFoundError:
        if (p / "paths.json").is_file():
            return topology_from_paths(p)
        raise TopologyError(f"cannot load {p}: gis_import.build is not available") from None
    export = readers.read_export(p)
    topology: Topology = build.build_topology(export, tolerance_m=tolerance_m).topology
    return topology


def _features(folder: Path, name: str) -> list[dict[str, Any]]:
    f = folder / f"{name}.geojson"
    if not f.is_file():
        return []
    data: dict[str, Any] = orjson.loads(f.read_bytes())
    return list(data.get("features", []))


def topology_from_paths(folder: str | Path) -> Topology:
    """Build a topology from ``paths.json`` (service point -> feeder and device path)
    plus the device and service point layers for kinds and meters."""
    folder = Path(folder)
    paths: dict[str, Any] = orjson.loads((folder / "paths.json").read_bytes())
    kinds: dict[str, DeviceKind] = {}
    for layer in _DEVICE_LAYERS:
        for feat in _features(folder, layer):
            props = feat.get("properties") or {}
            fid = props.get("FACILITYID")
            if not fid:
                continue
            if layer == "DynamicProtectiveDevice":
                kinds[fid] = DeviceKind(str(props.get("SUBTYPE", "breaker")))
            elif layer == "Fuse":
                kinds[fid] = DeviceKind.FUSE
            elif layer == "Switch":
                kinds[fid] = DeviceKind.SWITCH
            else:
                kinds[fid] = DeviceKind.TRANSFORMER
    meters: dict[str, tuple[str | None, int]] = {}
    for feat in _features(folder, "ServicePoint"):
        props = feat.get("properties") or {}
        type_text = str(props.get("METERTYPE") or "none")
        meters[str(props["FACILITYID"])] = (props.get("METERNUMBER"), MeterType(type_text).code)
    feeders: list[str] = []
    node_index: dict[str, int] = {}
    ids: list[str] = []
    kind: list[int] = []
    parent: list[int] = []
    feeder_of: list[int] = []
    sp_ids: list[str] = []
    sp_meter: list[str | None] = []
    sp_type: list[int] = []
    sp_node: list[int] = []
    for sp, entry in paths.items():
        fdr = str(entry["feeder_id"])
        if fdr not in feeders:
            feeders.append(fdr)
            node_index[f"SRC:{fdr}"] = len(ids)
            ids.append(f"SRC-{fdr}")
            kind.append(DeviceKind.SOURCE.code)
            parent.append(-1)
            feeder_of.append(feeders.index(fdr))
        up = node_index[f"SRC:{fdr}"]
        for dev in entry["path"]:
            if dev not in node_index:
                node_index[dev] = len(ids)
                ids.append(dev)
                kind.append(kinds.get(dev, DeviceKind.SWITCH).code)
                parent.append(up)
                feeder_of.append(feeders.index(fdr))
            up = node_index[dev]
        meter_no, mtype = meters.get(sp, (None, MeterType.NONE.code))
        sp_ids.append(sp)
        sp_meter.append(meter_no)
        sp_type.append(mtype)
        sp_node.append(up)
    return compile_topology(
        feeder_ids=feeders, node_ids=ids, node_kind=kind, node_parent=parent,
        node_feeder=feeder_of, sp_ids=sp_ids, sp_meter=sp_meter, sp_meter_type=sp_type,
        sp_node=sp_node,
    )
