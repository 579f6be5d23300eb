"""Property tests: ``parse_geojson`` never crashes on anything.

Whatever the document, it returns a consistent layer (every feature either in
the layer or reported as a defect) or raises an ``ExportError`` naming the file.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gis_import.layers import CLASS_NAMES, LAYER_SPECS
from gis_import.readers import _any_features, _clean_features, parse_geojson
from gis_import.report import DefectKind
from oms_bridge.errors import ExportError

SOURCE = "Layer.geojson"

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**63), 2**63 - 1),
    st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=12),
)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner,
                                                                 max_size=3),
    max_leaves=8,
)
lon = st.floats(-180, 180, allow_nan=False)
lat = st.floats(-90, 90, allow_nan=False)
anything = st.floats(allow_nan=False, allow_infinity=False) | st.integers(-(10**6), 10**6)
position = st.one_of(
    st.tuples(lon, lat).map(list),
    st.tuples(lon, lat, anything).map(list),
    st.lists(anything, max_size=4),
    json_values,
)


@st.composite
def geometries(draw: st.DrawFn) -> Any:
    kind = draw(st.sampled_from(
        ["Point", "LineString", "MultiPoint", "MultiLineString", "Polygon",
         "GeometryCollection", "Bogus", None]))
    if kind is None:
        return draw(st.none() | json_values)
    if kind == "Point":
        coords: Any = draw(position)
    elif kind in ("LineString", "MultiPoint"):
        coords = draw(st.lists(position, max_size=4))
    else:
        coords = draw(st.lists(st.lists(position, max_size=4), max_size=3))
    geom: dict[str, Any] = {"type": kind, "coordinates": coords}
    if draw(st.booleans()):
        geom.pop(draw(st.sampled_from(["type", "coordinates"])))
    return geom


properties = st.one_of(
    st.none(),
    st.dictionaries(
        st.sampled_from(["FACILITYID", "facilityid", "NORMALSTAT", "NORMALSTATUS",
                         "METERNUMBE", "KVA", "other"]),
        scalars, max_size=4),
    json_values,
)


@st.composite
def features(draw: st.DrawFn) -> Any:
    if draw(st.integers(0, 30)) == 0:
        return draw(json_values)
    feat: dict[str, Any] = {"type": "Feature", "geometry": draw(geometries()),
                            "properties": draw(properties)}
    if draw(st.integers(0, 20)) == 0:
        feat["type"] = draw(json_values)
    return feat


@st.composite
def documents(draw: st.DrawFn) -> Any:
    doc: dict[str, Any] = {"type": "FeatureCollection",
                           "features": draw(st.lists(features(), max_size=8))}
    if draw(st.integers(0, 4)) == 0:
        doc["crs"] = draw(st.one_of(
            json_values,
            st.sampled_from([
                {"type": "name", "properties": {"name": "EPSG:4326"}},
                {"type": "name", "properties": {"name": "EPSG:32615"}},
                {"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::2264"}},
                {"type": "EPSG", "properties": {"code": 3857}},
                {"type": "name", "properties": {"name": "not a crs"}},
            ])))
    if draw(st.integers(0, 20)) == 0:
        return draw(json_values)
    return doc


@st.composite
def clean_documents(draw: st.DrawFn) -> Any:
    """Mostly well-formed layers of either geometry type, to exercise the fast path."""
    kind = draw(st.sampled_from(["Point", "LineString"]))
    pos = st.tuples(lon, lat).map(list) | st.tuples(st.integers(-180, 180),
                                                     st.integers(-90, 90)).map(list)
    geom = (pos if kind == "Point" else st.lists(pos, min_size=2, max_size=4)).map(
        lambda c: {"type": kind, "coordinates": c})
    feats = st.builds(lambda g, p: {"type": "Feature", "geometry": g, "properties": p},
                      geom, st.dictionaries(st.sampled_from(["FACILITYID", "KVA"]), scalars))
    return {"type": "FeatureCollection", "features": draw(st.lists(feats, max_size=6))}


def _check(name: str, data: bytes) -> None:
    try:
        layer, defects = parse_geojson(name, data, SOURCE)
    except ExportError as exc:
        assert exc.file == SOURCE
        assert str(exc).startswith(f"{SOURCE}: ")
        return
    layer.check()
    spec = LAYER_SPECS[name]
    assert layer.geom_type == spec.geom_type
    assert set(spec.attributes) <= set(layer.attrs)
    assert all(d.layer == name for d in defects)
    assert all(i is None or (isinstance(i, str) and i == i.strip() and i) for i in layer.ids)
    rows = layer.xy if layer.is_point else layer.coords
    assert rows.dtype == np.float64
    assert np.isfinite(rows).all()
    assert (np.abs(rows[:, 0]) <= 180).all() and (np.abs(rows[:, 1]) <= 90).all()
    bad = sum(d.kind is DefectKind.BAD_GEOMETRY for d in defects)
    doc = orjson.loads(data)
    if layer.usable:
        assert len(layer) + bad == len(doc["features"])
        assert layer.dropped == bad
    else:
        assert len(layer) == 0
        assert any(d.kind is DefectKind.NON_WGS84 for d in defects)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(CLASS_NAMES), documents() | clean_documents())
def test_any_document(name: str, doc: Any) -> None:
    _check(name, orjson.dumps(doc))


@pytest.mark.slow
@settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(CLASS_NAMES), documents())
def test_any_document_thoroughly(name: str, doc: Any) -> None:
    _check(name, orjson.dumps(doc))


@settings(max_examples=100, deadline=None)
@given(st.sampled_from(CLASS_NAMES), st.binary(max_size=64))
def test_any_bytes(name: str, data: bytes) -> None:
    try:
        parse_geojson(name, data, SOURCE)
    except ExportError as exc:
        assert exc.file == SOURCE


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(lon, lat), min_size=1, max_size=20), st.data())
def test_valid_points_round_trip(points: list[tuple[float, float]], data: st.DataObject) -> None:
    ids = data.draw(st.lists(st.text(min_size=1, max_size=8).filter(str.strip),
                             min_size=len(points), max_size=len(points)))
    doc = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "geometry": {"type": "Point", "coordinates": list(p)},
         "properties": {"FACILITYID": i, "KVA": 25}} for p, i in zip(points, ids, strict=True)]}
    layer, defects = parse_geojson("Transformer", orjson.dumps(doc), SOURCE)
    assert defects == []
    assert layer.ids == [i.strip() for i in ids]
    assert layer.attrs["KVA"] == [25] * len(points)
    np.testing.assert_array_equal(layer.xy, np.array(points, dtype=np.float64))


@settings(max_examples=60, deadline=None)
@given(st.lists(st.lists(st.tuples(lon, lat), min_size=2, max_size=6), min_size=1,
                max_size=10))
def test_valid_lines_round_trip(lines: list[list[tuple[float, float]]]) -> None:
    doc = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "geometry": {"type": "LineString", "coordinates": [list(p) for p in c]},
         "properties": {"FACILITYID": f"PC-{i}"}} for i, c in enumerate(lines)]}
    layer, defects = parse_geojson("PrimaryConductor", orjson.dumps(doc), SOURCE)
    kept = [i for i, c in enumerate(lines) if len(set(c)) > 1]
    assert layer.ids == [f"PC-{i}" for i in kept]
    assert [d.facility_id for d in defects] == [f"PC-{i}" for i in range(len(lines))
                                                 if i not in kept]
    for j, i in enumerate(kept):
        np.testing.assert_array_equal(layer.line(j), np.array(lines[i], dtype=np.float64))


@settings(max_examples=100, deadline=None)
@given(st.sampled_from(CLASS_NAMES), clean_documents() | documents())
def test_fast_path_agrees_with_the_feature_loop(name: str, doc: Any) -> None:
    """Where the vectorized path accepts a layer, the per-feature loop gives the same."""
    features = doc.get("features") if isinstance(doc, dict) else None
    if not isinstance(features, list):
        return
    spec = LAYER_SPECS[name]
    fast = _clean_features(features, spec)
    if fast is None:
        return
    props, xy, counts, bad = _any_features(features, spec, SOURCE)
    assert bad == []
    assert props == fast[0]
    np.testing.assert_array_equal(xy, fast[1])
    assert counts == fast[2]


def test_fast_path_taken_for_clean_layers() -> None:
    point = {"type": "Feature", "properties": {"FACILITYID": "F"},
             "geometry": {"type": "Point", "coordinates": [1.5, 2]}}
    line = {"type": "Feature", "properties": {},
            "geometry": {"type": "LineString", "coordinates": [[1, 2], [3.5, 4]]}}
    fast = _clean_features([point, point], LAYER_SPECS["Fuse"])
    assert fast is not None
    np.testing.assert_array_equal(fast[1], [[1.5, 2], [1.5, 2]])
    fast = _clean_features([line], LAYER_SPECS["SecondaryConductor"])
    assert fast is not None
    assert fast[2] == [2]
    np.testing.assert_array_equal(fast[1], [[1, 2], [3.5, 4]])
    with_null_props = {**point, "properties": None}
    assert _clean_features([point, with_null_props], LAYER_SPECS["Fuse"]) is None
    three_d = {**point, "geometry": {"type": "Point", "coordinates": [1, 2, 3]}}
    assert _clean_features([three_d], LAYER_SPECS["Fuse"]) is None
    boolean = {**point, "geometry": {"type": "Point", "coordinates": [True, 2]}}
    assert _clean_features([boolean], LAYER_SPECS["Fuse"]) is None
