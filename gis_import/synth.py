"""Synthetic utility-scale GIS exports (contract section 1), streamed to disk.

:func:`generate` is the pure core: it lays out ``feeders`` radial feeders and
hands every feature, and every service point's true upstream path, to a
:class:`Sink`. :class:`ExportWriter` is the thin I/O wrapper that streams them
into the eight GeoJSON FeatureCollections (one ``orjson.dumps`` per feature,
never the whole collection in memory), and :func:`write_export` ties the two
together, optionally zipping the folder and writing the truth paths in the
``gis-import check --paths`` shape.

Each feeder, in local metres (x east, y north, origin at its source)::

    SRC (0,0) -- BRK (0,40) -- bus 0 (0,100) -- bus 1 (0,200) -- ... backbone
                                 |  reclosers / closed switches sit mid-span
                                 +-- lateral: [FUSE|SEC] at 15 m, buses every 40 m,
                                     a transformer 10 m off each bus (tap conductor),
                                     its 1-12 service points on an arc 25 m away,
                                     each fed by one secondary conductor

Laterals leave alternate backbone buses east and west; some have a closed
switch mid-way or end at an Open switch; adjacent feeders in a row are often
joined by a tie (two conductors meeting at an Open switch above them). Every
junction is one coordinate computed once, so device points and conductor end
points coincide exactly, and distinct junctions are at least 5.5 m apart (more
than the default near-miss distance). AMI is deployed by route (a lateral is
AMI or AMR as a whole, balanced to ``ami_coverage``), with a few MANUAL meters
(some with no meter number) and some service points without TRANSFORMERID.
"""

from __future__ import annotations

import itertools
import math
import random
import shutil
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Protocol

import orjson

__all__ = [
    "LAYERS",
    "ExportWriter",
    "Sink",
    "SynthSpec",
    "SynthSummary",
    "generate",
    "write_export",
]

LAYERS: tuple[str, ...] = (
    "CircuitSource",
    "PrimaryConductor",
    "SecondaryConductor",
    "DynamicProtectiveDevice",
    "Fuse",
    "Switch",
    "Transformer",
    "ServicePoint",
)

_EARTH_R_M = 6_371_008.8
_BUS_SPACING_M = 100.0       # backbone buses
_HEAD_M = 40.0               # source -> breaker
_FIRST_BUS_M = 100.0         # y of backbone bus 0
_LAT_BUS_M = 40.0            # lateral buses
_LAT_DEVICE_M = 15.0         # fuse / sectionalizer along the lateral
_XFMR_OFFSET_M = 10.0        # transformer off its lateral bus
_SP_RADIUS_M = 25.0          # service points around their transformer
_SP_ARC_DEG = 160.0
_END_SWITCH_M = 20.0
_ARC_REACH_M = _XFMR_OFFSET_M + _SP_RADIUS_M
_TIE_RISE_M = 60.0
_FEEDER_GAP_M = 150.0
_SP_SIZE_WEIGHTS = (4, 6, 9, 11, 12, 12, 11, 9, 7, 6, 5, 4)   # 1..12 per transformer
_SUB_WORDS_A = ("OAK", "CEDAR", "PINE", "MAPLE", "BIRCH", "ELM", "WILLOW", "ASPEN",
                "HICKORY", "SPRUCE", "LAUREL", "POPLAR")
_SUB_WORDS_B = ("HOLLOW", "RIDGE", "CREEK", "VALLEY", "HILL", "FORK", "BEND", "GROVE",
                "FLATS", "CROSSING", "POINT", "MILL")
_METER_MULT = 611_953        # coprime with 10**9: a permutation of meter numbers
_METER_MOD = 10**9

Geometry = dict[str, Any]
Props = dict[str, Any]
XY = tuple[float, float]


