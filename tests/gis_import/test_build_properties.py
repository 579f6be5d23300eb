"""Property tests: random radial feeders drawn as exports are traced back exactly.

A random forest (1-2 feeders) of buses, fuses, closed switches, reclosers,
sectionalizers and transformers, with service points of random meter type,
wired by a secondary conductor and/or named by TRANSFORMERID, and open tie
switches between random junctions, is rendered to an export (in memory,
through the GeoJSON parser). The builder must reproduce the generator's
paths with no defect; adding one random defect must yield exactly that
defect.
"""

from __future__ import annotations

import copy
import os
from dataclasses import dataclass, field
from typing import Any

import hypothesis.strategies as st
from hypothesis import HealthCheck, given, settings

from gis_import.build import build_topology
from gis_import.fixtures import Sketch
from gis_import.paths import paths_of

KINDS = ("bus", "bus", "fuse", "switch", "recloser", "sectionalizer", "transformer",
         "transformer")
LAYER = {"fuse": "Fuse", "switch": "Switch", "recloser": "DynamicProtectiveDevice",
         "sectionalizer": "DynamicProtectiveDevice", "transformer": "Transformer",
         "breaker": "DynamicProtectiveDevice"}
PREFIX = {"bus": "BUS", "fuse": "FUSE", "switch": "SW", "recloser": "REC",
          "sectionalizer": "SEC", "transformer": "XFMR", "breaker": "BRK", "source": "SRC"}
GRID_M = 50.0


@dataclass
class Node:
    fid: str
    kind: str
    parent: int
    feeder: int
    children: list[int] = field(default_factory=list)
    xy: tuple[float, float] = (0.0, 0.0)


@dataclass
class Service:
    fid: str
    xfmr: int
    meter_type: str
    wired: bool
    named: bool


@dataclass
class Drawn:
    nodes: list[Node]
    services: list[Service]
    ties: list[tuple[int, int]]
    bends: list[bool]


@st.composite
def forests(draw: st.DrawFn) -> Drawn:
    n_feeders = draw(st.integers(1, 2))
    nodes: list[Node] = []
    for k in range(n_feeders):
        src = len(nodes)
        nodes.append(Node(f"SRC-{k}", "source", -1, k))
        nodes.append(Node(f"BRK-{k}", "breaker", src, k))
        nodes[src].children.append(src + 1)
        for _ in range(draw(st.integers(1, 14))):
            hosts = [i for i, nd in enumerate(nodes)
                     if nd.feeder == k and nd.kind not in ("source", "transformer")]
            parent = draw(st.sampled_from(hosts))
            kind = draw(st.sampled_from(KINDS))
            nodes.append(Node(f"{PREFIX[kind]}-{len(nodes)}", kind, parent, k))
            nodes[parent].children.append(len(nodes) - 1)
    services: list[Service] = []
    for i, nd in enumerate(nodes):
        if nd.kind != "transformer":
            continue
        for _ in range(draw(st.integers(0, 3))):
            wired, named = draw(st.sampled_from([(True, True), (True, False), (False, True)]))
            services.append(Service(f"SP-{len(services)}", i,
                                    draw(st.sampled_from(["AMI", "AMI", "AMR", "MANUAL"])),
                                    wired, named))
    junctions = [i for i, nd in enumerate(nodes) if nd.kind not in ("source", "transformer")]
    ties: list[tuple[int, int]] = []
    for _ in range(draw(st.integers(0, 2))):
        a, b = draw(st.sampled_from(junctions)), draw(st.sampled_from(junctions))
        if a != b and (a, b) not in ties and (b, a) not in ties:
            ties.append((a, b))
    bends = draw(st.lists(st.booleans(), min_size=len(nodes), max_size=len(nodes)))
    return Drawn(nodes, services, ties, bends)


def _layout(d: Drawn) -> None:
    """x by depth, y by leaf order: every junction on its own 50 m grid point."""
    slot = 0

    def place(i: int, depth: int) -> None:
        nonlocal slot
        nd = d.nodes[i]
        nd.xy = (depth * GRID_M, slot * GRID_M)
        if not nd.children:
            slot += 1
        for c in nd.children:
            place(c, depth + 1)

    for i, nd in enumerate(d.nodes):
        if nd.kind == "source":
            place(i, 0)
            slot += 1


