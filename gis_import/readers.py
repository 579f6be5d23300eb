"""Read a GIS export (contract section 1) into :class:`~gis_import.layers.Export`.

``read_export(path)`` opens files; everything it hands bytes or arrays to is
pure: :func:`parse_geojson` turns one GeoJSON document into a layer,
:func:`parse_export` a set of documents into an export, and
:func:`layer_from_arrays` builds a layer from decoded columns (the GeoPackage
and Shapefile path).

Accepted inputs, file and layer names matched case-insensitively:

- a folder of ``<Class>.geojson`` (or ``.json``) files, or of ``<Class>.shp``
  Shapefiles, or holding one ``.gpkg``; where the folder has none of these but
  exactly one sub-folder, that sub-folder;
- a ``.zip`` of any of those, the files at any depth (one folder per export);
- a ``.gpkg`` with a layer per class.

Rules for bad input (pinned by ``tests/data/exports``):

- a file that is not JSON, not a FeatureCollection, whose ``features`` is not a
  list or holds something other than Feature objects is an ``ExportError``
  naming the file;
- a feature whose geometry is null, empty, malformed, multi-part, of too few
  vertices, degenerate (all vertices equal), of the wrong type, or outside the
  lon/lat range is dropped with a ``BAD_GEOMETRY`` defect (layer, FACILITYID,
  what); a single-part ``MultiPoint``/``MultiLineString`` counts as its part;
- but a layer in which *no* feature has the class's geometry type while some
  have another type is the wrong file: ``ExportError``;
- a GeoJSON layer that declares a CRS other than WGS84 (old-style ``crs``
  member) gets a ``NON_WGS84`` defect and is transformed to WGS84; one without
  a declaration whose coordinates are mostly out of lon/lat range gets a
  ``NON_WGS84`` defect and is skipped; a Shapefile / GeoPackage layer in a
  projected CRS is simply transformed (that is what those formats are for);
- a missing CircuitSource, PrimaryConductor, Transformer or ServicePoint layer
  is a ``MISSING_LAYER`` defect; the other classes may be absent (empty layer);
- an export where no layer is found, or every layer found was unusable, is an
  ``ExportError``.

Zips are vetted member by member first (``gis_import.archive``). GeoJSON
members are read straight from the archive, capped. Shapefiles and GeoPackages
need GDAL, which could read them in place through ``/vsizip/``, but GDAL then
inflates the members itself, outside our size cap; so the vetted members are
copied (capped) into a temporary folder and read from there.
"""

from __future__ import annotations

import itertools
import math
import tempfile
import zipfile
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np
import orjson
import pyogrio
import pyogrio.errors
import pyproj
import shapely

from gis_import.archive import DEFAULT_MAX_UNCOMPRESSED_BYTES, ArchiveLimits, ArchiveReader
from gis_import.gcpause import gc_paused
from gis_import.layers import (
    CLASS_NAMES,
    LAYER_SPECS,
    LINE,
    POINT,
    WGS84,
    Export,
    FloatArray,
    IntArray,
    Layer,
    LayerSpec,
    canonical_class,
    offsets_from_counts,
)
from gis_import.report import Defect, DefectKind
from oms_bridge.errors import ExportError

__all__ = [
    "GEOJSON_SUFFIXES",
    "Progress",
    "layer_from_arrays",
    "parse_export",
    "parse_geojson",
    "read_export",
]

Progress = Callable[[str], None]
GEOJSON_SUFFIXES = (".geojson", ".json")
_NUMBER = frozenset({int, float})
_LIST = frozenset({list})
_DICT = frozenset({dict})
_WGS84_NAMES = frozenset(
    {
        "urn:ogc:def:crs:ogc:1.3:crs84", "urn:ogc:def:crs:ogc::crs84", "crs84", "ogc:crs84",
        "epsg:4326", "urn:ogc:def:crs:epsg::4326", "urn:ogc:def:crs:epsg:6.6:4326",
        "wgs84", "wgs 84",
    }
)
_BAD = DefectKind.BAD_GEOMETRY


# --------------------------------------------------------------------------- GeoJSON


def parse_geojson(name: str, data: bytes | str, source: str) -> tuple[Layer, list[Defect]]:
    """Parse one GeoJSON FeatureCollection of class ``name``.

    Returns the layer and its defects. A layer that cannot be placed in WGS84
    comes back empty with a ``NON_WGS84`` defect and ``usable`` False.
    Raises :class:`ExportError` naming ``source`` when the document is unusable.
    """
    spec = _spec(name, source)
    with gc_paused():
        return _parse_geojson(spec, data, source)


