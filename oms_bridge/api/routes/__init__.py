"""HTTP handlers, one module per resource; :func:`add_routes` registers them all."""

from __future__ import annotations

from aiohttp import web

from oms_bridge.api.routes import events, health, outages, stream, topology

__all__ = ["add_routes"]


def add_routes(app: web.Application) -> None:
    for module in (health, events, outages, topology, stream):
        app.router.add_routes(module.routes)
