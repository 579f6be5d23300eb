"""Golden reader cases: ``tests/data/exports/{valid,invalid}/<case>/expected.json``.

Each folder is read as an export and must give exactly the expected layers and
defects, or exactly the expected error. The same cases zipped (in a sub-folder
of the zip) must give the same layers and defects.
"""

from __future__ import annotations

import importlib.util
import json
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from gis_import.layers import CLASS_NAMES, LAYER_SPECS, Export
from gis_import.readers import read_export
from oms_bridge import errors

CASES = Path(__file__).resolve().parents[1] / "data" / "exports"
VALID = sorted(p for p in (CASES / "valid").iterdir() if p.is_dir())
INVALID = sorted(p for p in (CASES / "invalid").iterdir() if p.is_dir())


def _expected(case: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((case / "expected.json").read_text())
    return data


def _zip_case(case: Path, out: Path) -> Path:
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        for f in sorted(case.iterdir()):
            if f.name != "expected.json":
                zf.write(f, f"{case.name}/{f.name}")
    return out


def _check_export(export: Export, want: dict[str, Any], source: str,
                  rename: dict[str, str] | None = None) -> None:
    assert export.counts() == want["counts"]
    assert export.crs == want["crs"]
    got = [d.to_dict() for d in export.defects]
    expected = []
    for d in want["defects"]:
        message = d["message"].replace("{source}", source)
        for old, new in (rename or {}).items():
            message = message.replace(old, new)
        expected.append({**d, "message": message})
    assert got == expected
    for cls, n in want.get("dropped", {}).items():
        assert export.layers[cls].dropped == n
    for cls, columns in want.get("attrs", {}).items():
        for attr, values in columns.items():
            assert export.layers[cls].attrs[attr] == values, (cls, attr)
    for cls, xy in want.get("xy", {}).items():
        np.testing.assert_allclose(export.layers[cls].xy, xy, atol=1e-4)
    for layer in export.layers.values():
        layer.check()
        assert set(LAYER_SPECS[layer.name].attributes) <= set(layer.attrs)
    assert list(export.layers) == [c for c in CLASS_NAMES if c in export.layers]


@pytest.mark.parametrize("case", VALID, ids=[p.name for p in VALID])
def test_valid_case(case: Path) -> None:
    export = read_export(case)
    _check_export(export, _expected(case), str(case))
    assert export.source == str(case)
    assert export.format == "geojson"


@pytest.mark.parametrize("case", VALID, ids=[p.name for p in VALID])
def test_valid_case_zipped(case: Path, tmp_path: Path) -> None:
    archive = _zip_case(case, tmp_path / f"{case.name}.zip")
    export = read_export(archive)
    files = [f.name for f in case.iterdir() if f.name != "expected.json"]
    rename = {f: f"{archive.name}!{case.name}/{f}" for f in files}
    want = _expected(case)
    _check_export(export, want, str(archive), rename)


@pytest.mark.parametrize("case", INVALID, ids=[p.name for p in INVALID])
def test_invalid_case(case: Path) -> None:
    want = _expected(case)["error"]
    with pytest.raises(errors.OmsBridgeError) as info:
        read_export(case)
    exc = info.value
    assert type(exc).__name__ == want["type"]
    assert isinstance(exc, errors.ExportError)
    assert exc.file == want["file"].replace("{source}", str(case))
    if "reason" in want:
        assert exc.reason == want["reason"]
    else:
        assert exc.reason.startswith(want["reason_startswith"]), exc.reason
    assert str(exc).startswith(f"{exc.file}: ")


@pytest.mark.parametrize("case", INVALID, ids=[p.name for p in INVALID])
def test_invalid_case_zipped(case: Path, tmp_path: Path) -> None:
    want = _expected(case)["error"]
    archive = _zip_case(case, tmp_path / "export.zip")
    with pytest.raises(errors.ExportError) as info:
        read_export(archive)
    exc = info.value
    if want["file"] == "{source}":
        assert exc.file in (str(archive), archive.name)
    else:
        assert exc.file == f"export.zip!{case.name}/{want['file']}"


def test_cases_are_up_to_date(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The stored cases are what make_cases.py writes (expectations included)."""
    spec = importlib.util.spec_from_file_location("make_cases", CASES / "make_cases.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    monkeypatch.setattr(module, "HERE", tmp_path)
    module.valid_cases()
    module.invalid_cases()
    for group in ("valid", "invalid"):
        fresh = {p.relative_to(tmp_path): p.read_bytes()
                 for p in (tmp_path / group).rglob("*") if p.is_file()}
        stored = {p.relative_to(CASES): p.read_bytes()
                  for p in (CASES / group).rglob("*") if p.is_file()}
        assert fresh == stored