def _parse_geojson(spec: LayerSpec, data: bytes | str, source: str
                   ) -> tuple[Layer, list[Defect]]:
    try:
        doc = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise ExportError(f"invalid JSON ({exc})", file=source, layer=spec.name) from None
    if not isinstance(doc, dict) or doc.get("type") != "FeatureCollection":
        got = doc.get("type") if isinstance(doc, dict) else type(doc).__name__
        raise ExportError(f"not a GeoJSON FeatureCollection (type {got!r})",
                          file=source, layer=spec.name)
    features = doc.get("features")
    if not isinstance(features, list):
        raise ExportError("'features' is not a list", file=source, layer=spec.name)
    declared = _declared_crs(doc.get("crs"))
    defects: list[Defect] = []

    fast = _clean_features(features, spec)
    if fast is not None:
        props_list, xy, counts = fast
        bad: list[tuple[int, dict[str, Any], str]] = []
    else:
        props_list, xy, counts, bad = _any_features(features, spec, source)
    for i, props, problem in bad:
        fid = _id_value(_lookup(props, spec, "FACILITYID"))
        defects.append(Defect(_BAD, spec.name, fid, f"{problem} (feature #{i} in {source})"))
    del doc, features

    columns = _property_columns(props_list, spec)
    del props_list
    offsets = offsets_from_counts(counts) if spec.geom_type == LINE else None
    layer = layer_from_arrays(spec.name, source, columns, xy, offsets, crs=WGS84)
    layer.dropped = len(bad)
    if declared is not None and not _is_wgs84(declared):
        layer.crs = declared
    return _place_in_wgs84(layer, declared, defects, geojson=True)


def _clean_features(features: list[Any], spec: LayerSpec
                    ) -> tuple[list[dict[str, Any]], FloatArray, list[int]] | None:
    """Properties, coordinates and vertex counts when every feature is a plain
    well-formed Feature of the class's type with 2-D positions; else None.

    A handful of passes in C (comprehensions, ``map``, numpy) instead of one
    Python loop: the common case of a clean million-feature layer."""
    n = len(features)
    if not n or not _DICT.issuperset(map(type, features)):
        return None
    if any(f.get("type") != "Feature" for f in features):
        return None
    props_list = [f.get("properties") for f in features]
    if not _DICT.issuperset(map(type, props_list)):
        return None
    geoms = [f.get("geometry") for f in features]
    if not _DICT.issuperset(map(type, geoms)):
        return None
    want = spec.geom_type
    if any(g.get("type") != want for g in geoms):
        return None
    coords = [g.get("coordinates") for g in geoms]
    if not _LIST.issuperset(map(type, coords)):
        return None
    counts: list[int] = []
    if want == LINE:
        counts = list(map(len, coords))
        if min(counts) < 2:
            return None
        coords = list(itertools.chain.from_iterable(coords))
        if not _LIST.issuperset(map(type, coords)):
            return None
    if set(map(len, coords)) != {2}:
        return None
    if not _NUMBER.issuperset(map(type, itertools.chain.from_iterable(coords))):
        return None
    xy = np.array(coords, dtype=np.float64).reshape(-1, 2)
    return props_list, xy, counts


