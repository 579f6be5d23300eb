"""``gis-import check --paths`` gives each shared feeder's ``paths.json`` exactly,
whatever the format: the GeoJSON folder, its zip, a GeoPackage, and zipped
Shapefiles in a projected CRS local to the feeder (UTM or State Plane feet).

This is issue 2's acceptance, end to end through the command a GIS admin runs.
Skips where ``../shared`` is absent.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import orjson
import pytest

from gis_import.cli import main as gis_import
from gis_import.convert import write_geopackage, write_shapefile_zip
from tests.conftest import FEEDER_NAMES
from tests.gis_import.test_read_shared import LOCAL_CRS

pytestmark = pytest.mark.shared


def _folder(src: Path, tmp: Path, name: str) -> Path:
    return src


def _zip(src: Path, tmp: Path, name: str) -> Path:
    return Path(shutil.make_archive(str(tmp / name), "zip", root_dir=src.parent,
                                    base_dir=src.name))


def _gpkg(src: Path, tmp: Path, name: str) -> Path:
    out = tmp / f"{name}.gpkg"
    write_geopackage(src, out, crs=LOCAL_CRS[name])
    return out


def _shp(src: Path, tmp: Path, name: str) -> Path:
    out = tmp / f"{name}-shp.zip"
    write_shapefile_zip(src, out, crs=LOCAL_CRS[name])
    return out


FORMATS: dict[str, Callable[[Path, Path, str], Path]] = {
    "geojson-folder": _folder, "geojson-zip": _zip,
    "geopackage-projected": _gpkg, "shapefile-zip-projected": _shp,
}


@pytest.mark.parametrize("fmt", list(FORMATS))
@pytest.mark.parametrize("name", FEEDER_NAMES)
def test_paths_equal_the_reference_in_every_format(
    shared_feeders: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    name: str, fmt: str,
) -> None:
    export = FORMATS[fmt](shared_feeders / name, tmp_path, name)
    paths_out = tmp_path / "paths.json"
    report_code = gis_import(["check", str(export), "--json", "--paths", str(paths_out)])
    report = orjson.loads(capsys.readouterr().out)
    assert report_code == 0
    assert report["defects"] == [], report["defects_by_kind"]
    assert orjson.loads(paths_out.read_bytes()) == orjson.loads(
        (shared_feeders / name / "paths.json").read_bytes())
