"""GeoPackage and Shapefile exports read like the GeoJSON they came from.

Round trips through ``gis_import.convert``: GeoJSON folder -> GeoPackage (WGS84
or UTM) and -> zipped Shapefiles in UTM 15N and NC State Plane feet, read back
with the same ids and attributes and coordinates within 1e-7 degrees (~1 cm).
"""

from __future__ import annotations

import shutil
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pyogrio
import pyogrio.raw
import pytest
import shapely

from gis_import.convert import write_geopackage, write_shapefile_zip
from gis_import.layers import Export
from gis_import.readers import read_export
from oms_bridge.errors import ExportError

CASES = Path(__file__).resolve().parents[1] / "data" / "exports"
TINY = CASES / "valid" / "tiny"
DEG_TOL = 1e-7


def assert_same_export(a: Export, b: Export, tol: float = DEG_TOL) -> None:
    assert a.counts() == b.counts()
    for name, la in a.layers.items():
        lb = b.layers[name]
        assert la.ids == lb.ids, name
        assert la.attrs == lb.attrs, name
        if la.is_point:
            np.testing.assert_allclose(lb.xy, la.xy, rtol=0, atol=tol)
        else:
            np.testing.assert_array_equal(lb.offsets, la.offsets)
            np.testing.assert_allclose(lb.coords, la.coords, rtol=0, atol=tol)
        lb.check()


@pytest.fixture(scope="module")
def tiny() -> Export:
    return read_export(TINY)


@pytest.mark.parametrize("crs", ["EPSG:4326", "EPSG:32615"])
def test_geopackage_round_trip(tiny: Export, tmp_path: Path, crs: str) -> None:
    gpkg = write_geopackage(TINY, tmp_path / "tiny.gpkg", crs=crs)
    back = read_export(gpkg)
    assert back.format == "gpkg"
    assert back.crs == crs
    assert back.defects == []
    assert_same_export(tiny, back, tol=0.0 if crs == "EPSG:4326" else DEG_TOL)
    assert back.layers["Fuse"].source == "tiny.gpkg:Fuse"


@pytest.mark.parametrize("crs", ["EPSG:32615", "EPSG:2264", "EPSG:4326"])
def test_shapefile_zip_round_trip(tiny: Export, tmp_path: Path, crs: str) -> None:
    archive = write_shapefile_zip(TINY, tmp_path / "tiny.zip", crs=crs)
    with zipfile.ZipFile(archive) as zf:
        names = zf.namelist()
    assert "tiny/ServicePoint.shp" in names
    assert {"tiny/Fuse.dbf", "tiny/Fuse.shx", "tiny/Fuse.prj"} <= set(names)
    said: list[str] = []
    back = read_export(archive, progress=said.append)
    assert back.format == "shapefile"
    assert back.crs == crs
    assert back.defects == []
    assert_same_export(tiny, back)
    assert back.layers["Fuse"].source == "tiny.zip!tiny/Fuse.shp"
    assert said[0] == "extracting 40 files from tiny.zip"


def test_shapefiles_have_arcgis_field_names_and_blank_nulls(tmp_path: Path) -> None:
    archive = write_shapefile_zip(TINY, tmp_path / "tiny.zip", crs="EPSG:2264")
    with zipfile.ZipFile(archive) as zf:
        zf.extractall(tmp_path)
    info = pyogrio.read_info(tmp_path / "tiny" / "ServicePoint.shp")
    assert list(info["fields"]) == ["FACILITYID", "METERNUMBE", "METERTYPE", "TRANSFORME"]
    assert "NORMALSTAT" in list(pyogrio.read_info(tmp_path / "tiny" / "Switch.shp")["fields"])
    assert "PHASEDESIG" in list(pyogrio.read_info(tmp_path / "tiny" / "Transformer.shp")["fields"])
    assert "CONSTRUCTI" in list(
        pyogrio.read_info(tmp_path / "tiny" / "PrimaryConductor.shp")["fields"])
    dbf = (tmp_path / "tiny" / "ServicePoint.dbf").read_bytes()
    assert b"M000000001" in dbf
    assert b"\x00" not in dbf[dbf.index(b"\r") + 1:-1]   # records hold blanks, not nulls
    assert "EPSG:2264" in str(info["crs"]) or "North_Carolina" in str(info["crs"])