@dataclass(frozen=True)
class SynthSpec:
    """What to generate. Shares are fractions of service points (or conductors)."""

    service_points: int
    feeders: int
    seed: int = 0
    ami_coverage: float = 0.9
    manual_share: float = 0.004
    missing_transformer_id: float = 0.02
    missing_feeder_id: float = 0.015
    tie_share: float = 0.5            # adjacent feeder pairs joined by an open tie
    origin_lon: float = -97.52
    origin_lat: float = 35.47

    def __post_init__(self) -> None:
        if self.feeders < 1:
            raise ValueError("feeders must be at least 1")
        if self.service_points < self.feeders:
            raise ValueError("need at least one service point per feeder")
        for name in ("ami_coverage", "manual_share", "missing_transformer_id",
                     "missing_feeder_id", "tie_share"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1")


@dataclass
class SynthSummary:
    """What was generated: features per layer and the meter mix."""

    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(LAYERS, 0))
    ami: int = 0
    amr: int = 0
    manual: int = 0
    no_meter_number: int = 0
    no_transformer_id: int = 0
    open_switches: int = 0
    feeder_ids: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "counts": dict(self.counts),
            "ami": self.ami,
            "amr": self.amr,
            "manual": self.manual,
            "no_meter_number": self.no_meter_number,
            "no_transformer_id": self.no_transformer_id,
            "open_switches": self.open_switches,
            "feeders": len(self.feeder_ids),
        }


class Sink(Protocol):
    """Receives the generated export, feature by feature."""

    def feature(self, layer: str, geometry: Geometry, properties: Props) -> None: ...

    def path(self, sp_id: str, feeder_id: str, path: Sequence[str]) -> None: ...


# ------------------------------------------------------------------ the plan
@dataclass
class _Lateral:
    bus: int                         # backbone bus it leaves from
    side: int                        # +1 east, -1 west
    sizes: list[int]                 # service points per transformer, along the lateral
    head: str                        # "fuse", "sectionalizer" or ""
    mid_switch: int                  # closed switch after this lateral bus (1-based), 0: none
    end_open: bool
    phase: str
    construction: str
    ami: bool = True

    @property
    def length_m(self) -> float:
        extra = _END_SWITCH_M if self.end_open else 0.0
        return _LAT_BUS_M * len(self.sizes) + extra

    @property
    def customers(self) -> int:
        return sum(self.sizes)


@dataclass
class _Feeder:
    index: int
    code: str
    feeder_id: str
    substation: str
    nominal_kv: float
    laterals: list[_Lateral]
    midspan: dict[int, str]          # backbone span j (bus j -> j+1) -> "recloser" | "switch"
    origin: XY = (0.0, 0.0)
    top_lonlat: list[float] = field(default_factory=list)   # set when emitted

    @property
    def n_buses(self) -> int:
        return max(1, len(self.laterals))

    @property
    def top_y(self) -> float:
        return _FIRST_BUS_M + _BUS_SPACING_M * (self.n_buses - 1)

    def reach(self, side: int) -> float:
        lengths = [lat.length_m for lat in self.laterals if lat.side == side]
        return (max(lengths) if lengths else 0.0) + _ARC_REACH_M + 20.0


def _split_sizes(rng: random.Random, total: int) -> list[int]:
    sizes: list[int] = []
    population = range(1, len(_SP_SIZE_WEIGHTS) + 1)
    while total > 0:
        size = min(rng.choices(population, _SP_SIZE_WEIGHTS)[0], total)
        sizes.append(size)
        total -= size
    return sizes


def _plan_feeder(rng: random.Random, index: int, n_sp: int, code: str, sub: str) -> _Feeder:
    sizes = _split_sizes(rng, n_sp)
    laterals: list[_Lateral] = []
    pos = 0
    phases = ("A", "B", "C")
    while pos < len(sizes):
        n = min(rng.randint(3, 20), len(sizes) - pos)
        chunk = sizes[pos : pos + n]
        pos += n
        roll = rng.random()
        head = "fuse" if roll < 0.80 else ("sectionalizer" if roll < 0.85 else "")
        bus = len(laterals)
        laterals.append(
            _Lateral(
                bus=bus,
                side=1 if bus % 2 == 0 else -1,
                sizes=chunk,
                head=head,
                mid_switch=len(chunk) // 2 if len(chunk) >= 4 and rng.random() < 0.1 else 0,
                end_open=rng.random() < 0.08,
                phase="ABC" if head == "sectionalizer" else phases[rng.randrange(3)],
                construction="UG" if rng.random() < 0.15 else "OH",
            )
        )
    feeder = _Feeder(
        index=index, code=code, feeder_id=f"FDR-{code}", substation=sub,
        nominal_kv=rng.choice((12.47, 12.47, 13.2, 24.94)), laterals=laterals, midspan={},
    )
    # Reclosers where the downstream share of customers first drops below a target.
    spans = feeder.n_buses - 1
    if spans > 0:
        total = sum(lat.customers for lat in laterals)
        downstream = []
        below = total
        for lat in laterals[:-1]:
            below -= lat.customers
            downstream.append(below / total)
        n_rec = rng.choice((1, 1, 2, 2, 2, 3))
        targets = {1: (0.5,), 2: (0.6, 0.3), 3: (0.6, 0.45, 0.3)}[n_rec]
        for target in targets:
            for span, share in enumerate(downstream):
                if share < target and span not in feeder.midspan:
                    feeder.midspan[span] = "recloser"
                    break
        free = [s for s in range(spans) if s not in feeder.midspan]
        if free and rng.random() < 0.7:
            feeder.midspan[rng.choice(free)] = "switch"
    return feeder