def _any_features(features: list[Any], spec: LayerSpec, source: str) -> tuple[
    list[dict[str, Any]], FloatArray, list[int], list[tuple[int, dict[str, Any], str]]
]:
    """Feature by feature: what :func:`_clean_features` gives for the sound
    ones, plus (index, properties, problem) for each unusable geometry."""
    props_list: list[dict[str, Any]] = []
    xs: list[Any] = []
    ys: list[Any] = []
    counts: list[int] = []
    wrong: Counter[str] = Counter()
    bad: list[tuple[int, dict[str, Any], str]] = []
    point = spec.geom_type == POINT
    multi = "Multi" + spec.geom_type
    for i, feat in enumerate(features):
        if type(feat) is not dict or feat.get("type") != "Feature":
            raise ExportError(f"feature #{i} is not a GeoJSON Feature",
                              file=source, layer=spec.name)
        props = feat.get("properties")
        if props is None:
            props = {}
        elif type(props) is not dict:
            raise ExportError(f"feature #{i}: 'properties' is not an object",
                              file=source, layer=spec.name)
        geom = feat.get("geometry")
        # the usual case first: a well-formed (or single-part multi) geometry
        if type(geom) is dict:
            gtype = geom.get("type")
            coords = geom.get("coordinates")
            if gtype == multi and type(coords) is list and len(coords) == 1:
                coords = coords[0]
                gtype = spec.geom_type
            if gtype == spec.geom_type:
                if point:
                    if (type(coords) is list and len(coords) >= 2
                            and type(coords[0]) in _NUMBER and type(coords[1]) in _NUMBER):
                        props_list.append(props)
                        xs.append(coords[0])
                        ys.append(coords[1])
                        continue
                elif (type(coords) is list and len(coords) >= 2
                      and _LIST.issuperset(map(type, coords))
                      and min(map(len, coords)) >= 2):
                    lx = [p[0] for p in coords]
                    ly = [p[1] for p in coords]
                    if _NUMBER.issuperset(map(type, lx)) and _NUMBER.issuperset(map(type, ly)):
                        props_list.append(props)
                        xs.extend(lx)
                        ys.extend(ly)
                        counts.append(len(coords))
                        continue
        problem = _geojson_geometry_problem(geom, spec.geom_type)
        if problem.startswith("a "):   # "a Polygon where ... expected"
            wrong[str(geom.get("type") if isinstance(geom, dict) else "?")] += 1
        bad.append((i, props, problem))

    if not props_list and wrong:
        found = ", ".join(f"{n} {t}" for t, n in sorted(wrong.items()))
        raise ExportError(f"wrong geometry type: {found}, no {spec.geom_type} at all",
                          file=source, layer=spec.name)
    x = np.asarray(xs, dtype=np.float64)
    y = np.asarray(ys, dtype=np.float64)
    xy = np.column_stack([x, y]) if len(x) else np.empty((0, 2), dtype=np.float64)
    return props_list, xy, counts, bad


def _geojson_geometry_problem(geom: Any, want: str) -> str:
    """Why a geometry that missed the fast path is unusable (a short phrase)."""
    if geom is None:
        return "no geometry"
    if not isinstance(geom, dict):
        return "malformed geometry (not an object)"
    gtype = geom.get("type")
    coords = geom.get("coordinates")
    if not isinstance(gtype, str):
        return "malformed geometry (no type)"
    if gtype == "GeometryCollection":
        return f"a GeometryCollection where {want} expected"
    if gtype not in _GEOJSON_TYPES:
        return f"malformed geometry (unknown type {gtype!r})"
    if gtype not in (want, "Multi" + want):
        return f"a {gtype} where {want} expected"
    if not isinstance(coords, list):
        return f"malformed {gtype} (no coordinate list)"
    if not coords:
        return f"empty {gtype}"
    if gtype.startswith("Multi"):
        return f"multi-part {gtype} with {len(coords)} parts"
    if want == POINT:
        return "malformed Point coordinates"
    if len(coords) < 2:
        return f"LineString with {len(coords)} vertex"
    return "malformed LineString coordinates"


_GEOJSON_TYPES = frozenset(
    {"Point", "MultiPoint", "LineString", "MultiLineString", "Polygon", "MultiPolygon"}
)


def _declared_crs(member: Any) -> str | None:
    """The CRS named by an old-style (GeoJSON 2008) ``crs`` member, or None."""
    if member is None:
        return None
    if isinstance(member, dict):
        props = member.get("properties")
        if isinstance(props, dict):
            if member.get("type") == "name" and isinstance(props.get("name"), str):
                return str(props["name"]).strip()
            if member.get("type") == "EPSG" and type(props.get("code")) is int:
                return f"EPSG:{props['code']}"
            if member.get("type") == "link":
                return f"link:{props.get('href')}"
    return f"unrecognized crs member {orjson.dumps(member).decode()[:80]}"


def _property_columns(props_list: list[dict[str, Any]], spec: LayerSpec) -> dict[str, list[Any]]:
    """Canonical attribute name -> values, from the features' properties."""
    keys: set[str] = set()
    first = props_list[0].keys() if props_list else {}.keys()
    for props in props_list:
        if props.keys() != first:
            keys.update(props)
    keys.update(first)
    by_canonical: dict[str, list[str]] = {}
    for key in keys:
        by_canonical.setdefault(spec.canonical(key), []).append(key)
    columns: dict[str, list[Any]] = {}
    for canonical, sources in by_canonical.items():
        # the exact canonical spelling first, then the others in a stable order
        sources.sort(key=lambda k: (k != canonical, k))
        col = [p.get(sources[0]) for p in props_list]
        for other in sources[1:]:
            col = [v if v is not None else p.get(other) for v, p in zip(col, props_list,
                                                                         strict=True)]
        columns[canonical] = col
    return columns


