"""Write the golden reader cases under ``valid/`` and ``invalid/`` beside this file.

Each case is a folder holding an export plus ``expected.json``: the exact
defects (or the exact error) the reader must give. The expectations below are
written by hand; this script only lays them out, so the cases can be
regenerated after a deliberate change: ``python tests/data/exports/make_cases.py``.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent

# A tiny radial feeder near Des Moines, about 1 m per 1e-5 degree.
SRC = (-93.7, 41.6)
BRK = (-93.699, 41.6)
MID = (-93.698, 41.6)
FUSE = (-93.697, 41.6)
TAP = (-93.697, 41.601)
XFMR = (-93.6969, 41.601)
SW = (-93.698, 41.599)
SP1 = (-93.6968, 41.6011)
SP2 = (-93.6968, 41.6009)


def point(xy: tuple[float, float] | None, **props: Any) -> dict[str, Any]:
    geom = None if xy is None else {"type": "Point", "coordinates": list(xy)}
    return {"type": "Feature", "geometry": geom, "properties": props}


def line(*xys: tuple[float, float], **props: Any) -> dict[str, Any]:
    geom = {"type": "LineString", "coordinates": [list(p) for p in xys]}
    return {"type": "Feature", "geometry": geom, "properties": props}


def fc(*features: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"type": "FeatureCollection", **extra, "features": list(features)}


def tiny() -> dict[str, dict[str, Any]]:
    """The clean tiny feeder, every class present."""
    return {
        "CircuitSource": fc(point(SRC, FACILITYID="SRC-T-1", SUBSTATION="TESTSUB",
                                  FEEDERID="FDR-T-1", NOMINALKV=12.47)),
        "PrimaryConductor": fc(
            line(SRC, BRK, FACILITYID="PC-T-0001", PHASEDESIGNATION="ABC",
                 CONSTRUCTION="OH", FEEDERID="FDR-T-1"),
            line(BRK, MID, FUSE, FACILITYID="PC-T-0002", PHASEDESIGNATION="ABC",
                 CONSTRUCTION="OH", FEEDERID="FDR-T-1"),
            line(FUSE, TAP, FACILITYID="PC-T-0003", PHASEDESIGNATION="A",
                 CONSTRUCTION="UG", FEEDERID=None),
            line(TAP, XFMR, FACILITYID="PC-T-0004", PHASEDESIGNATION="A",
                 CONSTRUCTION="OH", FEEDERID="FDR-T-1"),
            line(MID, SW, FACILITYID="PC-T-0005", PHASEDESIGNATION="B",
                 CONSTRUCTION="OH", FEEDERID="FDR-T-1"),
        ),
        "SecondaryConductor": fc(line(XFMR, SP1, FACILITYID="SC-T-000001"),
                                 line(XFMR, SP2, FACILITYID="SC-T-000002")),
        "DynamicProtectiveDevice": fc(point(BRK, FACILITYID="BRK-T-1", SUBTYPE="Breaker",
                                            NORMALSTATUS="Closed", FEEDERID="FDR-T-1")),
        "Fuse": fc(point(FUSE, FACILITYID="FUSE-T-0001", NORMALSTATUS="Closed", RATING="40K")),
        "Switch": fc(point(SW, FACILITYID="SW-T-0001", NORMALSTATUS="Open")),
        "Transformer": fc(point(XFMR, FACILITYID="XFMR-T-00001", KVA=25.0,
                                PHASEDESIGNATION="A")),
        "ServicePoint": fc(
            point(SP1, FACILITYID="SP-T-000001", METERNUMBER="M000000001", METERTYPE="AMI",
                  TRANSFORMERID="XFMR-T-00001"),
            point(SP2, FACILITYID="SP-T-000002", METERNUMBER=None, METERTYPE="MANUAL"),
        ),
    }


TINY_COUNTS = {"CircuitSource": 1, "PrimaryConductor": 5, "SecondaryConductor": 2,
               "DynamicProtectiveDevice": 1, "Fuse": 1, "Switch": 1, "Transformer": 1,
               "ServicePoint": 2}


def defect(kind: str, layer: str, fid: str | None, message: str) -> dict[str, Any]:
    return {"kind": kind, "layer": layer, "facility_id": fid, "message": message}


def write_case(group: str, name: str, files: dict[str, Any], expected: dict[str, Any]) -> None:
    folder = HERE / group / name
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    for fname, content in files.items():
        target = folder / fname
        if isinstance(content, bytes):
            target.write_bytes(content)
        else:
            target.write_text(json.dumps(content, indent=None, separators=(",", ":")) + "\n")
    (folder / "expected.json").write_text(json.dumps(expected, indent=2) + "\n")


def geojson_files(layers: dict[str, Any]) -> dict[str, Any]:
    return {f"{cls}.geojson": doc for cls, doc in layers.items()}


def valid_cases() -> None:
    write_case("valid", "tiny", geojson_files(tiny()),
               {"counts": TINY_COUNTS, "crs": "EPSG:4326", "defects": []})

    # only the four required classes: the others come back as empty layers
    required = {k: v for k, v in tiny().items()
                if k in ("CircuitSource", "PrimaryConductor", "Transformer", "ServicePoint")}
    counts = {k: (TINY_COUNTS[k] if k in required else 0) for k in TINY_COUNTS}
    write_case("valid", "required_only", geojson_files(required),
               {"counts": counts, "crs": "EPSG:4326", "defects": []})

    # file names in another case, Shapefile-cut property names, .json suffix
    layers = tiny()
    for doc in layers.values():
        for feat in doc["features"]:
            feat["properties"] = {k[:10].lower() if k != "FACILITYID" else "FacilityID": v
                                  for k, v in feat["properties"].items()}
    files = {f"{cls.lower()}.json" if cls == "Fuse" else f"{cls.upper()}.GEOJSON": doc
             for cls, doc in layers.items()}
    write_case("valid", "names_and_cut_fields", files,
               {"counts": TINY_COUNTS, "crs": "EPSG:4326", "defects": [],
                "attrs": {"Fuse": {"NORMALSTATUS": ["Closed"]},
                          "ServicePoint": {"METERNUMBER": ["M000000001", None],
                                           "TRANSFORMERID": ["XFMR-T-00001", None]}}})

    # single-part multi geometries are their part; old-style CRS84 member is fine
    layers = tiny()
    sc = layers["SecondaryConductor"]["features"][0]["geometry"]
    sc["type"], sc["coordinates"] = "MultiLineString", [sc["coordinates"]]
    sp = layers["ServicePoint"]["features"][1]["geometry"]
    sp["type"], sp["coordinates"] = "MultiPoint", [sp["coordinates"]]
    layers["Fuse"]["crs"] = {"type": "name",
                             "properties": {"name": "urn:ogc:def:crs:OGC:1.3:CRS84"}}
    write_case("valid", "single_part_multi", geojson_files(layers),
               {"counts": TINY_COUNTS, "crs": "EPSG:4326", "defects": []})

    # attribute values: '' and blanks are null, numeric FACILITYIDs become text
    layers = tiny()
    layers["Fuse"]["features"][0]["properties"]["RATING"] = "   "
    layers["Transformer"]["features"][0]["properties"]["FACILITYID"] = 42
    layers["ServicePoint"]["features"][0]["properties"]["METERNUMBER"] = " M000000001 "
    layers["ServicePoint"]["features"][1]["properties"]["FACILITYID"] = ""
    write_case("valid", "value_cleaning", geojson_files(layers),
               {"counts": TINY_COUNTS, "crs": "EPSG:4326", "defects": [],
                "attrs": {"Fuse": {"RATING": [None]},
                          "Transformer": {"FACILITYID": ["42"]},
                          "ServicePoint": {"FACILITYID": ["SP-T-000001", None],
                                           "METERNUMBER": ["M000000001", None]}}})

    # one bad feature of each kind: each dropped with a BAD_GEOMETRY defect
    layers = tiny()
    sps = layers["ServicePoint"]["features"]
    sps.append(point(None, FACILITYID="SP-T-000003", METERTYPE="AMI"))
    sps.append({"type": "Feature", "properties": {"FACILITYID": "SP-T-000004"},
                "geometry": {"type": "Point", "coordinates": []}})
    sps.append({"type": "Feature", "properties": {"FACILITYID": "SP-T-000005"},
                "geometry": {"type": "Polygon", "coordinates": [[list(SP1), list(SP2),
                                                                 list(XFMR), list(SP1)]]}})
    sps.append({"type": "Feature", "properties": {"FACILITYID": "SP-T-000006"},
                "geometry": {"type": "MultiPoint", "coordinates": [list(SP1), list(SP2)]}})
    sps.append(point((-193.7, 41.6), FACILITYID="SP-T-000007"))
    sps.append({"type": "Feature", "properties": {"FACILITYID": "SP-T-000008"},
                "geometry": {"type": "Point", "coordinates": ["-93.7", "41.6"]}})
    sps.append({"type": "Feature", "properties": {"FACILITYID": "SP-T-000009"},
                "geometry": {"coordinates": [-93.7, 41.6]}})
    sps.append({"type": "Feature", "properties": {"FACILITYID": "SP-T-000010"},
                "geometry": "POINT (-93.7 41.6)"})
    scs = layers["SecondaryConductor"]["features"]
    scs.append({"type": "Feature", "properties": {"FACILITYID": "SC-T-000003"},
                "geometry": {"type": "LineString", "coordinates": [list(XFMR)]}})
    scs.append(line(XFMR, XFMR, XFMR, FACILITYID="SC-T-000004"))
    scs.append({"type": "Feature", "properties": {"FACILITYID": "SC-T-000005"},
                "geometry": {"type": "LineString", "coordinates": [list(XFMR), [1.0]]}})
    scs.append({"type": "Feature", "properties": {"FACILITYID": "SC-T-000006"},
                "geometry": {"type": "MultiLineString",
                             "coordinates": [[list(XFMR), list(SP1)], [list(XFMR), list(SP2)]]}})
    scs.append(line(XFMR, (-93.6968, 91.0), FACILITYID="SC-T-000007"))
    sp = "ServicePoint.geojson"
    sc = "SecondaryConductor.geojson"
    write_case("valid", "bad_features", geojson_files(layers), {
        "counts": TINY_COUNTS, "crs": "EPSG:4326",
        "dropped": {"ServicePoint": 8, "SecondaryConductor": 5},
        "defects": [
            defect("bad_geometry", "SecondaryConductor", "SC-T-000003",
                   f"LineString with 1 vertex (feature #2 in {sc})"),
            defect("bad_geometry", "SecondaryConductor", "SC-T-000005",
                   f"malformed LineString coordinates (feature #4 in {sc})"),
            defect("bad_geometry", "SecondaryConductor", "SC-T-000006",
                   f"multi-part MultiLineString with 2 parts (feature #5 in {sc})"),
            defect("bad_geometry", "SecondaryConductor", "SC-T-000004",
                   f"degenerate line (all vertices coincide) (in {sc})"),
            defect("bad_geometry", "SecondaryConductor", "SC-T-000007",
                   f"coordinates outside the lon/lat range (in {sc})"),
            defect("bad_geometry", "ServicePoint", "SP-T-000003",
                   f"no geometry (feature #2 in {sp})"),
            defect("bad_geometry", "ServicePoint", "SP-T-000004",
                   f"empty Point (feature #3 in {sp})"),
            defect("bad_geometry", "ServicePoint", "SP-T-000005",
                   f"a Polygon where Point expected (feature #4 in {sp})"),
            defect("bad_geometry", "ServicePoint", "SP-T-000006",
                   f"multi-part MultiPoint with 2 parts (feature #5 in {sp})"),
            defect("bad_geometry", "ServicePoint", "SP-T-000008",
                   f"malformed Point coordinates (feature #7 in {sp})"),
            defect("bad_geometry", "ServicePoint", "SP-T-000009",
                   f"malformed geometry (no type) (feature #8 in {sp})"),
            defect("bad_geometry", "ServicePoint", "SP-T-000010",
                   f"malformed geometry (not an object) (feature #9 in {sp})"),
            defect("bad_geometry", "ServicePoint", "SP-T-000007",
                   f"coordinates outside the lon/lat range (in {sp})"),
        ]})

    # a required layer missing
    layers = tiny()
    del layers["Transformer"]
    counts = {k: v for k, v in TINY_COUNTS.items() if k != "Transformer"}
    write_case("valid", "missing_transformer_layer", geojson_files(layers), {
        "counts": counts, "crs": "EPSG:4326",
        "defects": [defect("missing_layer", "Transformer", None,
                           "{source} has no Transformer layer")]})

    # old-style crs member naming State Plane feet: transformed, reported
    layers = tiny()
    layers["Fuse"] = {
        "type": "FeatureCollection",
        "crs": {"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::2264"}},
        "features": [{"type": "Feature",
                      "geometry": {"type": "Point", "coordinates": [2000000.0, 0.0]},
                      "properties": {"FACILITYID": "FUSE-T-0001", "NORMALSTATUS": "Closed"}}],
    }
    layers["Switch"]["crs"] = {"type": "EPSG", "properties": {"code": 32615}}
    layers["Switch"]["features"][0]["geometry"]["coordinates"] = [500000.0, 4600000.0]
    write_case("valid", "declared_projected_crs", geojson_files(layers), {
        "counts": TINY_COUNTS,
        "crs": "EPSG:32615, EPSG:4326, urn:ogc:def:crs:EPSG::2264",
        "xy": {"Fuse": [[-79.0, 33.75]], "Switch": [[-93.0, 41.55166]]},
        "defects": [
            defect("non_wgs84", "Fuse", None,
                   "Fuse.geojson declares CRS urn:ogc:def:crs:EPSG::2264 instead of WGS84 "
                   "(RFC 7946); transformed to WGS84"),
            defect("non_wgs84", "Switch", None,
                   "Switch.geojson declares CRS EPSG:32615 instead of WGS84 "
                   "(RFC 7946); transformed to WGS84"),
        ]})

    # projected coordinates with no declaration: that layer is skipped
    layers = tiny()
    for feat in layers["Fuse"]["features"]:
        feat["geometry"]["coordinates"] = [2000000.0, 500000.0]
    for feat in layers["Switch"]["features"]:
        feat["geometry"]["coordinates"] = list(reversed(feat["geometry"]["coordinates"]))
    layers["Transformer"]["crs"] = {"type": "name", "properties": {"name": "EPSG:99999999"}}
    counts = {k: v for k, v in TINY_COUNTS.items() if k not in ("Fuse", "Switch")}
    write_case("valid", "undeclared_projected", geojson_files(layers), {
        "counts": counts, "crs": "EPSG:4326, EPSG:99999999",
        "defects": [
            defect("non_wgs84", "Fuse", None,
                   "Fuse.geojson: 1 of 1 features have coordinates outside the lon/lat range "
                   "and no usable CRS is declared; layer skipped"),
            defect("non_wgs84", "Switch", None,
                   "Switch.geojson: 1 of 1 features have coordinates outside the lon/lat "
                   "range (they look like lat, lon: GeoJSON wants lon, lat) and no usable "
                   "CRS is declared; layer skipped"),
            defect("non_wgs84", "Transformer", None,
                   "Transformer.geojson declares CRS 'EPSG:99999999', which is not "
                   "understood; coordinates taken as WGS84"),
        ]})


def invalid_cases() -> None:
    def err(file: str, reason: str, *, prefix: bool = False,
            error: str = "ExportError") -> dict[str, Any]:
        """``file`` and ``reason`` are the error's attributes; ``{source}`` stands
        for the path the export was read from."""
        key = "reason_startswith" if prefix else "reason"
        return {"error": {"type": error, "file": file, key: reason}}

    base = geojson_files(tiny())

    def with_file(name: str, content: Any, drop: str | None = None) -> dict[str, Any]:
        files = {k: v for k, v in base.items() if k != drop}
        files[name] = content
        return files

    write_case("invalid", "bad_json", with_file("ServicePoint.geojson",
                                                b'{"type": "FeatureCollection", "features": ['),
               err("ServicePoint.geojson", "invalid JSON (", prefix=True))
    write_case("invalid", "not_utf8", with_file("Fuse.geojson", b'{"type": "\xff"}'),
               err("Fuse.geojson", "invalid JSON (", prefix=True))
    write_case("invalid", "not_a_feature_collection",
               with_file("Switch.geojson", tiny()["Switch"]["features"][0]),
               err("Switch.geojson",
                   "not a GeoJSON FeatureCollection (type 'Feature')"))
    write_case("invalid", "top_level_array", with_file("Switch.geojson", []),
               err("Switch.geojson",
                   "not a GeoJSON FeatureCollection (type 'list')"))
    write_case("invalid", "features_not_a_list",
               with_file("Fuse.geojson", {"type": "FeatureCollection", "features": {}}),
               err("Fuse.geojson", "'features' is not a list"))
    doc = tiny()["Transformer"]
    doc["features"].append(["not", "a", "feature"])
    write_case("invalid", "feature_not_an_object", with_file("Transformer.geojson", doc),
               err("Transformer.geojson",
                   "feature #1 is not a GeoJSON Feature"))
    doc = tiny()["Transformer"]
    doc["features"][0]["properties"] = ["KVA", 25]
    write_case("invalid", "properties_not_an_object", with_file("Transformer.geojson", doc),
               err("Transformer.geojson",
                   "feature #0: 'properties' is not an object"))
    ring = [list(FUSE), [FUSE[0] + 1e-5, FUSE[1]], [FUSE[0], FUSE[1] + 1e-5], list(FUSE)]
    polygons = fc(*[{"type": "Feature", "properties": {"FACILITYID": f"FUSE-T-{i}"},
                     "geometry": {"type": "Polygon", "coordinates": [ring]}} for i in (1, 2)],
                  {"type": "Feature", "properties": {"FACILITYID": "FUSE-T-3"},
                   "geometry": None})
    write_case("invalid", "wrong_geometry_type", with_file("Fuse.geojson", polygons),
               err("Fuse.geojson",
                   "wrong geometry type: 2 Polygon, no Point at all"))
    points = fc(point(SRC, FACILITYID="PC-T-0001"))
    write_case("invalid", "points_as_conductors", with_file("PrimaryConductor.geojson", points),
               err("PrimaryConductor.geojson", "wrong geometry "
                   "type: 1 Point, no LineString at all"))
    write_case("invalid", "two_files_for_one_class",
               with_file("servicepoint.json", tiny()["ServicePoint"]),
               err("{source}", "more than one file for ServicePoint: ServicePoint.geojson, "
                   "servicepoint.json", prefix=True))
    write_case("invalid", "no_layer", {"README.txt": b"an export should be here\n"},
               err("{source}", "no layer found: expected <Class>.geojson files", prefix=True))
    projected = {}
    for cls, layer in tiny().items():
        for feat in layer["features"]:
            geom = feat["geometry"]
            if geom["type"] == "Point":
                geom["coordinates"] = [500000.0, 4600000.0]
            else:
                geom["coordinates"] = [[500000.0 + i, 4600000.0] for i, _ in
                                       enumerate(geom["coordinates"])]
        projected[f"{cls}.geojson"] = layer
    write_case("invalid", "nothing_usable", projected,
               err("{source}", "no usable layer: every layer was skipped", prefix=True))


if __name__ == "__main__":
    valid_cases()
    invalid_cases()
