"""Small reference exports, built in code: for tests, the bundled demo and examples.

:class:`Sketch` draws features in metres around an origin and writes them as
the GeoJSON export of contract section 1 (or hands them over in memory as an
:class:`~gis_import.layers.Export`). The named fixtures follow the pandapower
habit of reference networks built through the public API:

- :func:`radial_feeder`: breaker, recloser, a closed switch, two fused
  laterals, transformers on laterals and on the backbone, AMI, AMR and
  unmetered service points;
- :func:`open_ring`: a ring closed by a normally-open tie switch;
- :func:`demo_export`: two feeders, ~300 service points, joined by an open
  tie, one feeder poorly covered by AMI (the bundled demo,
  ``oms_bridge/demo/``).

The large synthetic exports for benchmarks live in :mod:`gis_import.synth`.
Regenerate the demo with ``python -m gis_import.fixtures demo DIR``.
"""

from __future__ import annotations

import math
import random
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import orjson

from gis_import.layers import CLASS_NAMES, LAYER_SPECS, Export

__all__ = ["Sketch", "demo_export", "main", "open_ring", "radial_feeder"]

XY = tuple[float, float]
_M_PER_DEG = 6_371_008.8 * math.pi / 180.0


class Sketch:
    """Features drawn in metres east/north of ``origin`` (lon, lat), then exported.

    Attributes of a class that are not given are written as null, so every
    file carries the full attribute set of its class.
    """

    def __init__(self, origin: XY = (-90.0, 40.0), source: str = "sketch") -> None:
        self.origin = origin
        self.source = source
        self.features: dict[str, list[dict[str, Any]]] = {name: [] for name in CLASS_NAMES}

    # ---------------------------------------------------------------- drawing
    def lonlat(self, x: float, y: float) -> list[float]:
        lon0, lat0 = self.origin
        lon = lon0 + x / (_M_PER_DEG * math.cos(math.radians(lat0)))
        lat = lat0 + y / _M_PER_DEG
        return [round(lon, 8), round(lat, 8)]

    def point(self, layer: str, fid: str | None, at: XY, **attrs: Any) -> dict[str, Any]:
        return self._add(layer, fid, {"type": "Point", "coordinates": self.lonlat(*at)}, attrs)

    def line(self, layer: str, fid: str | None, pts: Sequence[XY], **attrs: Any) -> dict[str, Any]:
        coords = [self.lonlat(*p) for p in pts]
        return self._add(layer, fid, {"type": "LineString", "coordinates": coords}, attrs)

    def _add(self, layer: str, fid: str | None, geometry: dict[str, Any],
             attrs: dict[str, Any]) -> dict[str, Any]:
        spec = LAYER_SPECS[layer]
        props: dict[str, Any] = dict.fromkeys(spec.attributes)
        props["FACILITYID"] = fid
        props.update(attrs)
        feature = {"type": "Feature", "geometry": geometry, "properties": props}
        self.features[layer].append(feature)
        return feature

    def find(self, layer: str, fid: str) -> dict[str, Any]:
        """The first feature of ``layer`` with FACILITYID ``fid`` (for editing)."""
        for feat in self.features[layer]:
            if feat["properties"]["FACILITYID"] == fid:
                return feat
        raise KeyError(f"{layer} {fid}")

    # ---------------------------------------------------------------- output
    def collections(self) -> dict[str, dict[str, Any]]:
        return {
            name: {"type": "FeatureCollection", "features": feats}
            for name, feats in self.features.items()
        }

    def write(self, folder: str | Path) -> Path:
        """Write one ``<Class>.geojson`` per class into ``folder``."""
        out = Path(folder)
        out.mkdir(parents=True, exist_ok=True)
        for name, fc in self.collections().items():
            (out / f"{name}.geojson").write_bytes(orjson.dumps(fc) + b"\n")
        return out

    def export(self) -> Export:
        """The same layers in memory, through the GeoJSON parser of the readers."""
        from gis_import.readers import parse_export, parse_geojson  # noqa: PLC0415 - cycle-free

        parsed = []
        for name, fc in self.collections().items():
            layer, defects = parse_geojson(name, orjson.dumps(fc), f"{self.source}/{name}")
            parsed.append((name, layer, defects))
        return parse_export(self.source, parsed)


