"""``create_app(settings)``: the aiohttp application and everything it owns.

``cleanup_ctx`` opens, in order, the database (migrated to head), the runtime
(active topology, log replay, writer and idle ticker) and, when a Redis URL is
configured, the Redis client and its stream consumer; they close in reverse.
Tests build the app with this same factory.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from aiohttp import web
from sqlalchemy import Connection, event
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from oms_bridge.api import keys
from oms_bridge.api.auth import Authenticator, TicketBook, make_auth_middleware
from oms_bridge.api.engine_port import CorePort, EnginePort
from oms_bridge.api.metrics import ServiceMetrics
from oms_bridge.api.problems import problem_middleware
from oms_bridge.api.read_cache import FeedCache, OutageCache, OutageRowText, ReadCaches
from oms_bridge.api.routes import add_routes
from oms_bridge.api.runtime import Runtime, RuntimeOptions
from oms_bridge.bus.broadcast import Hub
from oms_bridge.core.topology import Topology
from oms_bridge.settings import Settings
from oms_bridge.store import events_repo, migrate, outages_repo, topology_repo
from oms_bridge.store.engine import ensure_sqlite_dir
from oms_bridge.store.urls import async_url, backend_of
from oms_bridge.web import setup_web

__all__ = ["DEMO_EXPORT", "create_app"]

log = logging.getLogger(__name__)

DEMO_EXPORT = Path(__file__).resolve().parents[1] / "demo"


def create_app(
    settings: Settings, *, port: EnginePort | None = None,
    options: RuntimeOptions | None = None, consumer_name: str | None = None,
) -> web.Application:
    tickets = TicketBook()
    app = web.Application(
        middlewares=[problem_middleware,
                     make_auth_middleware(Authenticator(settings.tokens), tickets)],
        client_max_size=settings.service.max_body_bytes,
    )
    app[keys.SETTINGS] = settings
    app[keys.PORT] = port if port is not None else CorePort(settings)
    app[keys.METRICS] = ServiceMetrics()
    app[keys.HUB] = Hub()
    app[keys.TICKETS] = tickets
    app[keys.REDIS] = None
    app[keys.CONSUMER] = None
    app[keys.READ_CACHES] = caches = _read_caches(app)
    app[keys.METRICS].read_cache_bytes.track("feed", lambda: caches.feed.nbytes)
    app[keys.METRICS].read_cache_bytes.track("outages", lambda: caches.outages.nbytes)
    add_routes(app)
    setup_web(app, lambda: app[keys.RUNTIME].topology if keys.RUNTIME in app else None,
              settings)
    app.cleanup_ctx.append(_database)
    app.cleanup_ctx.append(_runtime_ctx(options or RuntimeOptions()))
    app.cleanup_ctx.append(_redis_ctx(consumer_name))
    return app


def _read_caches(app: web.Application) -> ReadCaches:
    """Caches that load their chunks through the readers' pool."""

    async def feed(lo: int, hi: int) -> list[tuple[int, str]]:
        async with app[keys.DB].connect() as conn:
            return await outages_repo.feed_range_json(conn, lo, hi)

    async def outages(lo: int, hi: int) -> list[OutageRowText]:
        async with app[keys.DB].connect() as conn:
            return await outages_repo.outage_range_json(conn, lo, hi)

    return ReadCaches(FeedCache(feed), OutageCache(outages))


#: Bounded waits, so an unreachable database means a quick 503, never a hang.
CONNECT_TIMEOUT_S = 5.0
#: SQLite waits this long for a lock, the same bound as a PostgreSQL connect.
_SQLITE_BUSY_PRAGMA = "PRAGMA busy_timeout=5000"
STATEMENT_TIMEOUT_S = 30.0
POOL_TIMEOUT_S = 5.0
#: Connections kept open for readers: a pool smaller than the concurrent
#: requests opens and closes a connection per request beyond it (that churn
#: cost more than the queries themselves under load).
READ_POOL_SIZE = 40


def _engine(url: str, *, pre_ping: bool, pool_size: int) -> AsyncEngine:
    kwargs: dict[str, Any] = {"pool_pre_ping": pre_ping, "pool_timeout": POOL_TIMEOUT_S}
    if backend_of(url) == "postgresql":
        kwargs.update(pool_size=pool_size, max_overflow=pool_size // 4, connect_args={
            "timeout": CONNECT_TIMEOUT_S, "command_timeout": STATEMENT_TIMEOUT_S},
            json_serializer=_jsonb_text)
    else:
        kwargs.update(connect_args={"timeout": CONNECT_TIMEOUT_S})
    db = create_async_engine(async_url(url), **kwargs)
    if backend_of(url) == "sqlite":
        event.listen(db.sync_engine, "connect", _sqlite_pragmas)
    return db