def render(d: Drawn) -> tuple[Sketch, dict[str, Any]]:
    """The export of a drawn forest, and its true ``--paths``."""
    _layout(d)
    s = Sketch(origin=(-100.0, 45.0), source="drawn")
    for i, nd in enumerate(d.nodes):
        fdr = f"FDR-{nd.feeder}"
        if nd.kind == "source":
            s.point("CircuitSource", nd.fid, nd.xy, FEEDERID=fdr, SUBSTATION="S")
        elif nd.kind == "breaker":
            s.point(LAYER[nd.kind], nd.fid, nd.xy, SUBTYPE="Breaker", NORMALSTATUS="Closed")
        elif nd.kind in ("recloser", "sectionalizer"):
            s.point(LAYER[nd.kind], nd.fid, nd.xy, SUBTYPE=nd.kind.title(),
                    NORMALSTATUS="Closed")
        elif nd.kind in ("fuse", "switch"):
            s.point(LAYER[nd.kind], nd.fid, nd.xy, NORMALSTATUS="Closed")
        elif nd.kind == "transformer":
            s.point("Transformer", nd.fid, nd.xy)
        if nd.parent >= 0:
            (px, py), (cx, cy) = d.nodes[nd.parent].xy, nd.xy
            pts = [(px, py), (px + GRID_M / 2, cy), (cx, cy)] if d.bends[i] and py != cy else \
                [(px, py), (cx, cy)]
            s.line("PrimaryConductor", f"PC-{i}", pts, FEEDERID=fdr)
    per_xf: dict[int, int] = {}
    truth: dict[str, Any] = {}
    meter = 100_000
    for sv in d.services:
        xf = d.nodes[sv.xfmr]
        k = per_xf[sv.xfmr] = per_xf.get(sv.xfmr, -1) + 1
        at = (xf.xy[0] + 20.0, xf.xy[1] + 6.0 * k)
        if sv.wired:
            s.line("SecondaryConductor", f"SC-{sv.fid[3:]}", [xf.xy, at])
        meter += 1
        s.point("ServicePoint", sv.fid, at, METERTYPE=sv.meter_type,
                METERNUMBER=None if sv.meter_type == "MANUAL" else f"M{meter}",
                TRANSFORMERID=xf.fid if sv.named else None)
        path: list[str] = []
        i = sv.xfmr
        while i >= 0:
            if d.nodes[i].kind not in ("bus", "source"):
                path.append(d.nodes[i].fid)
            i = d.nodes[i].parent
        truth[sv.fid] = {"feeder_id": f"FDR-{xf.feeder}", "path": path[::-1]}
    for t, (a, b) in enumerate(d.ties):
        at = (-100.0 - 30.0 * t, d.nodes[a].xy[1] + 10.0)
        s.point("Switch", f"TIE-{t}", at, NORMALSTATUS="Open")
        s.line("PrimaryConductor", f"PC-TIE-{t}a", [d.nodes[a].xy, at])
        s.line("PrimaryConductor", f"PC-TIE-{t}b", [at, d.nodes[b].xy])
    return s, truth


