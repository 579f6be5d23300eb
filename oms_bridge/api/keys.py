"""Typed application keys: what ``create_app`` puts in the app, for handlers."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncEngine

from oms_bridge.api.auth import TicketBook
from oms_bridge.api.engine_port import EnginePort
from oms_bridge.api.metrics import ServiceMetrics
from oms_bridge.api.read_cache import ReadCaches
from oms_bridge.api.runtime import Runtime
from oms_bridge.bus.broadcast import Hub
from oms_bridge.settings import Settings

__all__ = [
    "CONSUMER",
    "DB",
    "HUB",
    "METRICS",
    "PORT",
    "READ_CACHES",
    "REDIS",
    "RUNTIME",
    "SETTINGS",
    "TICKETS",
    "WRITE_DB",
]

SETTINGS = web.AppKey("settings", Settings)
DB = web.AppKey("db", AsyncEngine)
#: The single writer's engine (event log appends), apart from the readers' pool.
WRITE_DB = web.AppKey("write_db", AsyncEngine)
RUNTIME = web.AppKey("runtime", Runtime)
METRICS = web.AppKey("metrics", ServiceMetrics)
HUB = web.AppKey("hub", Hub)
TICKETS = web.AppKey("tickets", TicketBook)
PORT = web.AppKey("port", EnginePort)
#: The restoration feed and outage list caches, fed by the runtime's writer.
READ_CACHES = web.AppKey("read_caches", ReadCaches)
if TYPE_CHECKING:
    from redis.asyncio import Redis

    from oms_bridge.bus.redis_stream import StreamConsumer

#: The Redis client and stream consumer, ``None`` without a Redis URL.
REDIS: web.AppKey[Redis | None] = web.AppKey("redis")
CONSUMER: web.AppKey[StreamConsumer | None] = web.AppKey("consumer")
