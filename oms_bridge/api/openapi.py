"""The OpenAPI 3.1 document of the service, written out by hand.

It is the published promise; ``tests/api/test_openapi.py`` checks it against
the routes the app actually registers (paths, methods and the roles in
``x-roles``), so the two cannot drift apart silently.
"""

from __future__ import annotations

from typing import Any

from oms_bridge import __version__

__all__ = ["openapi_document"]

READ = ["dispatcher", "oms"]
VIEW = ["dispatcher", "gis-admin", "oms"]

_PROBLEM = {"$ref": "#/components/schemas/Problem"}


def _problem(description: str) -> dict[str, Any]:
    return {"description": description,
            "content": {"application/problem+json": {"schema": _PROBLEM}}}


def _json(description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _op(summary: str, roles: list[str] | None, responses: dict[str, Any],
        parameters: list[dict[str, Any]] | None = None, **extra: Any) -> dict[str, Any]:
    op: dict[str, Any] = {"summary": summary, "responses": responses}
    if parameters:
        op["parameters"] = parameters
    if roles:
        op["security"] = [{"bearer": []}]
        op["x-roles"] = roles
        op["responses"] = {**responses, "401": _problem("No, malformed or unknown token"),
                           "403": _problem("Token valid, role not admitted")}
    else:
        op["security"] = []
    op.update(extra)
    return op


def _q(name: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "schema": schema,
            "description": description}


def _p(name: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": schema}


_OBJ: dict[str, Any] = {"type": "object"}
_LIMIT = _q("limit", {"type": "integer", "minimum": 1, "maximum": 1000, "default": 100},
            "Page size")


def _schemas() -> dict[str, Any]:
    nullable_str = {"type": ["string", "null"]}
    return {
        "Problem": {"type": "object", "required": ["title", "status"], "properties": {
            "type": {"type": "string"}, "title": {"type": "string"},
            "status": {"type": "integer"}, "detail": {"type": "string"},
            "instance": {"type": "string"}}},
        "Outage": {"type": "object", "required": ["outage_id", "status"], "properties": {
            "outage_id": {"type": "string"}, "device_id": nullable_str,
            "device_type": nullable_str, "feeder_id": nullable_str,
            "status": {"enum": ["active", "restored", "momentary"]},
            "started_at": nullable_str, "restored_at": nullable_str,
            "confirmed_at": nullable_str, "predicted_at": nullable_str,
            "meters_affected": {"type": "integer"}, "meters_reporting": {"type": "integer"},
            "confidence": {"type": "number"}, "parent_outage_id": nullable_str}},
        "OutagePage": {"type": "object", "required": ["items", "next"], "properties": {
            "items": {"type": "array", "items": {"$ref": "#/components/schemas/Outage"}},
            "next": nullable_str}},
        "Restoration": {"type": "object", "required": ["seq", "outage_id"], "properties": {
            "seq": {"type": "integer"}, "outage_id": {"type": "string"},
            "device_id": nullable_str, "feeder_id": nullable_str,
            "started_at": nullable_str, "restored_at": nullable_str,
            "confirmed_at": nullable_str, "meters_restored": {"type": "integer"},
            "meters_unverified": {"type": "array", "items": {"type": "string"}},
            "nested_outage_ids": {"type": "array", "items": {"type": "string"}}}},
        "RestorationPage": {"type": "object", "required": ["items", "next"], "properties": {
            "items": {"type": "array", "items": {"$ref": "#/components/schemas/Restoration"}},
            "next": {"type": "integer"}}},
        "IngestResult": {"type": "object", "required": [
            "accepted", "duplicate", "unknown_meter", "invalid", "errors"], "properties": {
            "received": {"type": "integer"}, "accepted": {"type": "integer"},
            "duplicate": {"type": "integer"}, "unknown_meter": {"type": "integer"},
            "invalid": {"type": "integer"}, "errors_truncated": {"type": "boolean"},
            "errors": {"type": "array", "items": {"type": "object", "properties": {
                "line": {"type": "integer"}, "field": nullable_str,
                "reason": {"type": "string"}}}}}},
        "MeterEvent": {"type": "object",
                       "required": ["event_id", "meter_id", "type", "occurred_at"],
                       "properties": {"event_id": {"type": "string"},
                                      "meter_id": {"type": "string"},
                                      "type": {"type": "string"},
                                      "occurred_at": {"type": "string"}}},
    }


def _paths() -> dict[str, Any]:
    unavailable = {"503": _problem("Database or writer unavailable; retry after Retry-After")}
    return {
        "/healthz": {"get": _op("Liveness", None, {"200": _json("Up", _OBJ)})},
        "/readyz": {"get": _op("Readiness: database, queue and writer reachable", None, {
            "200": _json("Ready", _OBJ), "503": _json("Not ready", _OBJ)})},
        "/metrics": {"get": _op("Prometheus metrics (text exposition)", None, {
            "200": {"description": "Metrics",
                    "content": {"text/plain": {"schema": {"type": "string"}}}}})},
        "/api/v1/openapi.json": {"get": _op("This document", None,
                                            {"200": _json("OpenAPI 3.1", _OBJ)})},
        "/api/v1/events": {"post": _op(
            "Ingest meter events (JSON array or NDJSON, gzip accepted)", ["head-end"], {
                "202": _json("Durably stored; counts and reasons for invalid lines",
                             {"$ref": "#/components/schemas/IngestResult"}),
                "400": _problem("A JSON array body that does not parse"),
                "413": _problem("Body above service.max_body_bytes"), **unavailable},
            requestBody={"required": True, "content": {
                "application/json": {"schema": {"type": "array", "items": {
                    "$ref": "#/components/schemas/MeterEvent"}}},
                "application/x-ndjson": {"schema": {"type": "string"}}}})},
        "/api/v1/events/stats": {"get": _op("Event counts of the running engine", READ, {
            "200": _json("Counts", _OBJ)})},
        "/api/v1/outages": {"get": _op("Outages, oldest first, cursor-paginated", READ, {
            "200": _json("A page", {"$ref": "#/components/schemas/OutagePage"}),
            "400": _problem("Bad filter")}, [
            _q("status", {"enum": ["active", "restored", "momentary", "all"]}, "Status"),
            _q("feeder", {"type": "string"}, "Feeder id"),
            _q("since", {"type": "string"}, "started_at at or after (ISO-8601 or epoch s)"),
            _q("until", {"type": "string"}, "started_at before (ISO-8601 or epoch s)"),
            _q("after", {"type": "string"}, "Cursor: `next` of the previous page"),
            _LIMIT])},
        "/api/v1/outages/{outage_id}": {"get": _op(
            "One outage: affected meters, evidence timeline, children, history", READ, {
                "200": _json("Outage detail", _OBJ), "404": _problem("Unknown outage")},
            [_p("outage_id", {"type": "string"})])},
        "/api/v1/restorations": {"get": _op("Restoration feed after a seq", READ, {
            "200": _json("Items with seq > after", {
                "$ref": "#/components/schemas/RestorationPage"}),
            "400": _problem("Bad cursor")}, [
            _q("after", {"type": "integer", "minimum": 0, "maximum": 2**63 - 1},
               "Last seq already seen"),
            _LIMIT])},
        "/api/v1/coverage": {"get": _op("AMI coverage per feeder", READ, {
            "200": _json("Per feeder", {"type": "object", "properties": {
                "items": {"type": "array", "items": _OBJ}}}), **unavailable})},
        "/api/v1/topology": {"post": _op(
            "Upload a GIS export (.zip), store and activate it", ["gis-admin"], {
                "201": _json("Stored and active, with the import report", _OBJ),
                "400": _problem("Empty body"), "413": _problem("Above max_upload_bytes"),
                "422": _problem("Unreadable, unsafe or untraceable export")},
            [_q("name", {"type": "string"}, "Name recorded as the version's source")],
            requestBody={"required": True, "content": {
                "application/zip": {"schema": {"type": "string", "format": "binary"}}}})},
        "/api/v1/topology/versions": {"get": _op("Stored topology versions", VIEW, {
            "200": _json("Newest first", _OBJ)})},
        "/api/v1/topology/versions/{version_id}": {"get": _op(
            "One version with its import report", VIEW, {
                "200": _json("Version", _OBJ), "400": _problem("Not an integer"),
                "404": _problem("Unknown version")},
            [_p("version_id", {"type": "integer"})])},
        "/api/v1/stream/tickets": {"post": _op(
            "A single-use ticket (60 s) for EventSource, which cannot send headers", READ, {
                "201": _json("Ticket", _OBJ)})},
        "/api/v1/stream": {"get": _op(
            "Server-sent events: a snapshot, then outage changes", READ, {
                "200": {"description": "text/event-stream",
                        "content": {"text/event-stream": {"schema": {"type": "string"}}}}},
            [_q("ticket", {"type": "string"}, "Instead of the Authorization header")])},
        **_page_paths(),
    }


_VIEW_BODY = {"required": True, "content": {"application/json": {"schema": {
    "type": "object", "properties": {
        "bbox": {"type": "array", "items": {"type": "number"}, "minItems": 4, "maxItems": 4},
        "zoom": {"type": "integer"}, "feeder": {"type": "string"},
        "dark": {"type": "array", "items": {"type": "array", "items": {"type": "integer"}}}}}}}}


def _page_paths() -> dict[str, Any]:
    """The dispatcher page and the map data it draws (``oms_bridge.web``)."""
    geojson = _json("GeoJSON FeatureCollection of what is visible", _OBJ)
    bad = _problem("Bad bbox, zoom, feeder or dark ranges")
    return {
        "/": {"get": _op("The dispatcher page (HTML)", None, {
            "200": {"description": "text/html",
                    "content": {"text/html": {"schema": {"type": "string"}}}}})},
        "/api/v1/map/config": {"get": _op("Map options (tile layer, budgets)", READ, {
            "200": _json("Options", _OBJ)})},
        "/api/v1/map/feeders": {"get": _op("Feeders with their extent and coverage", READ, {
            "200": _json("Items", _OBJ)})},
        "/api/v1/map/topology": {
            "get": _op("Visible network, simplified by zoom", READ, {
                "200": geojson, "400": bad}, [
                _q("bbox", {"type": "string"}, "minlon,minlat,maxlon,maxlat"),
                _q("zoom", {"type": "integer"}, "Leaflet zoom level"),
                _q("feeder", {"type": "string"}, "Only this FEEDERID"),
                _q("dark", {"type": "string"}, "Dark service-point ranges lo-hi,...")]),
            "post": _op("Same as GET, with long dark ranges in the body", READ, {
                "200": geojson, "400": bad}, requestBody=_VIEW_BODY)},
        "/api/v1/map/resolve": {"post": _op(
            "Positions, extent and counts of devices and meters", READ, {
                "200": _json("Resolved", _OBJ), "400": bad},
            requestBody={"required": True, "content": {"application/json": {
                "schema": _OBJ}}})},
    }


def openapi_document() -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "info": {"title": "oms-bridge", "version": __version__,
                 "description": "AMI meter events in, outage knowledge out."},
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": _schemas(),
        },
        "paths": _paths(),
    }
