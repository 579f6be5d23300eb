"""Liveness, readiness, Prometheus metrics and the OpenAPI document (all open)."""

from __future__ import annotations

import asyncio

from aiohttp import web
from sqlalchemy import text

from oms_bridge.api import keys
from oms_bridge.api.openapi import openapi_document

__all__ = ["routes"]

routes = web.RouteTableDef()


@routes.get("/healthz")
async def healthz(_request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


@routes.get("/readyz")
async def readyz(request: web.Request) -> web.Response:
    app = request.app
    checks: dict[str, str] = {}
    try:
        async with asyncio.timeout(2.0), app[keys.DB].connect() as conn:
            await conn.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception as exc:
        checks["database"] = f"unreachable: {type(exc).__name__}"
    runtime = app[keys.RUNTIME]
    checks["writer"] = "ok" if runtime.ready and runtime.writer_alive() else "stopped"
    checks["topology"] = "ok" if runtime.engine is not None else "none active"
    redis = app.get(keys.REDIS)
    if redis is not None:
        try:
            async with asyncio.timeout(2.0):
                await redis.ping()
            checks["queue"] = "ok (redis)"
        except Exception as exc:
            checks["queue"] = f"unreachable: {type(exc).__name__}"
    else:
        checks["queue"] = "ok (in-process)" if runtime.writer_alive() else "stopped"
    ready = all(v.startswith("ok") for v in checks.values())
    return web.json_response({"ready": ready, "checks": checks}, status=200 if ready else 503,
                             headers=None if ready else {"Retry-After": "5"})


@routes.get("/metrics")
async def metrics(request: web.Request) -> web.Response:
    text_ = request.app[keys.METRICS].render()
    return web.Response(text=text_, content_type="text/plain",
                        headers={"X-Content-Type-Options": "nosniff"})


@routes.get("/api/v1/openapi.json")
async def openapi(_request: web.Request) -> web.Response:
    return web.json_response(openapi_document())
