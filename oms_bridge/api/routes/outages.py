"""Outages, the restoration feed and coverage (contract sections 3 to 5)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import orjson
from aiohttp import web

from oms_bridge.api import keys
from oms_bridge.api.auth import READERS, requires
from oms_bridge.api.problems import ApiError
from oms_bridge.store import outages_repo

__all__ = ["routes"]

routes = web.RouteTableDef()

STATUSES = ("active", "restored", "momentary", "all")
MAX_LIMIT = 1000
#: cursors and seqs are 64-bit integers in the database
MAX_CURSOR = 2**63 - 1


def _int_param(request: web.Request, name: str, default: int, *, lo: int = 0,
               hi: int | None = None) -> int:
    raw = request.query.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise ApiError(400, "Invalid query parameter",
                       f"{name} must be an integer, got {raw[:40]!r}", parameter=name) from exc
    hi = MAX_CURSOR if hi is None else hi
    if value < lo or value > hi:
        bound = f"between {lo} and {hi}"
        raise ApiError(400, "Invalid query parameter", f"{name} must be {bound}",
                       parameter=name)
    return value


def _time_param(request: web.Request, name: str) -> float | None:
    raw = request.query.get(name)
    if not raw:
        return None
    try:
        return float(raw)
    except ValueError:
        pass
    try:
        stamp = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError as exc:
        raise ApiError(400, "Invalid query parameter",
                       f"{name} must be ISO-8601 with an offset or epoch seconds",
                       parameter=name) from exc
    if stamp.tzinfo is None:
        raise ApiError(400, "Invalid query parameter", f"{name} needs a UTC offset or 'Z'",
                       parameter=name)
    return stamp.timestamp()


@routes.get("/api/v1/outages")
@requires(*READERS)
async def list_outages(request: web.Request) -> web.Response:
    status = request.query.get("status", "all")
    if status not in STATUSES:
        raise ApiError(400, "Invalid query parameter",
                       f"status must be one of {list(STATUSES)}", parameter="status")
    limit = _int_param(request, "limit", 100, lo=1, hi=MAX_LIMIT)
    after = _int_param(request, "after", 0)
    if "\x00" in request.query.get("feeder", ""):  # PostgreSQL text cannot hold it
        raise ApiError(400, "Invalid query parameter", "feeder must not contain NUL",
                       parameter="feeder")
    since_s, until_s = _time_param(request, "since"), _time_param(request, "until")
    feeder = request.query.get("feeder") or None
    if since_s is None and until_s is None:
        found = await request.app[keys.READ_CACHES].outages.page(
            None if status == "all" else status, feeder, after, limit)
        if found is not None:
            return _page_bytes(found[0], None if found[1] is None else str(found[1]))
    async with request.app[keys.DB].connect() as conn:
        items, nxt = await outages_repo.list_outages_json(
            conn, status=None if status == "all" else status,
            feeder=feeder, since_s=since_s, until_s=until_s, after=after, limit=limit)
    return _page(items, None if nxt is None else str(nxt))


@routes.get("/api/v1/outages/{outage_id}")
@requires(*READERS)
async def get_outage(request: web.Request) -> web.Response:
    outage_id = request.match_info["outage_id"]
    if "\x00" in outage_id:  # no id holds NUL, and PostgreSQL text cannot
        raise ApiError(404, "Outage not found", f"no outage {outage_id!r}")
    async with request.app[keys.DB].connect() as conn:
        doc = await outages_repo.get_outage(conn, outage_id)
        if doc is None:
            raise ApiError(404, "Outage not found", f"no outage {outage_id!r}")
        children = await outages_repo.list_children(conn, outage_id)
        history = await outages_repo.list_changes(conn, outage_id)
    runtime = request.app[keys.RUNTIME]
    detail: dict[str, Any] = {}
    if runtime.engine is not None:
        detail = runtime.engine.outage_detail(outage_id) or {}
    body = {
        **doc,
        "affected_meters": detail.get("meters", detail.get("affected_meters", [])),
        "meters_unverified_ids": detail.get("meters_unverified_ids", []),
        "evidence": detail.get("timeline", detail.get("evidence", [])),
        # past [engine] evidence_retention_s the engine keeps only the predictions;
        # the full evidence stays in the durable event log
        "timeline_compacted": bool(detail.get("timeline_compacted", False)),
        "children": children,
        "history": history,
    }
    return web.json_response(body)


@routes.get("/api/v1/restorations")
@requires(*READERS)
async def list_restorations(request: web.Request) -> web.Response:
    after = _int_param(request, "after", 0)
    limit = _int_param(request, "limit", 100, lo=1, hi=MAX_LIMIT)
    items, nxt = await request.app[keys.READ_CACHES].feed.page(after, limit)
    return _page_bytes(items, nxt)


def _page(items: list[str], nxt: str | int | None) -> web.Response:
    """``{"items": [...], "next": ...}`` spliced from the stored JSON texts."""
    body = b"".join((b'{"items":[', ",".join(items).encode(), b'],"next":',
                     orjson.dumps(nxt), b"}"))
    return web.Response(body=body, content_type="application/json")


def _page_bytes(items: list[bytes], nxt: str | int | None) -> web.Response:
    """:func:`_page` from the cached JSON bytes."""
    body = b"".join((b'{"items":[', b",".join(items), b'],"next":', orjson.dumps(nxt), b"}"))
    return web.Response(body=body, content_type="application/json")


@routes.get("/api/v1/coverage")
@requires(*READERS)
async def coverage(request: web.Request) -> web.Response:
    runtime = request.app[keys.RUNTIME]
    if runtime.topology is None:
        raise ApiError(503, "No topology", "no topology is active yet",
                       headers={"Retry-After": "30"})
    cached = runtime.coverage_cache
    if cached is None or cached[0] != runtime.version_id:
        rows = request.app[keys.PORT].coverage(runtime.topology)
        runtime.coverage_cache = cached = (runtime.version_id, rows)
    return web.json_response({"items": cached[1]})