def _lookup(props: dict[str, Any], spec: LayerSpec, attr: str) -> Any:
    if attr in props:
        return props[attr]
    for key, value in props.items():
        if spec.canonical(key) == attr:
            return value
    return None


# --------------------------------------------------------------------------- shared


def layer_from_arrays(
    name: str,
    source: str,
    columns: dict[str, list[Any]],
    xy: FloatArray,
    offsets: IntArray | None,
    *,
    crs: str = WGS84,
) -> Layer:
    """A layer from decoded columns: cleans values (strings stripped, ``''`` and
    NaN -> None, FACILITYID as text) and fills absent spec attributes with None.
    ``xy`` holds points, or all line vertices when ``offsets`` is given."""
    spec = LAYER_SPECS[name]
    n = len(xy) if offsets is None else len(offsets) - 1
    attrs: dict[str, list[Any]] = {}
    for attr in spec.attributes:
        col = columns.get(attr)
        attrs[attr] = _clean(col) if col is not None else [None] * n
    for key, col in columns.items():
        if key not in attrs:
            attrs[key] = _clean(col)
    ids = [_id_value(v) for v in attrs["FACILITYID"]]
    attrs["FACILITYID"] = ids
    if offsets is None:
        return Layer(name, source, spec.geom_type, ids, attrs, xy=xy, crs=crs)
    return Layer(name, source, spec.geom_type, ids, attrs, coords=xy, offsets=offsets, crs=crs)


def _clean(col: list[Any]) -> list[Any]:
    return [
        (v.strip() or None) if type(v) is str
        else (None if type(v) is float and math.isnan(v) else v)
        for v in col
    ]


def _id_value(value: Any) -> str | None:
    if value is None:
        return None
    if type(value) is str:
        return value.strip() or None
    if type(value) is float:
        if not math.isfinite(value):
            return None
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, bool | int):
        return str(int(value)) if type(value) is not bool else str(value).lower()
    return orjson.dumps(value).decode()


def _spec(name: str, source: str) -> LayerSpec:
    cls = canonical_class(name)
    if cls is None:
        raise ExportError(f"unknown feature class {name!r}; valid: {', '.join(CLASS_NAMES)}",
                          file=source)
    return LAYER_SPECS[cls]


def _feature_rows(layer: Layer) -> IntArray:
    """Feature index of every coordinate row (xy for points, coords for lines)."""
    if layer.is_point:
        return np.arange(len(layer), dtype=np.int64)
    return np.repeat(np.arange(len(layer), dtype=np.int64), np.diff(layer.offsets))


def _rows_xy(layer: Layer) -> FloatArray:
    return layer.xy if layer.is_point else layer.coords


def _per_feature(layer: Layer, row_mask: Any) -> Any:
    """True for every feature with at least one row in ``row_mask``."""
    if layer.is_point:
        return np.asarray(row_mask, dtype=bool)
    hit = np.zeros(len(layer), dtype=bool)
    hit[_feature_rows(layer)[row_mask]] = True
    return hit


def _drop(layer: Layer, bad: Any, what: str, defects: list[Defect]) -> Layer:
    bad = np.asarray(bad, dtype=bool)
    if not bad.any():
        return layer
    for i in np.flatnonzero(bad).tolist():
        defects.append(Defect(_BAD, layer.name, layer.ids[i], f"{what} (in {layer.source})"))
    return layer.subset(~bad)


def _check_lines(layer: Layer, defects: list[Defect]) -> Layer:
    """Drop lines with fewer than 2 vertices or all vertices equal."""
    if layer.is_point or len(layer) == 0:
        return layer
    counts = np.diff(layer.offsets)
    layer = _drop(layer, counts < 2, "line with fewer than 2 vertices", defects)
    if len(layer) == 0:
        return layer
    first = np.repeat(layer.coords[layer.offsets[:-1]], np.diff(layer.offsets), axis=0)
    moves = np.any(layer.coords != first, axis=1)
    distinct = np.logical_or.reduceat(moves, layer.offsets[:-1])
    return _drop(layer, ~distinct, "degenerate line (all vertices coincide)", defects)


