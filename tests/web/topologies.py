"""Topologies for the page tests: a small demo feeder pair and the shared feeders.

The shared feeders are read from their point layers plus the ``paths.json``
each one ships (contract section 7: every service point's upstream devices,
breaker first), so these tests need no GIS importer: the tree is exactly the
one the paths describe.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

from oms_bridge.core.kinds import DeviceKind
from oms_bridge.core.topology import Topology, TopologyBuilder

_POINT_LAYERS: dict[str, str | None] = {
    "DynamicProtectiveDevice": None,  # kind from SUBTYPE
    "Fuse": "fuse",
    "Switch": "switch",
    "Transformer": "transformer",
}


def demo_topology() -> Topology:
    """Two feeders near Raleigh; the second is mostly AMR, so it is flagged.

    FDR-NORTH: breaker, a recloser and three fused laterals of four
    transformers with three customers each (all AMI). FDR-SOUTH: breaker, two
    fuses, one of them with no AMI meter at all (a blind device).
    """
    b = TopologyBuilder()
    lon0, lat0 = -78.70, 35.85
    src = b.feeder("FDR-NORTH", substation="SUB-A", xy=(lon0, lat0))
    brk = b.device("BRK-N-1", "breaker", src, (lon0 + 0.001, lat0))
    rcl = b.device("RCL-N-1", "recloser", brk, (lon0 + 0.008, lat0))
    meter = 100000
    for f in range(3):
        upstream = brk if f == 0 else rcl
        fx = lon0 + 0.004 + 0.006 * f
        fuse = b.device(f"FUSE-N-{f + 1}", "fuse", upstream, (fx, lat0 + 0.001))
        for t in range(4):
            tx, ty = fx + 0.0005 * (t % 2), lat0 + 0.002 + 0.0012 * t
            xf = b.device(f"XF-N-{f + 1}{t + 1}", "transformer", fuse, (tx, ty))
            for s in range(3):
                meter += 1
                b.service_point(f"SP-N-{f + 1}{t + 1}{s + 1}", xf, meter=f"M{meter}",
                                xy=(tx + 0.0002 * (s - 1), ty + 0.0003))
    src2 = b.feeder("FDR-SOUTH", substation="SUB-A", xy=(lon0, lat0 - 0.004))
    brk2 = b.device("BRK-S-1", "breaker", src2, (lon0 + 0.001, lat0 - 0.004))
    for f in range(2):
        fx = lon0 + 0.004 + 0.007 * f
        fuse = b.device(f"FUSE-S-{f + 1}", "fuse", brk2, (fx, lat0 - 0.005))
        for t in range(3):
            tx, ty = fx + 0.0005 * (t % 2), lat0 - 0.006 - 0.0012 * t
            xf = b.device(f"XF-S-{f + 1}{t + 1}", "transformer", fuse, (tx, ty))
            for s in range(3):
                meter += 1
                ami = f == 0 and s == 0
                b.service_point(f"SP-S-{f + 1}{t + 1}{s + 1}", xf, meter=f"M{meter}",
                                meter_type="ami" if ami else "amr",
                                xy=(tx + 0.0002 * (s - 1), ty - 0.0003))
    return b.build()


def _points(path: Path) -> dict[str, tuple[tuple[float, float], dict[str, object]]]:
    data = json.loads(path.read_text()) if path.is_file() else {"features": []}
    out = {}
    for feat in data["features"]:
        geom = feat.get("geometry") or {}
        coords = geom.get("coordinates") or [math.nan, math.nan]
        props = feat.get("properties") or {}
        out[str(props["FACILITYID"])] = ((float(coords[0]), float(coords[1])), props)
    return out


def shared_feeder_topology(folder: Path) -> Topology:
    """One shared feeder (a folder of contract-section-1 layers plus ``paths.json``)."""
    paths: dict[str, dict[str, object]] = json.loads((folder / "paths.json").read_text())
    devices: dict[str, tuple[tuple[float, float], str]] = {}
    for layer, fixed in _POINT_LAYERS.items():
        for fid, (xy, props) in _points(folder / f"{layer}.geojson").items():
            kind = fixed or str(props.get("SUBTYPE") or "breaker").lower()
            devices[fid] = (xy, kind)
    sources = _points(folder / "CircuitSource.geojson")
    sps = _points(folder / "ServicePoint.geojson")
    b = TopologyBuilder()
    node_of: dict[str, int] = {}
    feeder_src: dict[str, int] = {}
    for sid, (xy, props) in sources.items():
        feeder_src[str(props["FEEDERID"])] = b.feeder(
            str(props["FEEDERID"]), source_id=sid, substation=str(props.get("SUBSTATION") or ""),
            xy=xy)
    for sp_id in sorted(paths):
        entry = paths[sp_id]
        upstream = feeder_src[str(entry["feeder_id"])]
        chain = entry["path"]
        assert isinstance(chain, list)
        for fid in chain:
            if fid not in node_of:
                xy, kind = devices.get(fid, ((math.nan, math.nan), "switch"))
                node_of[fid] = b.device(fid, DeviceKind(kind), upstream, xy)
            upstream = node_of[fid]
        xy, props = sps.get(sp_id, ((math.nan, math.nan), {}))
        meter = props.get("METERNUMBER")
        b.service_point(sp_id, upstream, meter=str(meter) if meter else None,
                        meter_type=str(props.get("METERTYPE") or "none").lower(), xy=xy)
    return b.build()