# --------------------------------------------------------------- radial feeder
def radial_feeder(sketch: Sketch | None = None) -> Sketch:
    """A small clean radial feeder, every coordinate chosen by hand (metres).

    ``SRC-R1 -> BRK-R1 -> B1`` then a fused lateral A (two transformers, one
    with AMR and unmetered service points only), ``REC-R1``, a fused lateral B
    (AMR only: FUSE-B is blind), a transformer on the backbone and, beyond
    the closed switch ``SW-R1``, one more. Paths::

        SP-A1a  BRK-R1 FUSE-A XFMR-A1
        SP-B1a  BRK-R1 REC-R1 FUSE-B XFMR-B1
        SP-C1a  BRK-R1 REC-R1 XFMR-C1
        SP-D1a  BRK-R1 REC-R1 SW-R1 XFMR-D1
    """
    s = sketch or Sketch(source="radial_feeder")
    prim, sec = "PrimaryConductor", "SecondaryConductor"
    fdr = "FDR-R1"

    def pc(fid: str, *pts: XY) -> None:
        s.line(prim, fid, pts, PHASEDESIGNATION="ABC", CONSTRUCTION="OH", FEEDERID=fdr)

    def service(sp: str, xf: str, xf_at: XY, at: XY, *, meter_type: str | None,
                meter: str | None, xf_id: bool = True) -> None:
        s.line(sec, f"SC-{sp[3:]}", [xf_at, at])
        s.point("ServicePoint", sp, at, METERNUMBER=meter, METERTYPE=meter_type,
                TRANSFORMERID=xf if xf_id else None)

    s.point("CircuitSource", "SRC-R1", (0, 0), SUBSTATION="RIVERSIDE", FEEDERID=fdr,
            NOMINALKV=12.47)
    pc("PC-01", (0, 0), (40, 0))
    s.point("DynamicProtectiveDevice", "BRK-R1", (40, 0), SUBTYPE="Breaker",
            NORMALSTATUS="Closed", FEEDERID=fdr)
    pc("PC-02", (40, 0), (100, 0), (160, 0))          # the vertex at x=100 is a pole
    # lateral A, north of B1
    pc("PC-03", (160, 0), (160, 8))
    s.point("Fuse", "FUSE-A", (160, 8), NORMALSTATUS="Closed", RATING="40K")
    pc("PC-04", (160, 8), (160, 60))
    pc("PC-05", (160, 60), (160, 110))
    pc("PC-06", (160, 60), (167, 60))
    s.point("Transformer", "XFMR-A1", (167, 60), KVA=25.0, PHASEDESIGNATION="A")
    service("SP-A1a", "XFMR-A1", (167, 60), (190, 70), meter_type="AMI", meter="M000000001")
    service("SP-A1b", "XFMR-A1", (167, 60), (185, 45), meter_type="AMI", meter="M000000002")
    pc("PC-07", (160, 110), (167, 110))
    s.point("Transformer", "XFMR-A2", (167, 110), KVA=15.0, PHASEDESIGNATION="A")
    service("SP-A2a", "XFMR-A2", (167, 110), (190, 120), meter_type="AMR", meter="M000000003")
    service("SP-A2b", "XFMR-A2", (167, 110), (140, 130), meter_type="MANUAL", meter=None)
    # backbone on to the recloser and lateral B, south of B2
    pc("PC-08", (160, 0), (220, 0))
    s.point("DynamicProtectiveDevice", "REC-R1", (220, 0), SUBTYPE="Recloser",
            NORMALSTATUS="Closed", FEEDERID=fdr)
    pc("PC-09", (220, 0), (280, 0))
    pc("PC-10", (280, 0), (280, -8))
    s.point("Fuse", "FUSE-B", (280, -8), NORMALSTATUS="Closed", RATING="25K")
    pc("PC-11", (280, -8), (280, -60))
    pc("PC-12", (280, -60), (287, -60))
    s.point("Transformer", "XFMR-B1", (287, -60), KVA=50.0, PHASEDESIGNATION="B")
    service("SP-B1a", "XFMR-B1", (287, -60), (310, -70), meter_type="AMR", meter="M000000004")
    service("SP-B1b", "XFMR-B1", (287, -60), (305, -45), meter_type="AMR", meter="M000000005",
            xf_id=False)
    service("SP-B1c", "XFMR-B1", (287, -60), (265, -85), meter_type="AMR", meter="M000000006")
    # a transformer straight on the backbone
    pc("PC-13", (280, 0), (340, 0))
    pc("PC-14", (340, 0), (340, 7))
    s.point("Transformer", "XFMR-C1", (340, 7), KVA=25.0, PHASEDESIGNATION="C")
    service("SP-C1a", "XFMR-C1", (340, 7), (360, 30), meter_type="AMI", meter="M000000007")
    # a closed sectionalizing switch, then the last transformer
    pc("PC-15", (340, 0), (400, 0))
    s.point("Switch", "SW-R1", (400, 0), NORMALSTATUS="Closed")
    pc("PC-16", (400, 0), (460, 0))
    pc("PC-17", (460, 0), (460, 7))
    s.point("Transformer", "XFMR-D1", (460, 7), KVA=25.0, PHASEDESIGNATION="ABC")
    service("SP-D1a", "XFMR-D1", (460, 7), (480, 30), meter_type="AMI", meter="M000000008")
    return s