def test_shapefile_folder_and_gpkg_in_zip(tiny: Export, tmp_path: Path) -> None:
    archive = write_shapefile_zip(TINY, tmp_path / "tiny.zip", crs="EPSG:32615", folder="")
    folder = tmp_path / "shp"
    with zipfile.ZipFile(archive) as zf:
        zf.extractall(folder)
    assert_same_export(tiny, read_export(folder))
    gpkg = write_geopackage(TINY, tmp_path / "tiny.gpkg")
    with zipfile.ZipFile(tmp_path / "gpkg.zip", "w") as zf:
        zf.write(gpkg, "nested/Export.GPKG")
    back = read_export(tmp_path / "gpkg.zip")
    assert back.layers["Fuse"].source == "gpkg.zip!nested/Export.GPKG:Fuse"
    assert_same_export(tiny, back, tol=0.0)
    # a folder holding just the GeoPackage
    (tmp_path / "g").mkdir()
    shutil.copy(gpkg, tmp_path / "g" / "x.gpkg")
    assert_same_export(tiny, read_export(tmp_path / "g"), tol=0.0)


def _write_points(path: Path, geoms: list[shapely.Geometry | None], ids: list[str],
                  crs: str | None, *, layer: str | None = None, driver: str | None = None,
                  geometry_type: str = "Point") -> None:
    wkb = np.array([None if g is None else shapely.to_wkb(g) for g in geoms], dtype=object)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)   # field name laundering
        warnings.simplefilter("ignore", UserWarning)      # "'crs' was not provided"
        pyogrio.raw.write(str(path), wkb, [np.array(ids, dtype=object),
                                           np.array(["Closed"] * len(ids), dtype=object)],
                          ["FACILITYID", "NORMALSTATUS"], layer=layer, driver=driver,
                          geometry_type=geometry_type, crs=crs)


def _shapefile_export(tmp_path: Path) -> Path:
    """The tiny export as Shapefiles in WGS84 (to be edited by a test)."""
    archive = write_shapefile_zip(TINY, tmp_path / "tiny.zip", crs="EPSG:4326", folder="")
    folder = tmp_path / "shp"
    with zipfile.ZipFile(archive) as zf:
        zf.extractall(folder)
    return folder


def test_shapefile_without_prj(tmp_path: Path) -> None:
    folder = _shapefile_export(tmp_path)
    (folder / "Fuse.prj").unlink()
    export = read_export(folder)
    assert export.defects == []          # lon/lat values: taken as WGS84
    assert export.layers["Fuse"].crs == "EPSG:4326"
    for part in folder.glob("Switch.*"):
        part.unlink()
    _write_points(folder / "Switch.shp", [shapely.Point(500000.0, 4600000.0)], ["SW-1"], None)
    export = read_export(folder)
    assert "Switch" not in export.layers
    assert [d.to_dict() for d in export.defects] == [{
        "kind": "non_wgs84", "layer": "Switch", "facility_id": None,
        "message": "Switch.shp: 1 of 1 features have coordinates outside the lon/lat range "
                   "and no usable CRS is declared; layer skipped"}]


def _gpkg_without(tmp_path: Path, cls: str) -> Path:
    """The tiny export as a GeoPackage lacking layer ``cls`` (for a test to add)."""
    folder = tmp_path / "src"
    shutil.copytree(TINY, folder)
    (folder / f"{cls}.geojson").unlink()
    return write_geopackage(folder, tmp_path / "tiny.gpkg")