def _plan(spec: SynthSpec, rng: random.Random) -> list[_Feeder]:
    width = max(4, len(str(spec.feeders)))
    base, extra = divmod(spec.service_points, spec.feeders)
    feeders: list[_Feeder] = []
    sub = ""
    for i in range(spec.feeders):
        if i == 0 or rng.random() < 0.2:
            sub = f"{rng.choice(_SUB_WORDS_A)} {rng.choice(_SUB_WORDS_B)} {i // 5 + 1}"
        n_sp = base + (1 if i < extra else 0)
        feeders.append(_plan_feeder(rng, i, n_sp, f"S{i + 1:0{width}d}", sub))
    # Route-level AMI deployment balanced to the target coverage.
    done = ami = 0
    for feeder in feeders:
        for lat in feeder.laterals:
            target = spec.ami_coverage * (done + lat.customers)
            lat.ami = ami + lat.customers * rng.random() <= target
            done += lat.customers
            ami += lat.customers if lat.ami else 0
    # Lay the feeders out in rows, side by side.
    per_row = max(1, math.ceil(math.sqrt(spec.feeders)))
    y = 0.0
    for row_start in range(0, len(feeders), per_row):
        row = feeders[row_start : row_start + per_row]
        x = 0.0
        for feeder in row:
            x += feeder.reach(-1)
            feeder.origin = (x, y)
            x += feeder.reach(1) + _FEEDER_GAP_M
        y += max(f.top_y for f in row) + _ARC_REACH_M + _TIE_RISE_M + 2 * _FEEDER_GAP_M
    return feeders


# ------------------------------------------------------------ the generator
class _Emitter:
    def __init__(self, spec: SynthSpec, sink: Sink, summary: SynthSummary,
                 rng: random.Random) -> None:
        self.spec = spec
        self.sink = sink
        self.summary = summary
        self.rng = rng
        lat0 = math.radians(spec.origin_lat)
        self.m_per_deg_lat = _EARTH_R_M * math.pi / 180.0
        self.m_per_deg_lon = self.m_per_deg_lat * math.cos(lat0)
        self.sp_width = max(6, len(str(spec.service_points)))
        self.sp_serial = 0

    def lonlat(self, origin: XY, x: float, y: float) -> list[float]:
        return [
            round(self.spec.origin_lon + (origin[0] + x) / self.m_per_deg_lon, 8),
            round(self.spec.origin_lat + (origin[1] + y) / self.m_per_deg_lat, 8),
        ]

    def put(self, layer: str, geometry: Geometry, props: Props) -> None:
        self.sink.feature(layer, geometry, props)
        self.summary.counts[layer] += 1

    def point(self, layer: str, coords: list[float], props: Props) -> None:
        self.put(layer, {"type": "Point", "coordinates": coords}, props)

    def line(self, layer: str, coords: list[list[float]], props: Props) -> None:
        if self.rng.random() < 0.2:  # real exports draw some lines against the flow
            coords = coords[::-1]
        self.put(layer, {"type": "LineString", "coordinates": coords}, props)

    def meter_number(self) -> str:
        return f"M{(self.sp_serial * _METER_MULT + self.spec.seed) % _METER_MOD:09d}"