# ------------------------------------------------------------------- open ring
def open_ring(sketch: Sketch | None = None) -> Sketch:
    """A ring fed at B1, open at the tie switch ``SW-TIE`` opposite the feed.

    North side: ``B1 -> SW-N -> N1 (XFMR-N1)``; south side: ``B1 -> S1 (XFMR-S1)``;
    both sides meet at ``SW-TIE`` (Open). Paths::

        SP-N1a  BRK-O1 SW-N XFMR-N1
        SP-S1a  BRK-O1 XFMR-S1
    """
    s = sketch or Sketch(source="open_ring")
    prim, sec = "PrimaryConductor", "SecondaryConductor"
    fdr = "FDR-O1"

    def pc(fid: str, *pts: XY) -> None:
        s.line(prim, fid, pts, PHASEDESIGNATION="ABC", CONSTRUCTION="UG", FEEDERID=fdr)

    s.point("CircuitSource", "SRC-O1", (0, 0), SUBSTATION="HARBOR", FEEDERID=fdr,
            NOMINALKV=12.47)
    pc("PC-01", (0, 0), (40, 0))
    s.point("DynamicProtectiveDevice", "BRK-O1", (40, 0), SUBTYPE="Breaker",
            NORMALSTATUS="Closed", FEEDERID=fdr)
    pc("PC-02", (40, 0), (100, 0))
    # north side
    pc("PC-03", (100, 0), (100, 50))
    s.point("Switch", "SW-N", (100, 50), NORMALSTATUS="Closed")
    pc("PC-04", (100, 50), (100, 100))
    pc("PC-05", (100, 100), (200, 100))
    # south side
    pc("PC-06", (100, 0), (200, 0))
    pc("PC-07", (200, 0), (200, 50))
    s.point("Switch", "SW-TIE", (200, 50), NORMALSTATUS="Open")
    pc("PC-08", (200, 50), (200, 100))
    for tag, bus, xf in (("N1", (100, 100), (93, 100)), ("S1", (200, 0), (207, 0))):
        pc(f"PC-X{tag}", bus, xf)
        s.point("Transformer", f"XFMR-{tag}", xf, KVA=50.0, PHASEDESIGNATION="ABC")
        at = (xf[0] - 20, xf[1] + 25) if tag == "N1" else (xf[0] + 20, xf[1] - 25)
        s.line(sec, f"SC-{tag}a", [xf, at])
        s.point("ServicePoint", f"SP-{tag}a", at, METERNUMBER=f"M1000000{tag[-1]}{tag[0]}",
                METERTYPE="AMI", TRANSFORMERID=f"XFMR-{tag}")
    return s


# ------------------------------------------------------------------------ demo
def demo_export(seed: int = 7) -> Sketch:
    """Two feeders of ~150 service points each, tied by an open switch.

    ``FDR-D1`` (AMI nearly everywhere) runs east from its substation,
    ``FDR-D2`` runs west from another, 2 km away, and their backbone ends meet
    at ``SW-D-TIE`` (Open). On FDR-D2 the three laterals past the recloser
    have only AMR meters and a few unmetered lights: a poorly covered area
    whose fuses are blind, so the feeder is flagged below 80 % coverage.
    """
    rng = random.Random(seed)
    s = Sketch(origin=(-89.62, 39.78), source="demo")
    meters = iter(range(500_000_001, 600_000_000))
    _demo_feeder(s, rng, meters, code="D1", sub="NORTHFIELD", origin=(0.0, 0.0), heading=1,
                 poor_laterals=())
    _demo_feeder(s, rng, meters, code="D2", sub="LAKESIDE", origin=(2000.0, 0.0), heading=-1,
                 poor_laterals=(4, 5, 6))
    # the open tie between the two backbone ends (x = 900 and x = 1100)
    for fid, a, b in (("PC-D-TIE1", (900.0, 0.0), (1000.0, 0.0)),
                      ("PC-D-TIE2", (1000.0, 0.0), (1100.0, 0.0))):
        s.line("PrimaryConductor", fid, [a, b], PHASEDESIGNATION="ABC", CONSTRUCTION="OH")
    s.point("Switch", "SW-D-TIE", (1000.0, 0.0), NORMALSTATUS="Open")
    return s