def test_ogr_bad_geometries(tmp_path: Path) -> None:
    gpkg = _gpkg_without(tmp_path, "Fuse")
    geoms = [
        shapely.Point(-93.697, 41.6),
        None,
        shapely.Point(),
        shapely.Polygon([(0, 0), (1, 0), (1, 1)]),
        shapely.MultiPoint([(-93.697, 41.6), (-93.6971, 41.6)]),
        shapely.MultiPoint([(-93.6972, 41.6)]),
        shapely.Point(-93.697, 95.0),
    ]
    ids = [f"FUSE-{i}" for i in range(len(geoms))]
    _write_points(gpkg, geoms, ids, "EPSG:4326", layer="FUSE", driver="GPKG",
                  geometry_type="Unknown")
    export = read_export(gpkg)
    fuse = export.layers["Fuse"]
    assert fuse.ids == ["FUSE-0", "FUSE-5"]
    np.testing.assert_array_equal(fuse.xy, [[-93.697, 41.6], [-93.6972, 41.6]])
    assert fuse.attrs["NORMALSTATUS"] == ["Closed", "Closed"]
    assert fuse.attrs["RATING"] == [None, None]
    assert fuse.dropped == 5
    src = "tiny.gpkg:FUSE"
    assert [(d.kind.value, d.layer, d.facility_id, d.message) for d in export.defects] == [
        ("bad_geometry", "Fuse", "FUSE-1", f"no geometry (feature #1 in {src})"),
        ("bad_geometry", "Fuse", "FUSE-2", f"empty Point (feature #2 in {src})"),
        ("bad_geometry", "Fuse", "FUSE-3",
         f"a Polygon where Point expected (feature #3 in {src})"),
        ("bad_geometry", "Fuse", "FUSE-4",
         f"multi-part MultiPoint with 2 parts (feature #4 in {src})"),
        ("bad_geometry", "Fuse", "FUSE-6", f"coordinates outside the lon/lat range (in {src})"),
    ]


def test_ogr_wrong_geometry_type_is_an_error(tmp_path: Path) -> None:
    folder = _shapefile_export(tmp_path)
    for part in folder.glob("Fuse.*"):
        part.unlink()
    square = shapely.Polygon([(-93.7, 41.6), (-93.69, 41.6), (-93.69, 41.61)])
    _write_points(folder / "Fuse.shp", [square, square], ["F-1", "F-2"], "EPSG:4326",
                  geometry_type="Polygon")
    with pytest.raises(ExportError) as info:
        read_export(folder)
    assert info.value.file == "Fuse.shp"
    assert info.value.reason == "wrong geometry type: 2 Polygon, no Point at all"


@pytest.mark.filterwarnings("ignore:GPKG. bad application_id:RuntimeWarning")
def test_gpkg_problems(tmp_path: Path) -> None:
    junk = tmp_path / "junk.gpkg"
    junk.write_bytes(b"SQLite format 3\x00" + bytes(200))
    with pytest.raises(ExportError) as info:
        read_export(junk)
    assert info.value.file == "junk.gpkg"
    other = tmp_path / "other.gpkg"
    _write_points(other, [shapely.Point(0, 0)], ["X"], "EPSG:4326", layer="Poles",
                  driver="GPKG")
    with pytest.raises(ExportError, match="no layer named after a class"):
        read_export(other)
    some = tmp_path / "some.gpkg"
    _write_points(some, [shapely.Point(-93.7, 41.6)], ["SW-1"], "EPSG:4326", layer="switch",
                  driver="GPKG")
    export = read_export(some)
    assert export.layers["Switch"].ids == ["SW-1"]
    assert [d.layer for d in export.defects] == [
        "CircuitSource", "PrimaryConductor", "Transformer", "ServicePoint"]
    assert {d.kind.value for d in export.defects} == {"missing_layer"}


def test_not_an_export(tmp_path: Path) -> None:
    with pytest.raises(ExportError) as info:
        read_export(tmp_path / "nowhere")
    assert info.value.reason == "no such file or folder"
    text = tmp_path / "export.txt"
    text.write_text("hello")
    with pytest.raises(ExportError, match=r"expected a folder, a \.zip or a \.gpkg"):
        read_export(text)


def test_export_in_a_single_subfolder(tiny: Export, tmp_path: Path) -> None:
    shutil.copytree(TINY, tmp_path / "outer" / "inner")
    assert_same_export(tiny, read_export(tmp_path / "outer"), tol=0.0)