def _feeder_features(em: _Emitter, f: _Feeder) -> None:
    rng = em.rng
    spec = em.spec
    o = f.origin
    code = f.code
    counter = {"PC": 0, "SC": 0, "FUSE": 0, "SW": 0, "REC": 0, "SEC": 0, "XFMR": 0, "SP": 0}

    def next_id(prefix: str, width: int) -> str:
        counter[prefix] += 1
        return f"{prefix}-{code}-{counter[prefix]:0{width}d}"

    def primary(coords: list[list[float]], phase: str, construction: str = "OH") -> None:
        feeder_id: str | None = f.feeder_id
        if rng.random() < spec.missing_feeder_id:
            feeder_id = None
        em.line("PrimaryConductor", coords, {
            "FACILITYID": next_id("PC", 6), "PHASEDESIGNATION": phase,
            "CONSTRUCTION": construction, "FEEDERID": feeder_id,
        })

    src = em.lonlat(o, 0.0, 0.0)
    brk_xy = em.lonlat(o, 0.0, _HEAD_M)
    em.point("CircuitSource", src, {
        "FACILITYID": f"SRC-{code}-1", "SUBSTATION": f.substation,
        "FEEDERID": f.feeder_id, "NOMINALKV": f.nominal_kv,
    })
    brk_id = f"BRK-{code}-1"
    em.point("DynamicProtectiveDevice", brk_xy, {
        "FACILITYID": brk_id, "SUBTYPE": "Breaker", "NORMALSTATUS": "Closed",
        "FEEDERID": f.feeder_id,
    })
    primary([src, brk_xy], "ABC")
    buses = [em.lonlat(o, 0.0, _FIRST_BUS_M + _BUS_SPACING_M * j) for j in range(f.n_buses)]
    primary([brk_xy, buses[0]], "ABC")
    f.top_lonlat = buses[-1]

    # Backbone spans; devices mid-span split the span into two conductors.
    upstream_at_bus: list[list[str]] = [[brk_id]]
    for j in range(f.n_buses - 1):
        chain = list(upstream_at_bus[j])
        y0 = _FIRST_BUS_M + _BUS_SPACING_M * j
        mid = (0.0, y0 + _BUS_SPACING_M / 2)
        kind = f.midspan.get(j)
        if kind is None:
            pole = em.lonlat(o, rng.uniform(-0.5, 0.5), mid[1])
            primary([buses[j], pole, buses[j + 1]], "ABC")
        else:
            dev_xy = em.lonlat(o, *mid)
            if kind == "recloser":
                dev_id = next_id("REC", 2)
                em.point("DynamicProtectiveDevice", dev_xy, {
                    "FACILITYID": dev_id, "SUBTYPE": "Recloser", "NORMALSTATUS": "Closed",
                    "FEEDERID": f.feeder_id,
                })
            else:
                dev_id = next_id("SW", 3)
                em.point("Switch", dev_xy, {"FACILITYID": dev_id, "NORMALSTATUS": "Closed"})
            primary([buses[j], dev_xy], "ABC")
            primary([dev_xy, buses[j + 1]], "ABC")
            chain.append(dev_id)
        upstream_at_bus.append(chain)

    for lat in f.laterals:
        _lateral(em, f, lat, bus_xy=buses[lat.bus], upstream=upstream_at_bus[lat.bus],
                 next_id=next_id, primary=primary)