@lru_cache(maxsize=32)
def _crs(text: str) -> pyproj.CRS | None:
    """The pyproj CRS for ``text``; None when it is WGS84 lon/lat already."""
    if text.strip().lower() in _WGS84_NAMES:
        return None
    crs = pyproj.CRS.from_user_input(text)
    if not (crs.is_projected or crs.is_geographic):
        raise pyproj.exceptions.CRSError(f"{text} is neither projected nor geographic")
    if crs.equals(pyproj.CRS.from_epsg(4326), ignore_axis_order=True):
        return None
    return crs


def _is_wgs84(text: str) -> bool:
    try:
        return _crs(text) is None
    except pyproj.exceptions.CRSError:
        return False


@lru_cache(maxsize=32)
def _to_wgs84(crs_text: str) -> pyproj.Transformer:
    return pyproj.Transformer.from_crs(_crs(crs_text), WGS84, always_xy=True)


def _place_in_wgs84(
    layer: Layer, declared: str | None, defects: list[Defect], *, geojson: bool
) -> tuple[Layer, list[Defect]]:
    """Transform ``layer`` to lon/lat (or judge it unusable), then drop
    features with non-finite or out-of-range coordinates."""
    layer = _check_lines(layer, defects)
    transformer: pyproj.Transformer | None = None
    if declared is not None:
        try:
            if _crs(declared) is not None:
                transformer = _to_wgs84(declared)
        except (pyproj.exceptions.CRSError, pyproj.exceptions.ProjError):
            defects.append(Defect(DefectKind.NON_WGS84, layer.name, None,
                                  f"{layer.source} declares CRS {declared!r}, which is not "
                                  "understood; coordinates taken as WGS84"))
    rows = _rows_xy(layer)
    finite = np.isfinite(rows).all(axis=1)
    if transformer is not None:
        if geojson:
            defects.append(Defect(DefectKind.NON_WGS84, layer.name, None,
                                  f"{layer.source} declares CRS {declared} instead of WGS84 "
                                  "(RFC 7946); transformed to WGS84"))
        lon, lat = transformer.transform(rows[:, 0], rows[:, 1], errcheck=False)
        rows[:, 0] = lon
        rows[:, 1] = lat
        finite = np.isfinite(rows).all(axis=1)
    layer = _drop(layer, ~_per_feature(layer, finite), "non-finite coordinates", defects)
    rows = _rows_xy(layer)
    outside = (np.abs(rows[:, 0]) > 180.0) | (np.abs(rows[:, 1]) > 90.0)
    bad = _per_feature(layer, outside)
    if len(layer) and transformer is None and bad.sum() * 2 > len(layer):
        swapped = (np.abs(rows[:, 1]) <= 180.0) & (np.abs(rows[:, 0]) <= 90.0)
        hint = " (they look like lat, lon: GeoJSON wants lon, lat)" if swapped.all() else ""
        defects.append(Defect(
            DefectKind.NON_WGS84, layer.name, None,
            f"{layer.source}: {int(bad.sum())} of {len(layer)} features have coordinates "
            f"outside the lon/lat range{hint} and no usable CRS is declared; layer skipped",
        ))
        empty = Layer(layer.name, layer.source, layer.geom_type,
                      attrs={a: [] for a in LAYER_SPECS[layer.name].attributes},
                      crs=layer.crs, dropped=layer.dropped + len(layer), usable=False)
        return empty, defects
    layer = _drop(layer, bad, "coordinates outside the lon/lat range", defects)
    return layer, defects


# --------------------------------------------------------------------------- OGR


