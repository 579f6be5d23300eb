"""Hypothesis strategies for GIS exports (contract section 1) with one thing broken.

Every case starts from the clean :func:`gis_import.fixtures.radial_feeder`
export and breaks one feature (geometry or properties), one layer (missing,
empty, wrong CRS, not JSON...) or adds junk beside it. :class:`GisCase` says
what was broken so the test can tell a legitimate refusal from a crash.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

import orjson
from hypothesis import strategies as st

from gis_import.fixtures import radial_feeder
from gis_import.layers import CLASS_NAMES, LAYER_SPECS, LINE

__all__ = ["BASE", "GisCase", "broken_exports", "sp_ids"]

BASE: dict[str, dict[str, Any]] = radial_feeder().collections()
MB = 1024 * 1024


def sp_ids() -> list[str]:
    return [f["properties"]["FACILITYID"] for f in BASE["ServicePoint"]["features"]]


@dataclass
class GisCase:
    """The export as file bytes per class (absent class: no file) and what was done."""

    files: dict[str, bytes]
    layer: str | None
    index: int | None           # the feature broken, None for a layer-level break
    fid: str | None             # its FACILITYID in the clean export
    how: str
    extra: dict[str, bytes] = field(default_factory=dict)   # junk files beside the layers

    def __repr__(self) -> str:  # short: the files are large
        return f"GisCase(layer={self.layer!r}, index={self.index}, fid={self.fid!r}, {self.how})"

    def _repr_pretty_(self, printer: Any, _cycle: bool) -> None:  # hypothesis' printer
        printer.text(repr(self))


def _dump(doc: Any) -> bytes:
    return orjson.dumps(doc, option=orjson.OPT_SERIALIZE_NUMPY)


def _files(docs: dict[str, Any]) -> dict[str, bytes]:
    return {name: doc if isinstance(doc, bytes) else _dump(doc) for name, doc in docs.items()}


_int = st.integers(-(2**63), 2**63 - 1)   # what JSON encoders carry
_scalar = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**63), 2**63 - 1),
    st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=12),
    st.sampled_from([5e-324, 1e308, -1e308, 2**63 - 1, -(2**63)]),
)
_junk = st.recursive(_scalar, lambda inner: st.lists(inner, max_size=3)
                     | st.dictionaries(st.text(max_size=5), inner, max_size=3), max_leaves=6)

_HUGE = [1e308, -1e308, 1e20, -1e20, 180.0000001, -180.0000001, 90.0000001, 181.0, 1e6, 5e-324]


@st.composite
def _bad_geometry(draw: st.DrawFn, geom: dict[str, Any], geom_type: str) -> tuple[Any, str]:
    coords = geom["coordinates"]
    is_line = geom_type == LINE
    kind = draw(st.sampled_from([
        "null", "not_object", "no_type", "no_coords", "unknown_type", "wrong_type",
        "polygon", "collection", "multi_2", "multi_1", "empty", "coords_not_list",
        "short_position", "3d", "string_numbers", "huge", "out_of_range", "one_vertex",
        "all_same", "dup_vertex", "self_intersecting", "swapped", "nested_junk", "bool_coords",
    ]))
    if kind == "null":
        return None, kind
    if kind == "not_object":
        return draw(st.one_of(st.text(max_size=10), _int, st.lists(_int,
                                                                           max_size=3))), kind
    if kind == "no_type":
        return {"coordinates": coords}, kind
    if kind == "no_coords":
        return {"type": geom_type}, kind
    if kind == "unknown_type":
        return {"type": draw(st.sampled_from(["Bogus", "", "point", "Curve"])),
                "coordinates": coords}, kind
    if kind == "wrong_type":
        other = "Point" if is_line else "LineString"
        other_coords = coords[0] if is_line else [coords, [coords[0] + 1e-4, coords[1]]]
        return {"type": other, "coordinates": other_coords}, kind
    if kind == "polygon":
        ring = [[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 0.0]]
        return {"type": "Polygon", "coordinates": [ring]}, kind
    if kind == "collection":
        return {"type": "GeometryCollection", "geometries": [geom]}, kind
    if kind == "multi_2":
        return {"type": "Multi" + geom_type, "coordinates": [coords, coords]}, kind
    if kind == "multi_1":
        return {"type": "Multi" + geom_type, "coordinates": [coords]}, kind
    if kind == "empty":
        return {"type": geom_type, "coordinates": []}, kind
    if kind == "coords_not_list":
        return {"type": geom_type, "coordinates": draw(st.one_of(
            st.none(), st.text(max_size=5), _int, st.dictionaries(
                st.text(max_size=3), _int, max_size=2)))}, kind
    if kind == "short_position":
        return {"type": geom_type, "coordinates": [[1.0]] * 2 if is_line else [1.0]}, kind
    if kind == "3d":
        new = [[*p, 12.5] for p in coords] if is_line else [*coords, 12.5]
        return {"type": geom_type, "coordinates": new}, kind
    if kind == "string_numbers":
        new = [[str(v) for v in p] for p in coords] if is_line else [str(v) for v in coords]
        return {"type": geom_type, "coordinates": new}, kind
    if kind in ("huge", "out_of_range"):
        value = draw(st.sampled_from(_HUGE))
        axis = draw(st.integers(0, 1))
        if is_line:
            new_line = copy.deepcopy(coords)
            new_line[draw(st.integers(0, len(coords) - 1))][axis] = value
            return {"type": geom_type, "coordinates": new_line}, f"{kind} {value!r}"
        new_pt = list(coords)
        new_pt[axis] = value
        return {"type": geom_type, "coordinates": new_pt}, f"{kind} {value!r}"
    if kind == "swapped":
        new = [[p[1], p[0]] for p in coords] if is_line else [coords[1], coords[0]]
        return {"type": geom_type, "coordinates": new}, kind
    if kind == "nested_junk":
        return {"type": geom_type, "coordinates": draw(_junk)}, kind
    if kind == "bool_coords":
        return {"type": geom_type, "coordinates": [[True, False]] * 2 if is_line
                else [True, False]}, kind
    if not is_line:   # the remaining breaks are for lines; a point keeps a harmless twin
        return {"type": geom_type, "coordinates": list(coords)}, "unchanged point"
    if kind == "one_vertex":
        return {"type": geom_type, "coordinates": [coords[0]]}, kind
    if kind == "all_same":
        return {"type": geom_type, "coordinates": [coords[0]] * draw(st.integers(2, 4))}, kind
    if kind == "dup_vertex":
        i = draw(st.integers(0, len(coords) - 1))
        return {"type": geom_type, "coordinates": [*coords[: i + 1], coords[i],
                                                   *coords[i + 1:]]}, kind
    # self-intersecting: a bow tie between the same end points
    a, b = coords[0], coords[-1]
    dx, dy = b[0] - a[0], b[1] - a[1]
    tie = [a, [a[0] + dx * 0.75 - dy * 0.3, a[1] + dy * 0.75 + dx * 0.3],
           [a[0] + dx * 0.75 + dy * 0.3, a[1] + dy * 0.75 - dx * 0.3],
           [a[0] + dx * 0.25 - dy * 0.3, a[1] + dy * 0.25 + dx * 0.3], b]
    return {"type": geom_type, "coordinates": tie}, kind


@st.composite
def _bad_properties(draw: st.DrawFn, props: dict[str, Any], layer: str) -> tuple[Any, str]:
    spec = LAYER_SPECS[layer]
    kind = draw(st.sampled_from([
        "null", "not_object", "attr_type", "attr_type", "attr_text", "fid_odd", "fid_missing",
        "fid_dup", "extra_keys", "case_variant", "huge_value",
    ]))
    if kind == "null":
        return None, kind
    if kind == "not_object":
        return draw(st.one_of(st.text(max_size=5), _int, st.lists(_int,
                                                                          max_size=2))), kind
    new = dict(props)
    if kind in ("attr_type", "attr_text"):
        attr = draw(st.sampled_from(spec.attributes))
        value = draw(_junk) if kind == "attr_type" else draw(st.sampled_from(
            ["", " ", "open", "OPEN", "Opened", "closed ", "AMI ", "ami", "x" * 300,
             "\x00", "\u202e", "NaN", "-1", "1e400"]))
        new[attr] = value
        return new, f"{attr} = {value!r}"[:80]
    if kind == "fid_odd":
        value = draw(st.one_of(
            _int, st.floats(allow_nan=False), st.booleans(), st.just(""),
            st.just("   "), st.lists(_int, max_size=2), st.dictionaries(
                st.text(max_size=3), _int, max_size=2),
            st.text(alphabet=st.characters(codec="utf-8", categories=["Cc", "Cf", "Zs"]),
                    min_size=1, max_size=5),
            st.text(min_size=1, max_size=20)))
        new["FACILITYID"] = value
        return new, f"FACILITYID = {value!r}"[:80]
    if kind == "fid_missing":
        new.pop("FACILITYID", None)
        return new, kind
    if kind == "fid_dup":
        others = [f["properties"]["FACILITYID"] for f in BASE[layer]["features"]]
        new["FACILITYID"] = draw(st.sampled_from(others))
        return new, f"FACILITYID duplicated: {new['FACILITYID']}"
    if kind == "extra_keys":
        new.update(draw(st.dictionaries(st.sampled_from(
            ["", " FACILITYID ", "facilityid", "NORMALSTAT", "METERNUMBE", "TRANSFORME",
             "x" * 1000, "\x00"]), _scalar, min_size=1, max_size=3)))
        return new, kind
    if kind == "case_variant":
        attr = draw(st.sampled_from(spec.attributes))
        value = new.pop(attr)
        new[attr.lower()] = value
        return new, f"{attr} spelled {attr.lower()}"
    attr = draw(st.sampled_from(spec.attributes))
    new[attr] = "y" * MB
    return new, f"{attr} = 1 MB string"


@st.composite
def _feature_break(draw: st.DrawFn) -> GisCase:
    docs = copy.deepcopy(BASE)
    layer = draw(st.sampled_from([n for n in CLASS_NAMES if BASE[n]["features"]]))
    feats = docs[layer]["features"]
    i = draw(st.integers(0, len(feats) - 1))
    feat = feats[i]
    fid = feat["properties"]["FACILITYID"]
    spec = LAYER_SPECS[layer]
    if draw(st.booleans()):
        feat["geometry"], how = draw(_bad_geometry(feat["geometry"], spec.geom_type))
        how = "geometry: " + how
    else:
        feat["properties"], how = draw(_bad_properties(feat["properties"], layer))
        how = "properties: " + how
    if draw(st.integers(0, 15)) == 0:
        feats[i] = draw(st.one_of(_junk, st.just({"type": "Feature"}),
                                  st.just({"type": "Bogus", "geometry": None})))
        how = f"feature replaced by {feats[i]!r}"[:80]
    return GisCase(_files(docs), layer, i, fid, how)


_CRS = [
    {"type": "name", "properties": {"name": "EPSG:32615"}},
    {"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::2264"}},
    {"type": "name", "properties": {"name": "EPSG:3857"}},
    {"type": "EPSG", "properties": {"code": 99999}},
    {"type": "EPSG", "properties": {"code": 4978}},     # geocentric: neither kind
    {"type": "name", "properties": {"name": "not a crs"}},
    {"type": "name", "properties": {"name": "EPSG:4326"}},
    {"type": "link", "properties": {"href": "http://example.invalid/crs"}},
    "EPSG:4326", 4326, None, [],
]


@st.composite
def _layer_break(draw: st.DrawFn) -> GisCase:
    docs: dict[str, Any] = copy.deepcopy(BASE)
    layer = draw(st.sampled_from(CLASS_NAMES))
    kind = draw(st.sampled_from([
        "missing", "empty", "crs", "projected_no_crs", "not_json", "nan_literal",
        "huge_literal", "not_fc", "features_not_list", "empty_file", "bom", "truncated",
        "all_wrong_type", "scaled",
    ]))
    doc = docs[layer]
    how = kind
    if kind == "missing":
        del docs[layer]
    elif kind == "empty":
        doc["features"] = []
    elif kind == "crs":
        doc["crs"] = draw(st.sampled_from(_CRS))
        how = f"crs {doc['crs']!r}"
    elif kind in ("projected_no_crs", "scaled"):
        factor = 111_000.0 if kind == "projected_no_crs" else draw(st.sampled_from(
            [1e6, 1e300, -1.0, 0.0]))
        for feat in doc["features"]:
            g = feat["geometry"]
            if g["type"] == "Point":
                g["coordinates"] = [v * factor for v in g["coordinates"]]
            else:
                g["coordinates"] = [[v * factor for v in p] for p in g["coordinates"]]
        how = f"coordinates times {factor:g}"
    elif kind == "not_json":
        docs[layer] = draw(st.binary(max_size=40))
    elif kind == "nan_literal":
        text = _dump(doc).decode()
        docs[layer] = text.replace(",", ",NaN,", 1).encode() if draw(st.booleans()) else \
            text.replace("[-", "[Infinity,-", 1).encode()
    elif kind == "huge_literal":
        docs[layer] = _dump(doc).decode().replace("[-", "[-1e400,-", 1).encode()
    elif kind == "not_fc":
        docs[layer] = draw(st.one_of(_junk, st.just({"type": "Feature"}),
                                     st.just({"type": "FeatureCollection"})))
    elif kind == "features_not_list":
        doc["features"] = draw(_junk.filter(lambda v: not isinstance(v, list)))
    elif kind == "empty_file":
        docs[layer] = b""
    elif kind == "bom":
        docs[layer] = b"\xef\xbb\xbf" + _dump(doc)
    elif kind == "truncated":
        raw = _dump(doc)
        docs[layer] = raw[: draw(st.integers(0, len(raw) - 1))]
    else:  # every feature of the other geometry type: the wrong file
        for feat in doc["features"]:
            g = feat["geometry"]
            if g["type"] == "Point":
                feat["geometry"] = {"type": "LineString",
                                    "coordinates": [g["coordinates"], g["coordinates"]]}
            else:
                feat["geometry"] = {"type": "Point", "coordinates": g["coordinates"][0]}
    return GisCase(_files(docs), layer, None, None, how)


@st.composite
def _extra_files(draw: st.DrawFn) -> GisCase:
    """Junk beside a clean export: unknown classes, odd names, a second copy."""
    files = _files(copy.deepcopy(BASE))
    extra = draw(st.dictionaries(st.sampled_from([
        "Unknown.geojson", "notes.txt", ".hidden.geojson", "servicepoint.json", "Fuse.txt",
        "README"]), st.binary(max_size=30), min_size=1, max_size=3))
    return GisCase(files, None, None, None, f"extra files {sorted(extra)}", extra)


def broken_exports() -> st.SearchStrategy[GisCase]:
    return st.one_of(_feature_break(), _feature_break(), _layer_break(), _extra_files())