def _demo_feeder(s: Sketch, rng: random.Random, meters: Any, *, code: str, sub: str,
                 origin: XY, heading: int, poor_laterals: Sequence[int]) -> None:
    """Backbone along x (east when ``heading`` is 1), laterals alternating north/south."""
    fdr = f"FDR-{code}"
    ox, oy = origin
    counters = {"pc": 0, "xf": 0, "sp": 0, "fuse": 0}

    def at(dx: float, dy: float) -> XY:
        return (ox + heading * dx, oy + dy)

    def pc(a: XY, b: XY, phases: str = "ABC") -> None:
        counters["pc"] += 1
        s.line("PrimaryConductor", f"PC-{code}-{counters['pc']:04d}", [a, b],
               PHASEDESIGNATION=phases, CONSTRUCTION="OH", FEEDERID=fdr)

    def transformer(bus: XY, side: int, poor: bool) -> None:
        counters["xf"] += 1
        xid = f"XFMR-{code}-{counters['xf']:03d}"
        xf = (bus[0] + 7.0 * heading, bus[1])
        pc(bus, xf, "A")
        s.point("Transformer", xid, xf, KVA=rng.choice([15.0, 25.0, 37.5, 50.0]),
                PHASEDESIGNATION="A")
        for k in range(rng.randint(5, 9)):
            counters["sp"] += 1
            sid = f"SP-{code}-{counters['sp']:04d}"
            angle = math.radians(-60 + 20 * k)
            r = 18.0 + 3.0 * (k % 3)
            spot = (xf[0] + heading * r * math.cos(angle),
                    xf[1] + side * (6.0 + r * math.sin(angle) * 0.5))
            s.line("SecondaryConductor", f"SC-{code}-{counters['sp']:04d}", [xf, spot])
            if poor:
                mtype = "MANUAL" if k == 0 and rng.random() < 0.5 else "AMR"
            else:
                mtype = "AMR" if rng.random() < 0.04 else "AMI"
            meter = None if mtype == "MANUAL" else f"M{next(meters)}"
            s.point("ServicePoint", sid, spot, METERNUMBER=meter, METERTYPE=mtype,
                    TRANSFORMERID=None if rng.random() < 0.03 else xid)

    s.point("CircuitSource", f"SRC-{code}", at(0, 0), SUBSTATION=sub, FEEDERID=fdr,
            NOMINALKV=12.47)
    pc(at(0, 0), at(40, 0))
    s.point("DynamicProtectiveDevice", f"BRK-{code}", at(40, 0), SUBTYPE="Breaker",
            NORMALSTATUS="Closed", FEEDERID=fdr)
    prev = at(40, 0)
    for i in range(1, 8):                       # backbone buses every 120 m
        bus = at(40 + 120 * i, 0)
        if i == 4:                              # recloser midway, on its own junction
            rec = at(40 + 120 * i - 60, 0)
            pc(prev, rec)
            s.point("DynamicProtectiveDevice", f"REC-{code}", rec, SUBTYPE="Recloser",
                    NORMALSTATUS="Closed", FEEDERID=fdr)
            prev = rec
        pc(prev, bus)
        prev = bus
        side = 1 if i % 2 else -1
        poor = i in poor_laterals
        counters["fuse"] += 1
        fuse = (bus[0], bus[1] + side * 10.0)
        pc(bus, fuse, "A")
        s.point("Fuse", f"FUSE-{code}-{counters['fuse']:02d}", fuse, NORMALSTATUS="Closed",
                RATING=rng.choice(["15K", "25K", "40K"]))
        last = fuse
        for j in range(1, 4):                   # three transformer taps per lateral
            lat_bus = (bus[0], bus[1] + side * (10.0 + 45.0 * j))
            pc(last, lat_bus, "A")
            transformer(lat_bus, side, poor)
            last = lat_bus
    # the backbone end meets the tie conductor at x = 900 (D1) / 1100 (D2)
    pc(prev, at(40 + 120 * 7 + 20, 0))


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m gis_import.fixtures demo|radial|ring DIR``: write a fixture export."""
    args = list(sys.argv[1:] if argv is None else argv)
    makers: dict[str, Callable[[], Sketch]] = {
        "demo": demo_export, "radial": radial_feeder, "ring": open_ring,
    }
    if len(args) != 2 or args[0] not in makers:
        sys.stderr.write(f"usage: python -m gis_import.fixtures {'|'.join(makers)} DIR\n")
        return 2
    maker = makers[args[0]]
    out = maker().write(args[1])
    sys.stdout.write(f"wrote {out}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