def _read_ogr_layer(path: str, layer_name: str | None, cls: str, source: str
                    ) -> tuple[Layer, list[Defect]]:
    """One GeoPackage / Shapefile layer via pyogrio, geometry decoded with shapely."""
    spec = LAYER_SPECS[cls]
    try:
        meta, _, wkb, field_data = pyogrio.raw.read(path, layer=layer_name)
    except (pyogrio.errors.DataSourceError, pyogrio.errors.DataLayerError,
            pyogrio.errors.FieldError, pyogrio.errors.GeometryError, OSError) as exc:
        raise ExportError(f"cannot read layer ({exc})", file=source, layer=cls) from None
    columns: dict[str, list[Any]] = {}
    for field_name, values in zip(meta["fields"], field_data, strict=True):
        canonical = spec.canonical(str(field_name))
        if canonical in columns and canonical != field_name:
            continue    # e.g. both NORMALSTAT and NORMALSTATUS: the full name wins
        columns[canonical] = values.tolist()
    defects: list[Defect] = []
    geoms = shapely.from_wkb(wkb, on_invalid="ignore")
    n = len(geoms)
    type_id = shapely.get_type_id(geoms)
    want = 0 if spec.geom_type == POINT else 1
    multi = want + 4
    nparts = shapely.get_num_geometries(geoms)
    is_multi1 = (type_id == multi) & (nparts == 1)
    if is_multi1.any():
        geoms[is_multi1] = shapely.get_geometry(geoms[is_multi1], 0)
        type_id = np.where(is_multi1, want, type_id)
    ok_type = type_id == want
    empty = np.zeros(n, dtype=bool)
    empty[ok_type] = shapely.is_empty(geoms[ok_type])
    good = ok_type & ~empty
    if n and not good.any() and np.any(type_id >= 0) and not ok_type.any():
        names = Counter(_OGR_TYPES.get(int(t), str(t)) for t in type_id if t >= 0)
        found = ", ".join(f"{c} {t}" for t, c in sorted(names.items()))
        raise ExportError(f"wrong geometry type: {found}, no {spec.geom_type} at all",
                          file=source, layer=cls)
    fid_col = columns.get("FACILITYID")
    for i in np.flatnonzero(~good).tolist():
        t = int(type_id[i])
        if wkb[i] is None:
            what = "no geometry"
        elif t < 0:
            what = "unreadable geometry (invalid WKB)"
        elif t == multi:
            what = f"multi-part {_OGR_TYPES[t]} with {int(nparts[i])} parts"
        elif t != want:
            what = f"a {_OGR_TYPES.get(t, str(t))} where {spec.geom_type} expected"
        else:
            what = f"empty {spec.geom_type}"
        fid = _id_value(fid_col[i]) if fid_col is not None else None
        defects.append(Defect(_BAD, cls, fid, f"{what} (feature #{i} in {source})"))
    if not good.all():
        keep = np.flatnonzero(good).tolist()
        columns = {k: [v[i] for i in keep] for k, v in columns.items()}
        geoms = geoms[good]
    coords, index = shapely.get_coordinates(geoms, return_index=True)
    coords = np.ascontiguousarray(coords, dtype=np.float64)
    offsets: IntArray | None = None
    if spec.geom_type == LINE:
        offsets = offsets_from_counts(np.bincount(index, minlength=len(geoms)))
    crs_text = meta.get("crs")
    layer = layer_from_arrays(cls, source, columns, coords, offsets,
                              crs=str(crs_text) if crs_text else WGS84)
    layer.dropped = int((~good).sum())
    return _place_in_wgs84(layer, str(crs_text) if crs_text else None, defects, geojson=False)


_OGR_TYPES = {0: "Point", 1: "LineString", 2: "LinearRing", 3: "Polygon", 4: "MultiPoint",
              5: "MultiLineString", 6: "MultiPolygon", 7: "GeometryCollection"}


# --------------------------------------------------------------------------- export


@dataclass
class _Catalog:
    """Which files of a folder or archive hold which class."""

    format: str                       # "geojson", "gpkg" or "shapefile"
    files: dict[str, str]             # class -> relative path (gpkg: "" -> path)
    companions: dict[str, list[str]]  # shapefile class -> its .shx/.dbf/.prj/.cpg


def _catalog(names: Iterable[str], source: str) -> _Catalog:
    geojson: dict[str, list[str]] = {}
    shp: dict[str, list[str]] = {}
    gpkg: list[str] = []
    by_stem: dict[tuple[str, str], list[str]] = {}
    for name in names:
        path = PurePosixPath(name)
        if path.name.startswith(".") or "__MACOSX" in path.parts:
            continue
        suffix = path.suffix.lower()
        cls = canonical_class(path.stem)
        by_stem.setdefault((str(path.parent).lower(), path.stem.lower()), []).append(name)
        if suffix in GEOJSON_SUFFIXES and cls:
            geojson.setdefault(cls, []).append(name)
        elif suffix == ".shp" and cls:
            shp.setdefault(cls, []).append(name)
        elif suffix == ".gpkg":
            gpkg.append(name)
    for found in (geojson, shp):
        for cls, paths in found.items():
            if len(paths) > 1:
                raise ExportError(f"more than one file for {cls}: {', '.join(sorted(paths))}",
                                  file=source)
    if geojson:
        return _Catalog("geojson", {c: p[0] for c, p in geojson.items()}, {})
    if gpkg:
        if len(gpkg) > 1:
            raise ExportError(f"more than one GeoPackage: {', '.join(sorted(gpkg))}",
                              file=source)
        return _Catalog("gpkg", {"": gpkg[0]}, {})
    if shp:
        companions: dict[str, list[str]] = {}
        for cls, (shp_name,) in shp.items():
            pp = PurePosixPath(shp_name)
            siblings = by_stem.get((str(pp.parent).lower(), pp.stem.lower()), [])
            companions[cls] = [s for s in siblings if s != shp_name
                               and PurePosixPath(s).suffix.lower() in _SHP_PARTS]
        return _Catalog("shapefile", {c: p[0] for c, p in shp.items()}, companions)
    raise ExportError(
        "no layer found: expected <Class>.geojson files, one .gpkg, or <Class>.shp files "
        f"for the classes {', '.join(CLASS_NAMES)}",
        file=source,
    )


