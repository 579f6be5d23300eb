"""Every shared feeder reads cleanly in every format, with the same content.

The GeoJSON folder is the reference; its zip, a GeoPackage (WGS84 and
projected) and zipped Shapefiles in a local projected CRS (UTM or State Plane
feet) must give the same ids and attributes, coordinates within 1e-7 degrees,
and no defect. Skips where ``../shared`` is absent.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pytest

from gis_import.convert import write_geopackage, write_shapefile_zip
from gis_import.layers import CLASS_NAMES, Export
from gis_import.readers import read_export
from tests.conftest import FEEDER_NAMES

pytestmark = pytest.mark.shared

#: a projected CRS local to each feeder's origin (see ../shared/feeders/README.md)
LOCAL_CRS = {
    "ckt5": "EPSG:32615",     # UTM 15N, Des Moines IA
    "ckt7": "EPSG:32611",     # UTM 11N, Spokane WA
    "ckt24": "EPSG:2274",     # NAD83 / Tennessee (ftUS), Knoxville TN
    "ieee8500": "EPSG:2264",  # NAD83 / North Carolina (ftUS), Raleigh NC
}


def _same(a: Export, b: Export, tol: float) -> None:
    assert list(a.layers) == list(b.layers) == list(CLASS_NAMES)
    for name, la in a.layers.items():
        lb = b.layers[name]
        assert la.ids == lb.ids, name
        assert la.attrs == lb.attrs, name
        got, want = (lb.xy, la.xy) if la.is_point else (lb.coords, la.coords)
        if not la.is_point:
            np.testing.assert_array_equal(lb.offsets, la.offsets)
        np.testing.assert_allclose(got, want, rtol=0, atol=tol)
        lb.check()


@pytest.fixture(scope="module")
def reference(shared_feeders: Path) -> dict[str, Export]:
    return {name: read_export(shared_feeders / name) for name in FEEDER_NAMES}


@pytest.mark.parametrize("feeder", FEEDER_NAMES)
def test_geojson_folder(reference: dict[str, Export], feeder: str) -> None:
    export = reference[feeder]
    assert export.defects == []
    assert export.crs == "EPSG:4326"
    assert all(len(export.layers[c]) for c in ("CircuitSource", "ServicePoint", "Fuse"))
    assert export.layers["CircuitSource"].attrs["FEEDERID"][0].startswith("FDR-")


@pytest.mark.parametrize("feeder", FEEDER_NAMES)
def test_geojson_zip(reference: dict[str, Export], shared_feeders: Path, tmp_path: Path,
                     feeder: str) -> None:
    archive = tmp_path / f"{feeder}.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        for f in sorted((shared_feeders / feeder).glob("*.geojson")):
            zf.write(f, f"{feeder}/{f.name}")
    export = read_export(archive)
    assert export.defects == []
    _same(reference[feeder], export, tol=0.0)


@pytest.mark.parametrize("feeder", FEEDER_NAMES)
def test_shapefile_zip_projected(reference: dict[str, Export], shared_feeders: Path,
                                 tmp_path: Path, feeder: str) -> None:
    crs = LOCAL_CRS[feeder]
    archive = write_shapefile_zip(shared_feeders / feeder, tmp_path / f"{feeder}.zip", crs=crs)
    export = read_export(archive)
    assert export.defects == []
    assert export.crs == crs
    _same(reference[feeder], export, tol=1e-7)


@pytest.mark.slow
@pytest.mark.parametrize("feeder", FEEDER_NAMES)
@pytest.mark.parametrize("projected", [False, True])
def test_geopackage(reference: dict[str, Export], shared_feeders: Path, tmp_path: Path,
                    feeder: str, projected: bool) -> None:
    crs = LOCAL_CRS[feeder] if projected else "EPSG:4326"
    gpkg = write_geopackage(shared_feeders / feeder, tmp_path / f"{feeder}.gpkg", crs=crs)
    export = read_export(gpkg)
    assert export.defects == []
    assert export.crs == crs
    _same(reference[feeder], export, tol=1e-7 if projected else 0.0)


def test_one_geopackage(reference: dict[str, Export], shared_feeders: Path,
                        tmp_path: Path) -> None:
    """The always-on GeoPackage check, on the smallest feeder."""
    gpkg = write_geopackage(shared_feeders / "ckt7", tmp_path / "ckt7.gpkg",
                            crs=LOCAL_CRS["ckt7"])
    export = read_export(gpkg)
    assert export.defects == []
    _same(reference["ckt7"], export, tol=1e-7)