#: more with ``GIS_PROPERTY_EXAMPLES=1000 pytest tests/gis_import/test_build_properties.py``
SETTINGS = settings(max_examples=int(os.environ.get("GIS_PROPERTY_EXAMPLES", "60")), deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@SETTINGS
@given(forests())
def test_random_radial_forest_is_traced_back_exactly(d: Drawn) -> None:
    sketch, truth = render(d)
    result = build_topology(sketch.export())
    assert [x.to_dict() for x in result.report.defects] == []
    assert result.topology is not None
    assert paths_of(result.topology) == truth
    assert {f.feeder_id for f in result.report.feeders} == {
        f"FDR-{nd.feeder}" for nd in d.nodes if nd.kind == "source"}


DEFECTS = ("duplicate_device", "bad_status", "stray_fuse", "orphan_service", "island",
           "near_miss_service", "closed_tie", "second_source", "service_without_id")


@SETTINGS
@given(forests(), st.sampled_from(DEFECTS), st.randoms(use_true_random=False))
def test_one_added_defect_is_exactly_reported(d: Drawn, what: str, rnd: Any) -> None:
    sketch, truth = render(d)
    want: set[tuple[str, str, str | None]]
    kinds_only = False
    far = (-5000.0, -5000.0)
    if what == "duplicate_device":
        nd = rnd.choice([n for n in d.nodes if n.kind not in ("bus", "source")])
        layer = LAYER[nd.kind]
        sketch.features[layer].append(copy.deepcopy(sketch.find(layer, nd.fid)))
        want = {("duplicate_id", layer, nd.fid)}
    elif what == "bad_status":
        cands = [n for n in d.nodes if n.kind in ("fuse", "switch", "recloser", "breaker")]
        nd = rnd.choice(cands)
        sketch.find(LAYER[nd.kind], nd.fid)["properties"]["NORMALSTATUS"] = "Maybe"
        want = {("missing_attribute", LAYER[nd.kind], nd.fid)}
    elif what == "stray_fuse":
        sketch.point("Fuse", "FUSE-STRAY", far, NORMALSTATUS="Closed")
        want = {("device_off_conductor", "Fuse", "FUSE-STRAY")}
    elif what == "orphan_service":
        sketch.point("ServicePoint", "SP-ORPHAN", far, METERTYPE="AMI", METERNUMBER="M9")
        want = {("no_transformer", "ServicePoint", "SP-ORPHAN")}
    elif what == "island":
        sketch.line("PrimaryConductor", "PC-ISLAND", [far, (far[0], far[1] + 40)])
        sketch.point("Transformer", "XFMR-ISLAND", (far[0], far[1] + 40))
        want = {("unreached", "PrimaryConductor", "PC-ISLAND"),
                ("unreached", "Transformer", "XFMR-ISLAND")}
    elif what == "near_miss_service":
        wired = [sv for sv in d.services if sv.wired and sv.named]
        if not wired:
            return
        sv = rnd.choice(wired)
        sc = sketch.find("SecondaryConductor", f"SC-{sv.fid[3:]}")
        xf = d.nodes[sv.xfmr].xy
        k = round((sketch_y(sketch, sc) - xf[1]) / 6.0)
        sc["geometry"]["coordinates"][-1] = sketch.lonlat(xf[0] + 22.0, xf[1] + 6.0 * k)
        want = {("near_miss", "SecondaryConductor", sc["properties"]["FACILITYID"])}
    elif what == "closed_tie":
        if not d.ties:
            return
        t = rnd.randrange(len(d.ties))
        sketch.find("Switch", f"TIE-{t}")["properties"]["NORMALSTATUS"] = "Closed"
        a, b = d.ties[t]
        kind = "loop" if d.nodes[a].feeder == d.nodes[b].feeder else "multi_source"
        want = {(kind, "", None)}
        kinds_only = True
    elif what == "second_source":
        buses = [n for n in d.nodes if n.kind == "bus"]
        if not buses:
            return
        nd = rnd.choice(buses)
        sketch.point("CircuitSource", "SRC-EXTRA", nd.xy, FEEDERID=f"FDR-{nd.feeder}")
        want = {("multi_source", "CircuitSource", "SRC-EXTRA")}
    else:  # service_without_id
        if not d.services:
            return
        sv = rnd.choice(d.services)
        sketch.find("ServicePoint", sv.fid)["properties"]["FACILITYID"] = None
        truth.pop(sv.fid)
        want = {("missing_attribute", "ServicePoint", None)}
    result = build_topology(sketch.export())
    got = [x.to_dict() for x in result.report.defects]
    if kinds_only:
        assert [x["kind"] for x in got] == [k for k, _, _ in want], got
        assert result.topology is not None
        assert set(paths_of(result.topology)) == set(truth)
        return
    assert {(x["kind"], x["layer"], x["facility_id"]) for x in got} == want, got
    assert len(got) == len(want), got
    assert result.topology is not None
    assert paths_of(result.topology) == truth


def sketch_y(s: Sketch, feature: dict[str, Any]) -> float:
    """Metres north of the sketch origin of a line's last vertex."""
    lat = feature["geometry"]["coordinates"][-1][1]
    return float((lat - s.origin[1]) * 6_371_008.8 * 3.141592653589793 / 180.0)