_SHP_PARTS = frozenset({".shx", ".dbf", ".prj", ".cpg"})


def parse_export(source: str, layers: Iterable[tuple[str, Layer, list[Defect]]],
                 *, format: str = "geojson") -> Export:
    """Assemble parsed layers into an export: keeps usable layers, adds
    ``MISSING_LAYER`` defects and empty optional layers, sets the CRS."""
    export = Export(source, format=format)
    seen: set[str] = set()
    crs: list[str] = []
    for cls, layer, defects in layers:
        seen.add(cls)
        export.defects.extend(defects)
        crs.append(layer.crs)
        if layer.usable:
            export.layers[cls] = layer
    if not seen:
        raise ExportError("no layer found", file=source)
    if not export.layers:
        raise ExportError("no usable layer: every layer was skipped (see defects: "
                          + "; ".join(d.message for d in export.defects[:3]) + ")",
                          file=source)
    for cls in CLASS_NAMES:
        if cls in seen:
            continue
        spec = LAYER_SPECS[cls]
        if spec.required_layer:
            export.defects.append(Defect(DefectKind.MISSING_LAYER, cls, None,
                                         f"{source} has no {cls} layer"))
        else:
            export.layers[cls] = export.layer(cls)
    distinct = sorted(set(crs))
    export.crs = distinct[0] if len(distinct) == 1 else ", ".join(distinct)
    ordered = {c: export.layers[c] for c in CLASS_NAMES if c in export.layers}
    export.layers = ordered
    return export


def read_export(
    path: str | Path,
    *,
    max_uncompressed_bytes: int = DEFAULT_MAX_UNCOMPRESSED_BYTES,
    progress: Progress | None = None,
) -> Export:
    """Read a GIS export: a folder, a ``.zip`` or a ``.gpkg`` (see module doc)."""
    p = Path(path)
    say: Progress = progress or _quiet
    if p.is_dir():
        folder = _export_folder(p)
        names = [f.name for f in folder.iterdir() if f.is_file()]
        cat = _catalog(names, str(p))
        return _read_plain(folder, cat, str(p), say)
    if not p.is_file():
        raise ExportError("no such file or folder", file=str(p))
    if p.suffix.lower() == ".zip" or zipfile.is_zipfile(p):
        limits = ArchiveLimits(max_uncompressed_bytes=max_uncompressed_bytes)
        with ArchiveReader(p, limits) as archive:
            return _read_archive(archive, str(p), say)
    if p.suffix.lower() == ".gpkg" or _is_sqlite(p):
        return _read_gpkg(str(p), p.name, str(p), say)
    raise ExportError("not an export: expected a folder, a .zip or a .gpkg", file=str(p))


def _quiet(_: str) -> None:
    return None


def _is_sqlite(p: Path) -> bool:
    with p.open("rb") as fh:
        return fh.read(16) == b"SQLite format 3\x00"


def _export_folder(p: Path) -> Path:
    """``p``, or its only sub-folder when ``p`` holds no layer file itself."""
    entries = [e for e in p.iterdir() if not e.name.startswith(".")]
    known = {".shp", ".gpkg", *GEOJSON_SUFFIXES}
    if any(e.is_file() and e.suffix.lower() in known for e in entries):
        return p
    dirs = [e for e in entries if e.is_dir() and e.name != "__MACOSX"]
    return dirs[0] if len(dirs) == 1 else p


