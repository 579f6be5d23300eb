"""Convert a GeoJSON export folder into a GeoPackage or zipped Shapefiles.

Test and demo support: it proves the readers give the same layers whatever the
format. Features are copied as they are (null geometries and all), optionally
reprojected into a projected CRS (UTM, State Plane feet). Shapefiles get what
ArcGIS writes: field names cut to 10 characters and ``''`` for a null string.
Written with ``pyogrio.raw.write``, no geopandas.
"""

from __future__ import annotations

import tempfile
import warnings
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import orjson
import pyogrio.raw
import pyproj
import shapely

from gis_import.layers import CLASS_NAMES, LAYER_SPECS, WGS84, canonical_class, shapefile_field_name

__all__ = ["read_geojson_folder", "write_geopackage", "write_shapefile_zip"]


@dataclass
class _RawLayer:
    name: str
    geometry: npt.NDArray[np.object_]        # shapely geometries or None
    fields: list[str]
    columns: list[list[Any]]


def read_geojson_folder(export_dir: str | Path) -> list[_RawLayer]:
    """The ``<Class>.geojson`` files of ``export_dir`` as raw columns, in class order."""
    folder = Path(export_dir)
    found: dict[str, Path] = {}
    for f in sorted(folder.iterdir()):
        cls = canonical_class(f.stem)
        if cls and f.suffix.lower() in (".geojson", ".json"):
            found[cls] = f
    if not found:
        raise FileNotFoundError(f"no <Class>.geojson file in {folder}")
    out = []
    for cls in CLASS_NAMES:
        if cls in found:
            out.append(_raw_layer(cls, orjson.loads(found[cls].read_bytes())))
    return out


def _raw_layer(cls: str, doc: dict[str, Any]) -> _RawLayer:
    features = doc["features"]
    fields: dict[str, None] = {}
    for feat in features:
        fields.update(dict.fromkeys(feat.get("properties") or {}))
    columns = [[(f.get("properties") or {}).get(k) for f in features] for k in fields]
    texts = np.array(
        [orjson.dumps(f["geometry"]) if f.get("geometry") else None for f in features],
        dtype=object,
    )
    geometry = shapely.from_geojson(texts) if len(texts) else np.empty(0, dtype=object)
    return _RawLayer(cls, np.asarray(geometry, dtype=object), list(fields), columns)


def _column_array(values: list[Any], *, shapefile: bool) -> npt.NDArray[Any]:
    """A typed column: float64 (NaN for null) when every value is a number,
    else text (None for null, or ``''`` in a Shapefile)."""
    present = [v for v in values if v is not None]
    if present and all(type(v) in (int, float) for v in present):
        if all(type(v) is int for v in values):
            return np.asarray(values, dtype=np.int64)
        return np.asarray([np.nan if v is None else float(v) for v in values], dtype=np.float64)
    null = "" if shapefile else None
    return np.asarray(
        [null if v is None else v if isinstance(v, str) else orjson.dumps(v).decode()
         for v in values],
        dtype=object,
    )


def _project(geometry: npt.NDArray[np.object_], crs: str) -> npt.NDArray[np.object_]:
    if pyproj.CRS.from_user_input(crs).equals(pyproj.CRS.from_epsg(4326), ignore_axis_order=True):
        return geometry
    transformer = pyproj.Transformer.from_crs(WGS84, crs, always_xy=True)

    def forward(x: Any, y: Any) -> Any:
        return transformer.transform(x, y)

    return np.asarray(shapely.transform(geometry, forward, interleaved=False), dtype=object)


def _geometry_type(layer: _RawLayer) -> str:
    """The class's type, or "Unknown" when features mix types (GeoPackage only)."""
    want = LAYER_SPECS[layer.name].geom_type
    present = layer.geometry[~shapely.is_missing(layer.geometry)]
    kinds = set(shapely.get_type_id(present).tolist())
    wanted_id = 0 if want == "Point" else 1
    return want if kinds <= {wanted_id} else "Unknown"


def _write(path: Path, layer: _RawLayer, crs: str, *, driver: str, shapefile: bool,
           layer_name: str | None) -> None:
    geometry = _project(layer.geometry, crs)
    wkb = np.asarray(shapely.to_wkb(geometry), dtype=object)
    fields = [shapefile_field_name(f) if shapefile else f for f in layer.fields]
    if len(set(fields)) != len(fields):
        raise ValueError(f"{layer.name}: field names collide once cut to 10 characters: {fields}")
    arrays = [_column_array(c, shapefile=shapefile) for c in layer.columns]
    geometry_type = _geometry_type(layer)
    if shapefile and geometry_type == "Unknown":
        raise ValueError(f"{layer.name}: mixed geometry types cannot go in a Shapefile")
    with warnings.catch_warnings():
        # the Shapefile driver "launders" long names; we cut them ourselves
        warnings.simplefilter("ignore", RuntimeWarning)
        pyogrio.raw.write(
            str(path), wkb, arrays, fields, layer=layer_name, driver=driver,
            geometry_type=geometry_type, crs=crs, encoding="UTF-8",
        )


def write_geopackage(export_dir: str | Path, out_path: str | Path,
                     crs: str = WGS84) -> Path:
    """Write the GeoJSON export in ``export_dir`` as one GeoPackage, a layer per class."""
    out = Path(out_path)
    out.unlink(missing_ok=True)
    for layer in read_geojson_folder(export_dir):
        _write(out, layer, crs, driver="GPKG", shapefile=False, layer_name=layer.name)
    return out


def write_shapefile_zip(export_dir: str | Path, out_zip: str | Path,
                        crs: str = "EPSG:32615", *, folder: str | None = None) -> Path:
    """Write the GeoJSON export in ``export_dir`` as zipped Shapefiles in ``crs``,
    inside a sub-folder of the zip (``folder``, default the export folder's name)."""
    out = Path(out_zip)
    inner = folder if folder is not None else Path(export_dir).resolve().name
    with tempfile.TemporaryDirectory(prefix="gis-convert-") as tmp:
        for layer in read_geojson_folder(export_dir):
            _write(Path(tmp) / f"{layer.name}.shp", layer, crs, driver="ESRI Shapefile",
                   shapefile=True, layer_name=None)
        with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            for f in sorted(Path(tmp).iterdir()):
                zf.write(f, f"{inner}/{f.name}" if inner else f.name)
    return out
