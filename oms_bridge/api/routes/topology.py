"""Topology upload (gis-admin) and the stored versions with their import reports."""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path
from typing import Any

from aiohttp import web
from sqlalchemy import Connection

from oms_bridge.api import keys
from oms_bridge.api.auth import READERS, requires
from oms_bridge.api.bodies import spool_limited
from oms_bridge.api.problems import ApiError
from oms_bridge.core.topology import Topology
from oms_bridge.settings import Settings
from oms_bridge.store import topology_repo

__all__ = ["import_export", "routes"]

routes = web.RouteTableDef()
VIEWERS = ("gis-admin", *sorted(READERS))


def import_export(path: Path, settings: Settings) -> Any:
    """Read and build an export (blocking: run it in a thread)."""
    from gis_import.build import build_topology  # noqa: PLC0415 - heavy
    from gis_import.readers import read_export  # noqa: PLC0415

    export = read_export(path, max_uncompressed_bytes=settings.gis.max_uncompressed_bytes)
    return build_topology(export, tolerance_m=settings.gis.tolerance_m,
                          near_miss_m=settings.gis.near_miss_m)


async def store_and_activate(app: web.Application, result: Any, source: str) -> int:
    def save(conn: Connection) -> int:
        vid = topology_repo.save_version(conn, result, source=source)
        topology_repo.activate(conn, vid)
        return vid

    async with app[keys.DB].begin() as conn:
        return await conn.run_sync(save)


@routes.post("/api/v1/topology")
@requires("gis-admin")
async def upload_topology(request: web.Request) -> web.Response:
    app = request.app
    settings = app[keys.SETTINGS]
    data_dir = Path(settings.service.data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=data_dir, suffix=".zip", prefix="upload-") as fh:
        size = await spool_limited(request, settings.service.max_upload_bytes, fh)
        if size == 0:
            raise ApiError(400, "Empty upload", "send the export as a .zip body")
        result = await asyncio.to_thread(import_export, Path(fh.name), settings)
    report = result.report.to_dict()
    topology: Topology | None = result.topology
    if topology is None:
        raise ApiError(422, "Nothing could be traced",
                       "no CircuitSource reached any device; see the report", report=report)
    name = (request.query.get("name") or "upload.zip").replace("\x00", "")
    vid = await store_and_activate(app, result, f"http:{name[:200]}")
    await app[keys.RUNTIME].switch_topology(topology, vid)
    return web.json_response({"version_id": vid, "active": True, "report": report}, status=201)


@routes.get("/api/v1/topology/versions")
@requires(*VIEWERS)
async def list_versions(request: web.Request) -> web.Response:
    async with request.app[keys.DB].connect() as conn:
        versions = await conn.run_sync(topology_repo.list_versions)
    return web.json_response({"items": [v.to_dict() for v in versions]})


@routes.get("/api/v1/topology/versions/{version_id}")
@requires(*VIEWERS)
async def get_version(request: web.Request) -> web.Response:
    raw = request.match_info["version_id"]
    # str.isdigit() is also true for '³' and other digits int() refuses
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 18:
        raise ApiError(400, "Invalid version id", "version ids are integers")
    vid = int(raw)
    async with request.app[keys.DB].connect() as conn:
        if vid not in {v.version_id for v in await conn.run_sync(topology_repo.list_versions)}:
            raise ApiError(404, "Topology version not found", f"no version {vid}")
        info = await conn.run_sync(topology_repo.version, vid)
        report = await conn.run_sync(topology_repo.report, vid)
    return web.json_response({**info.to_dict(), "report": report})