def _lateral(
    em: _Emitter,
    f: _Feeder,
    lat: _Lateral,
    *,
    bus_xy: list[float],
    upstream: list[str],
    next_id: Callable[[str, int], str],
    primary: Callable[..., None],
) -> None:
    o = f.origin
    yb = _FIRST_BUS_M + _BUS_SPACING_M * lat.bus
    d = float(lat.side)

    def at(s: float, off: float = 0.0) -> list[float]:
        return em.lonlat(o, d * s, yb + off)

    chain = list(upstream)
    start = bus_xy
    if lat.head:
        head_xy = at(_LAT_DEVICE_M)
        if lat.head == "fuse":
            head_id = next_id("FUSE", 4)
            rating = next(r for limit, r in ((20, "15K"), (40, "25K"), (80, "40K"),
                                             (150, "65K"), (10**9, "100K"))
                          if lat.customers <= limit)
            em.point("Fuse", head_xy, {"FACILITYID": head_id, "NORMALSTATUS": "Closed",
                                        "RATING": rating})
        else:
            head_id = next_id("SEC", 3)
            em.point("DynamicProtectiveDevice", head_xy, {
                "FACILITYID": head_id, "SUBTYPE": "Sectionalizer", "NORMALSTATUS": "Closed",
                "FEEDERID": f.feeder_id,
            })
        primary([bus_xy, head_xy], lat.phase, lat.construction)
        chain.append(head_id)
        start = head_xy

    prev = start
    for k, size in enumerate(lat.sizes, start=1):
        bus = at(_LAT_BUS_M * k)
        primary([prev, bus], lat.phase, lat.construction)
        # Transformer tap on alternate sides of the lateral.
        t = 1.0 if k % 2 else -1.0
        xf_s, xf_off = _LAT_BUS_M * k, t * _XFMR_OFFSET_M
        xf_xy = at(xf_s, xf_off)
        xf_id = next_id("XFMR", 5)
        kva = next(v for limit, v in ((2, 25), (5, 50), (8, 75), (10, 100), (12, 167))
                   if size <= limit)
        em.point("Transformer", xf_xy, {"FACILITYID": xf_id, "KVA": float(kva),
                                         "PHASEDESIGNATION": lat.phase})
        primary([bus, xf_xy], lat.phase, lat.construction)
        path = [*chain, xf_id]
        _service_points(em, f, lat, size=size, xf_xy=xf_xy, xf_local=(xf_s, xf_off), t=t,
                        xf_id=xf_id, path=path)
        if k == lat.mid_switch and k < len(lat.sizes):
            sw_xy = at(_LAT_BUS_M * k + _LAT_BUS_M / 2)
            sw_id = next_id("SW", 3)
            em.point("Switch", sw_xy, {"FACILITYID": sw_id, "NORMALSTATUS": "Closed"})
            primary([bus, sw_xy], lat.phase, lat.construction)
            chain.append(sw_id)
            bus = sw_xy
        prev = bus
    if lat.end_open:
        end_xy = at(_LAT_BUS_M * len(lat.sizes) + _END_SWITCH_M)
        em.point("Switch", end_xy, {"FACILITYID": next_id("SW", 3), "NORMALSTATUS": "Open"})
        em.summary.open_switches += 1
        primary([prev, end_xy], lat.phase, lat.construction)


def _service_points(
    em: _Emitter, f: _Feeder, lat: _Lateral, *, size: int, xf_xy: list[float],
    xf_local: tuple[float, float], t: float, xf_id: str, path: list[str],
) -> None:
    rng = em.rng
    spec = em.spec
    summary = em.summary
    o = f.origin
    yb = _FIRST_BUS_M + _BUS_SPACING_M * lat.bus
    d = float(lat.side)
    half = math.radians(_SP_ARC_DEG / 2)
    for i in range(size):
        theta = 0.0 if size == 1 else -half + 2 * half * i / (size - 1)
        s = xf_local[0] + _SP_RADIUS_M * math.sin(theta)
        off = xf_local[1] + t * _SP_RADIUS_M * math.cos(theta)
        sp_xy = em.lonlat(o, d * s, yb + off)
        em.sp_serial += 1
        sp_id = f"SP-{f.code}-{em.sp_serial:0{em.sp_width}d}"
        meter: str | None = em.meter_number()
        if rng.random() < spec.manual_share:
            mtype = "MANUAL"
            summary.manual += 1
            if rng.random() < 0.5:
                meter = None
                summary.no_meter_number += 1
        elif lat.ami:
            mtype = "AMI"
            summary.ami += 1
        else:
            mtype = "AMR"
            summary.amr += 1
        xf_attr: str | None = xf_id
        if rng.random() < spec.missing_transformer_id:
            xf_attr = None
            summary.no_transformer_id += 1
        em.point("ServicePoint", sp_xy, {
            "FACILITYID": sp_id, "METERNUMBER": meter, "METERTYPE": mtype,
            "TRANSFORMERID": xf_attr,
        })
        em.line("SecondaryConductor", [xf_xy, sp_xy],
                {"FACILITYID": f"SC-{f.code}-{em.sp_serial:0{em.sp_width}d}"})
        em.sink.path(sp_id, f.feeder_id, path)