def _jsonb_text(value: Any) -> str:
    """JSONB parameters through orjson (the stdlib encoder cost more than the
    outage write's round trip). PostgreSQL re-normalises JSONB, so the stored
    documents are the same as with ``json.dumps``."""
    import orjson  # noqa: PLC0415

    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()


async def _database(app: web.Application) -> AsyncIterator[None]:
    """Two engines: the readers' pool and the single writer's.

    No ping on checkout (a round trip per request or batch): a connection that
    fails is invalidated where it failed, the request answers 503 and the next
    one gets a fresh connection.
    """
    url = app[keys.SETTINGS].database_url
    ensure_sqlite_dir(url)
    await asyncio.to_thread(migrate.upgrade, url)
    app[keys.DB] = _engine(url, pre_ping=False, pool_size=READ_POOL_SIZE)
    app[keys.WRITE_DB] = _engine(url, pre_ping=False, pool_size=2)
    yield
    await app[keys.WRITE_DB].dispose()
    await app[keys.DB].dispose()


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute(_SQLITE_BUSY_PRAGMA)
        cursor.execute("PRAGMA foreign_keys=ON")
    finally:
        cursor.close()


async def _active_topology(app: web.Application) -> tuple[Topology, int] | None:
    db = app[keys.DB]
    async with db.connect() as conn:
        found = await conn.run_sync(topology_repo.active)
    if found is not None:
        return found[1], found[0]
    settings = app[keys.SETTINGS]
    if not settings.service.demo_topology or not DEMO_EXPORT.is_dir():
        log.warning("no topology is active; load one with POST /api/v1/topology")
        return None
    from oms_bridge.api.routes.topology import import_export  # noqa: PLC0415

    result = await asyncio.to_thread(import_export, DEMO_EXPORT, settings)

    def save(conn: Connection) -> int:
        vid = topology_repo.save_version(conn, result, source="demo")
        topology_repo.activate(conn, vid)
        return vid

    async with db.begin() as conn:
        vid = await conn.run_sync(save)
    log.info("loaded the bundled demo topology as version %d", vid)
    topology: Topology = result.topology
    return topology, vid


def _runtime_ctx(options: RuntimeOptions) -> Any:
    async def ctx(app: web.Application) -> AsyncIterator[None]:
        runtime = Runtime(app[keys.DB], app[keys.PORT], metrics=app[keys.METRICS],
                          hub=app[keys.HUB], options=options, write_db=app[keys.WRITE_DB],
                          caches=app[keys.READ_CACHES])
        app[keys.RUNTIME] = runtime
        found = await _active_topology(app)
        await runtime.start(*(found or (None, None)))
        yield
        app[keys.HUB].close()
        await runtime.stop()

    return ctx


def _redis_ctx(consumer_name: str | None) -> Any:
    async def ctx(app: web.Application) -> AsyncIterator[None]:
        settings = app[keys.SETTINGS]
        if not settings.redis.url:
            yield
            return
        from redis.asyncio import Redis  # noqa: PLC0415 - only with Redis configured

        from oms_bridge.bus.redis_stream import Entry, StreamConsumer  # noqa: PLC0415

        client = Redis.from_url(settings.redis.url)
        runtime = app[keys.RUNTIME]
        stream = settings.redis.stream

        async def handle(entries: list[Entry], last_id: str,
                         after: str | None) -> asyncio.Future[list[str | None]]:
            items, _errors = runtime.make_items(_decode_entries([raw for _, raw in entries]))
            return await runtime.enqueue(items, (stream, last_id), source="redis", after=after)

        async def stored_upto() -> str | None:
            async with app[keys.DB].connect() as conn:
                return await events_repo.get_offset(conn, stream)

        # The consumer gets a client of its own: it switches its reply parsing.
        consumer = StreamConsumer(
            Redis.from_url(settings.redis.url), stream=stream, group=settings.redis.group,
            consumer=consumer_name or f"{settings.redis.group}@{socket.gethostname()}",
            handler=handle, stored_upto=stored_upto, batch_size=settings.redis.batch_size,
            block_ms=settings.redis.block_ms)
        app[keys.REDIS] = client
        app[keys.CONSUMER] = consumer
        task = asyncio.create_task(consumer.run(), name="omsb-redis-consumer")
        yield
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await consumer.close()
        await consumer.client.aclose()
        await client.aclose()

    return ctx


_NOT_JSON = object()


def _decode_entries(raws: list[bytes | None]) -> list[Any]:
    """:func:`_loads` of each entry; one C-level pass when every entry is JSON."""
    import orjson  # noqa: PLC0415

    if None not in raws:
        with contextlib.suppress(orjson.JSONDecodeError):
            return list(map(orjson.loads, raws))  # type: ignore[arg-type]  # no None
    return [_loads(raw) for raw in raws]


def _loads(raw: bytes | None) -> Any:
    import orjson  # noqa: PLC0415

    if raw is None:
        return {"__missing__": "event"}
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return raw.decode("utf-8", "replace")


def _pid() -> int:
    return os.getpid()