def _size(n: int) -> str:
    if n >= 1024 * 1024:
        return f"{n / 1024 / 1024:.1f} MB"
    return f"{max(1, round(n / 1024))} KB"


def _read_plain(folder: Path, cat: _Catalog, source: str, say: Progress) -> Export:
    if cat.format == "gpkg":
        f = folder / cat.files[""]
        return _read_gpkg(str(f), f.name, source, say)
    if cat.format == "shapefile":
        return _read_shapefiles({c: folder / n for c, n in cat.files.items()}, source, say)

    def layers() -> Iterator[tuple[str, Layer, list[Defect]]]:
        for cls in CLASS_NAMES:
            name = cat.files.get(cls)
            if name is None:
                continue
            f = folder / name
            try:
                data = f.read_bytes()
            except OSError as exc:
                raise ExportError(f"cannot read ({exc.strerror})", file=name) from None
            say(f"reading {name} ({_size(len(data))})")
            layer, defects = parse_geojson(cls, data, name)
            yield cls, layer, defects

    return parse_export(source, layers(), format="geojson")


def _read_archive(archive: ArchiveReader, source: str, say: Progress) -> Export:
    cat = _catalog(archive.names(), archive.source)
    if cat.format == "geojson":
        def layers() -> Iterator[tuple[str, Layer, list[Defect]]]:
            for cls in CLASS_NAMES:
                name = cat.files.get(cls)
                if name is None:
                    continue
                where = f"{archive.source}!{name}"
                say(f"reading {where} ({_size(archive.info(name).file_size)})")
                layer, defects = parse_geojson(cls, archive.read(name), where)
                yield cls, layer, defects

        return parse_export(source, layers(), format="geojson")
    with tempfile.TemporaryDirectory(prefix="gis-import-") as tmp:
        wanted = list(cat.files.values())
        for extra in cat.companions.values():
            wanted.extend(extra)
        say(f"extracting {len(wanted)} files from {archive.source}")
        extracted = archive.extract(wanted, Path(tmp))
        if cat.format == "gpkg":
            f = extracted[cat.files[""]]
            return _read_gpkg(str(f), f"{archive.source}!{cat.files['']}", source, say)
        return _read_shapefiles(
            {c: extracted[n] for c, n in cat.files.items()}, source, say,
            label=lambda f: f"{archive.source}!{_member_of(cat, f.name)}",
        )


def _member_of(cat: _Catalog, base: str) -> str:
    for name in cat.files.values():
        if PurePosixPath(name).name == base:
            return name
    return base


def _read_gpkg(path: str, label: str, source: str, say: Progress) -> Export:
    try:
        listed = pyogrio.list_layers(path)
    except (pyogrio.errors.DataSourceError, OSError) as exc:
        raise ExportError(f"not a readable GeoPackage ({exc})", file=label) from None
    found: dict[str, str] = {}
    for row in listed:
        cls = canonical_class(str(row[0]))
        if cls is None:
            continue
        if cls in found:
            raise ExportError(f"more than one layer for {cls}: {found[cls]}, {row[0]}",
                              file=label)
        found[cls] = str(row[0])
    if not found:
        raise ExportError(f"no layer named after a class ({', '.join(CLASS_NAMES)})",
                          file=label)

    def layers() -> Iterator[tuple[str, Layer, list[Defect]]]:
        for cls in CLASS_NAMES:
            if cls in found:
                where = f"{label}:{found[cls]}"
                say(f"reading {where} ({_feature_count(path, found[cls])} features)")
                layer, defects = _read_ogr_layer(path, found[cls], cls, where)
                yield cls, layer, defects

    return parse_export(source, layers(), format="gpkg")


def _feature_count(path: str, layer: str) -> str:
    try:
        return f"{int(pyogrio.read_info(path, layer=layer)['features']):,}"
    except (pyogrio.errors.DataSourceError, pyogrio.errors.DataLayerError, KeyError,
            TypeError, ValueError):
        return "?"


def _read_shapefiles(files: dict[str, Path], source: str, say: Progress,
                     label: Callable[[Path], str] | None = None) -> Export:
    def layers() -> Iterator[tuple[str, Layer, list[Defect]]]:
        for cls in CLASS_NAMES:
            f = files.get(cls)
            if f is None:
                continue
            where = label(f) if label else f.name
            say(f"reading {where} ({_size(f.stat().st_size)})")
            layer, defects = _read_ogr_layer(str(f), None, cls, where)
            yield cls, layer, defects

    return parse_export(source, layers(), format="shapefile")
