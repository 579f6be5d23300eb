"""Durable ingest throughput: HTTP batches and Redis Streams, SQLite and PostgreSQL.

    python bench/ingest.py [--events 200000] [--batch 5000] [--backends sqlite,postgres]
                           [--pg-url postgresql://postgres@127.0.0.1:5432/test]
                           [--redis-url redis://127.0.0.1:6379/0]

For each backend: a scratch database, the service (``create_app``, real engine,
demo topology) on a local port in this process, then

* ``http``: ``--events`` NDJSON events in ``--batch``-sized POSTs, 4 in flight;
  timed until the last 202 (every 202 means "durably stored");
* ``redis``: the same number of events ``XADD``ed beforehand to a fresh stream;
  timed from the consumer's start until the log holds them all;
* ``bare``: the same rows written with one COPY (PostgreSQL) or one
  ``executemany`` (SQLite) per batch, no service at all;

and prints events/s and the ratio of each path to the bare write.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import socket
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import psycopg2
from aiohttp import web
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import create_async_engine

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from oms_bridge.api.app import create_app  # noqa: E402
from oms_bridge.api.runtime import RuntimeOptions  # noqa: E402
from oms_bridge.core.events import format_time  # noqa: E402
from oms_bridge.settings import (  # noqa: E402
    DatabaseSettings,
    RedisSettings,
    ServiceSettings,
    Settings,
)
from oms_bridge.store import events_repo, migrate  # noqa: E402
from oms_bridge.store.urls import async_url  # noqa: E402

TOKENS = {"head-end": "bench-he", "oms": "bench-oms"}


def make_events(n: int, meters: list[str]) -> list[bytes]:
    """Meters going dark and coming back, 1 event a millisecond of event time."""
    t0 = 1_795_000_000.0
    out = []
    for i in range(n):
        kind = "last_gasp" if (i // len(meters)) % 2 == 0 else "power_restored"
        out.append(orjson.dumps({"event_id": f"B-{i}", "meter_id": meters[i % len(meters)],
                                 "type": kind, "occurred_at": format_time(t0 + i / 1000)}))
    return out


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _serve(settings: Settings) -> tuple[web.AppRunner, int, web.Application]:
    app = create_app(settings, options=RuntimeOptions(idle_tick_s=0), consumer_name="bench")
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = _port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return runner, port, app


async def bench_http(settings: Settings, lines: list[bytes], batch: int) -> float:
    runner, port, _ = await _serve(settings)
    bodies = [b"\n".join(lines[i:i + batch]) for i in range(0, len(lines), batch)]
    sem = asyncio.Semaphore(4)
    headers = {"Authorization": f"Bearer {TOKENS['head-end']}",
               "Content-Type": "application/x-ndjson"}
    async with aiohttp.ClientSession() as session:
        async def post(body: bytes) -> None:
            async with sem, session.post(f"http://127.0.0.1:{port}/api/v1/events", data=body,
                                         headers=headers) as resp:
                assert resp.status == 202, await resp.text()

        t0 = time.perf_counter()
        await asyncio.gather(*(post(b) for b in bodies))
        elapsed = time.perf_counter() - t0
    await runner.cleanup()
    return len(lines) / elapsed


async def bench_redis(settings: Settings, lines: list[bytes], redis_url: str) -> float:
    stream = f"omsb-bench:{uuid.uuid4().hex[:8]}"
    client = Redis.from_url(redis_url)
    for i in range(0, len(lines), 10_000):
        pipe = client.pipeline(transaction=False)
        for line in lines[i:i + 10_000]:
            pipe.xadd(stream, {"event": line})
        await pipe.execute()
    settings = dataclasses.replace(settings, redis=RedisSettings(
        url=redis_url, stream=stream, batch_size=5000, block_ms=100))
    t0 = time.perf_counter()
    runner, _, app = await _serve(settings)
    from oms_bridge.api import keys  # noqa: PLC0415

    runtime = app[keys.RUNTIME]
    start_seq = runtime.log_seq
    while runtime.log_seq - start_seq < len(lines):
        await asyncio.sleep(0.01)
    elapsed = time.perf_counter() - t0
    await runner.cleanup()
    await client.delete(stream)
    await client.aclose()
    return len(lines) / elapsed


async def bench_bare(url: str, lines: list[bytes], batch: int) -> float:
    rows: list[Any] = []
    for i, line in enumerate(lines, start=10_000_000):
        doc = orjson.loads(line)
        rows.append((i, doc["event_id"], doc["meter_id"], doc["type"], 0.0))
    db = create_async_engine(async_url(url))
    t0 = time.perf_counter()
    for i in range(0, len(rows), batch):
        async with db.begin() as conn:
            await events_repo.append(conn, rows[i:i + batch])
    elapsed = time.perf_counter() - t0
    await db.dispose()
    return len(rows) / elapsed


def scratch_pg(admin_url: str) -> tuple[str, str]:
    name = f"omsb_bench_{uuid.uuid4().hex[:8]}"
    conn = psycopg2.connect(admin_url)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(f'CREATE DATABASE "{name}"')
    conn.close()
    return admin_url.rsplit("/", 1)[0] + f"/{name}", name


def drop_pg(admin_url: str, name: str) -> None:
    conn = psycopg2.connect(admin_url)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    conn.close()


async def run_backend(backend: str, args: argparse.Namespace, workdir: Path) -> None:
    names: list[str] = []

    def fresh(tag: str) -> Settings:
        if backend == "postgres":
            url, name = scratch_pg(args.pg_url)
            names.append(name)
        else:
            url = f"sqlite:///{workdir / f'{tag}.db'}"
        return Settings(service=ServiceSettings(data_dir=str(workdir / "data")),
                        database=DatabaseSettings(url=url), tokens=TOKENS)

    async def warm(settings: Settings) -> list[str]:
        # migrations and the demo topology first, so timings are ingest only
        runner, _, app = await _serve(settings)
        from oms_bridge.api import keys  # noqa: PLC0415

        topo = app[keys.RUNTIME].topology
        assert topo is not None
        await runner.cleanup()
        return [k.decode() for k in topo.meter_keys.tolist()]

    try:
        http_settings, redis_settings = fresh("http"), fresh("redis")
        meters = await warm(http_settings)
        await warm(redis_settings)
        lines = make_events(args.events, meters)
        http = await bench_http(http_settings, lines, args.batch)
        rds = await bench_redis(redis_settings, lines, args.redis_url)
        bare_url = fresh("bare").database_url
        migrate.upgrade(bare_url)
        bare = await bench_bare(bare_url, lines, args.batch)
        print(f"{backend:9s} http {http:10,.0f} ev/s   redis {rds:10,.0f} ev/s   "
              f"bare {'COPY' if backend == 'postgres' else 'executemany'} {bare:10,.0f} rows/s"
              f"   ratio http/bare {http / bare:.2f}  redis/bare {rds / bare:.2f}", flush=True)
    finally:
        for name in names:
            drop_pg(args.pg_url, name)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--batch", type=int, default=5000)
    parser.add_argument("--backends", default="sqlite,postgres")
    parser.add_argument("--pg-url", default="postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    args = parser.parse_args()
    print(f"{args.events:,} events, batches of {args.batch:,}, real engine, demo topology")
    for backend in args.backends.split(","):
        with tempfile.TemporaryDirectory() as tmp:
            asyncio.run(run_backend(backend, args, Path(tmp)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