def _ties(em: _Emitter, feeders: list[_Feeder]) -> None:
    """Open ties between neighbours in a row: two conductors meeting at an Open switch."""
    rng = em.rng
    for left, right in itertools.pairwise(feeders):
        if left.origin[1] != right.origin[1] or rng.random() >= em.spec.tie_share:
            continue
        rise = max(left.top_y, right.top_y) + _ARC_REACH_M + _TIE_RISE_M + left.origin[1]
        zero = (0.0, 0.0)
        sw_xy = em.lonlat(zero, (left.origin[0] + right.origin[0]) / 2, rise)
        em.point("Switch", sw_xy, {"FACILITYID": f"SW-{left.code}-T1", "NORMALSTATUS": "Open"})
        em.summary.open_switches += 1
        for feeder in (left, right):
            coords = [feeder.top_lonlat, em.lonlat(zero, feeder.origin[0], rise), sw_xy]
            em.line("PrimaryConductor", coords, {
                "FACILITYID": f"PC-{feeder.code}-T{1 if feeder is left else 2}",
                "PHASEDESIGNATION": "ABC", "CONSTRUCTION": "OH", "FEEDERID": feeder.feeder_id,
            })


def generate(spec: SynthSpec, sink: Sink) -> SynthSummary:
    """Generate the export described by ``spec`` into ``sink``; deterministic per seed."""
    rng = random.Random(spec.seed)
    feeders = _plan(spec, rng)
    summary = SynthSummary(feeder_ids=[f.feeder_id for f in feeders])
    em = _Emitter(spec, sink, summary, rng)
    for feeder in feeders:
        _feeder_features(em, feeder)
    _ties(em, feeders)
    return summary


# ------------------------------------------------------------------ writing
class _JsonArrayFile:
    """Streams ``prefix`` + comma-separated JSON items + ``suffix`` into a file."""

    def __init__(self, path: Path, prefix: bytes, suffix: bytes) -> None:
        self._fh: IO[bytes] = path.open("wb", buffering=1 << 20)
        self._fh.write(prefix)
        self._suffix = suffix
        self._first = True

    def item(self, data: bytes) -> None:
        if self._first:
            self._first = False
        else:
            self._fh.write(b",\n")
        self._fh.write(data)

    def close(self) -> None:
        self._fh.write(self._suffix)
        self._fh.close()


class ExportWriter:
    """A :class:`Sink` that streams GeoJSON layers (and optionally truth paths) to disk."""

    def __init__(self, out_dir: Path, paths_file: Path | None = None) -> None:
        out_dir.mkdir(parents=True, exist_ok=True)
        self._layers = {
            name: _JsonArrayFile(
                out_dir / f"{name}.geojson",
                b'{"type":"FeatureCollection","name":"' + name.encode()
                + b'","crs_note":"WGS84 lon/lat (RFC 7946)","features":[\n',
                b"\n]}\n",
            )
            for name in LAYERS
        }
        self._paths = (
            _JsonArrayFile(paths_file, b"{\n", b"\n}\n") if paths_file is not None else None
        )

    def feature(self, layer: str, geometry: Geometry, properties: Props) -> None:
        self._layers[layer].item(
            orjson.dumps({"type": "Feature", "geometry": geometry, "properties": properties})
        )

    def path(self, sp_id: str, feeder_id: str, path: Sequence[str]) -> None:
        if self._paths is not None:
            self._paths.item(
                orjson.dumps(sp_id) + b":"
                + orjson.dumps({"feeder_id": feeder_id, "path": list(path)})
            )

    def close(self) -> None:
        for layer in self._layers.values():
            layer.close()
        if self._paths is not None:
            self._paths.close()


def write_export(
    spec: SynthSpec,
    out: Path,
    *,
    as_zip: bool = False,
    paths_truth: Path | None = None,
) -> SynthSummary:
    """Write the export to the folder ``out`` (or the ``.zip`` file ``out``).

    ``paths_truth`` also receives, for every service point, its feeder and the
    ordered FACILITYIDs of its upstream devices (the ``--paths`` shape).
    """
    folder = out.with_name(out.name + ".parts") if as_zip else out
    writer = ExportWriter(folder, paths_truth)
    try:
        summary = generate(spec, writer)
    finally:
        writer.close()
    if as_zip:
        out.parent.mkdir(parents=True, exist_ok=True)
        with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
            for name in LAYERS:
                zf.write(folder / f"{name}.geojson", arcname=f"{name}.geojson")
        shutil.rmtree(folder)
    return summary
