"""Read API throughput: the restoration feed and the outage list with 50,000 stored outages.

    python bench/api.py [--outages 50000] [--connections 32] [--seconds 5] [--repeat 3]
                        [--limit 100] [--backends postgres,sqlite]
                        [--pg-url postgresql://postgres@127.0.0.1:5432/test]

A fresh database gets the demo topology and ``--outages`` outages with one
restoration feed item each, written straight into the store. The service
(``create_app``) and a trivial aiohttp handler (``GET /trivial``: a small JSON
object, nothing else) then serve on loopback ports of this process, and a load
generator in **a separate process** (aiohttp client, ``--connections``
concurrent connections, ``--seconds`` per measurement, loopback only) requests

* ``GET /api/v1/restorations?after=SEQ&limit=N`` at random cursors,
* ``GET /api/v1/outages?status=S&limit=N&after=CURSOR`` at random cursors and
  statuses,
* ``GET /trivial``, the reference, in the same run,

(the service answers both from its per-process read caches,
``oms_bridge.api.read_cache``: 50,000 rows fit their bounds, so after the first
pass every page is served from memory; the database sees chunk loads only)
and prints requests/s and p99 latency of each (medians of ``--repeat`` rounds)
and the ratio of each endpoint's requests/s to the trivial handler's (target
at least 0.5).
"""

from __future__ import annotations

import argparse
import asyncio
import random
import socket
import statistics
import subprocess
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
from sqlalchemy.ext.asyncio import create_async_engine

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from oms_bridge.api.app import DEMO_EXPORT, create_app  # noqa: E402
from oms_bridge.api.routes.topology import import_export  # noqa: E402
from oms_bridge.api.runtime import RuntimeOptions  # noqa: E402
from oms_bridge.core.events import format_time  # noqa: E402
from oms_bridge.settings import DatabaseSettings, ServiceSettings, Settings  # noqa: E402
from oms_bridge.store import migrate, outages_repo, topology_repo  # noqa: E402
from oms_bridge.store.engine import create_sync_engine  # noqa: E402
from oms_bridge.store.urls import async_url  # noqa: E402

TOKEN = "bench-oms"
TARGET_RATIO = 0.5
STATUSES = ("all", "active", "restored", "momentary")


# ------------------------------------------------------------------ client
def client_main(base: str, trivial: str, n: int, *, limit: int, connections: int,
                seconds: float) -> None:
    """Child process: each target in turn for ``seconds``; prints JSON figures."""
    rng = random.Random(7)

    def target_urls(kind: str) -> list[str]:
        if kind == "restorations":
            return [f"{base}/api/v1/restorations?after={rng.randrange(n)}&limit={limit}"
                    for _ in range(5000)]
        if kind == "outages":
            return [f"{base}/api/v1/outages?status={rng.choice(STATUSES)}&limit={limit}"
                    f"&after={rng.randrange(n)}" for _ in range(5000)]
        return [f"{trivial}/trivial"]

    async def measure(urls: list[str]) -> dict[str, float]:
        latencies: list[float] = []
        headers = {"Authorization": f"Bearer {TOKEN}"}
        connector = aiohttp.TCPConnector(limit=connections)
        async with aiohttp.ClientSession(connector=connector) as session:
            async def one(url: str) -> None:
                t = time.perf_counter()
                async with session.get(url, headers=headers) as resp:
                    await resp.read()
                    if resp.status != 200:
                        raise SystemExit(f"{url}: HTTP {resp.status}")
                latencies.append(time.perf_counter() - t)

            for url in urls[:connections]:  # warm the connections
                await one(url)
            latencies.clear()
            end = time.perf_counter() + seconds
            t0 = time.perf_counter()

            async def worker(k: int) -> None:
                i = k
                while time.perf_counter() < end:
                    await one(urls[i % len(urls)])
                    i += connections

            await asyncio.gather(*(worker(k) for k in range(connections)))
            elapsed = time.perf_counter() - t0
        latencies.sort()
        return {"rps": len(latencies) / elapsed,
                "p99_ms": latencies[int(len(latencies) * 0.99) - 1] * 1000}

    async def go() -> dict[str, Any]:
        return {kind: await measure(target_urls(kind))
                for kind in ("trivial", "restorations", "outages")}

    print(orjson.dumps(asyncio.run(go())).decode(), flush=True)


# ------------------------------------------------------------------ store
def seed(url: str, n: int) -> None:
    """Demo topology, then ``n`` outages (a fifth active) with a feed item each."""
    migrate.upgrade(url)
    demo = import_export(DEMO_EXPORT, Settings())
    engine = create_sync_engine(url)
    try:
        with engine.begin() as conn:
            vid = topology_repo.save_version(conn, demo, source="bench")
            topology_repo.activate(conn, vid)
    finally:
        engine.dispose()
    feeders = list(demo.topology.feeder_ids)

    async def write() -> None:
        db = create_async_engine(async_url(url))
        t0 = 1_795_000_000.0
        try:
            for lo in range(0, n, 5000):
                rows, feed = [], []
                for i in range(lo, min(n, lo + 5000)):
                    oid = f"OUT-{i:08d}"
                    status = "active" if i % 5 == 0 else "momentary" if i % 17 == 0 else (
                        "restored")
                    start = t0 + i * 60.0
                    doc: dict[str, Any] = {
                        "outage_id": oid, "device_id": f"FUSE-{i % 900}",
                        "device_type": "fuse", "feeder_id": feeders[i % len(feeders)],
                        "status": status, "started_at": format_time(start),
                        "restored_at": None if status == "active" else format_time(start + 900),
                        "confirmed_at": None if status == "active" else format_time(start + 960),
                        "predicted_at": format_time(start + 60), "meters_affected": 41,
                        "meters_reporting": 23, "confidence": 0.93, "parent_outage_id": None}
                    rows.append(outages_repo.OutageRow(
                        oid, i + 1, status, doc["feeder_id"], doc["device_id"], start, None, doc))
                    feed.append((i + 1, oid, {
                        "seq": i + 1, "outage_id": oid, "device_id": doc["device_id"],
                        "feeder_id": doc["feeder_id"], "started_at": doc["started_at"],
                        "restored_at": format_time(start + 900),
                        "confirmed_at": format_time(start + 960), "meters_restored": 41,
                        "meters_unverified": ["MTR-000001", "MTR-000002"],
                        "nested_outage_ids": []}))
                async with db.begin() as conn:
                    await outages_repo.save(conn, rows, [], feed)
        finally:
            await db.dispose()

    asyncio.run(write())


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def serve_and_load(url: str, args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    settings = Settings(service=ServiceSettings(data_dir=str(workdir / "data"),
                                                demo_topology=False),
                        database=DatabaseSettings(url=url), tokens={"oms": TOKEN})
    app = create_app(settings, options=RuntimeOptions(idle_tick_s=0))
    trivial = web.Application()

    async def hello(_request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    trivial.router.add_get("/trivial", hello)
    runners = [web.AppRunner(app, access_log=None), web.AppRunner(trivial, access_log=None)]
    ports = []
    for runner in runners:
        await runner.setup()
        ports.append(_port())
        await web.TCPSite(runner, "127.0.0.1", ports[-1]).start()
    try:
        rounds = []
        for _ in range(args.repeat):
            proc = await asyncio.create_subprocess_exec(
                sys.executable, __file__, "--client", f"http://127.0.0.1:{ports[0]}",
                f"http://127.0.0.1:{ports[1]}", str(args.outages), str(args.limit),
                str(args.connections), str(args.seconds), stdout=subprocess.PIPE)
            out, _ = await proc.communicate()
            if proc.returncode != 0:
                raise RuntimeError(f"load generator failed ({proc.returncode})")
            rounds.append(orjson.loads(out.splitlines()[-1]))
        return {kind: {k: statistics.median(r[kind][k] for r in rounds)
                       for k in ("rps", "p99_ms")} for kind in rounds[0]}
    finally:
        for runner in reversed(runners):
            await runner.cleanup()


def run_backend(backend: str, args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        name = f"omsb_api_{uuid.uuid4().hex[:8]}"
        if backend == "postgres":
            url = args.pg_url.rsplit("/", 1)[0] + f"/{name}"
            _admin(args.pg_url, f'CREATE DATABASE "{name}"')
        else:
            url = f"sqlite:///{Path(tmp) / 'api.db'}"
        try:
            t0 = time.perf_counter()
            seed(url, args.outages)
            print(f"{backend}: {args.outages:,} outages and feed items stored in "
                  f"{time.perf_counter() - t0:.1f} s", flush=True)
            figures = asyncio.run(serve_and_load(url, args, Path(tmp)))
        finally:
            if backend == "postgres":
                _admin(args.pg_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    base = figures["trivial"]["rps"]
    for kind in ("trivial", "restorations", "outages"):
        f = figures[kind]
        line = f"{backend:9s} {kind:13s} {f['rps']:9,.0f} req/s   p99 {f['p99_ms']:7.1f} ms"
        if kind != "trivial":
            ratio = f["rps"] / base
            line += (f"   ratio to trivial {ratio:4.2f}  "
                     f"target {TARGET_RATIO}: {'met' if ratio >= TARGET_RATIO else 'MISSED'}")
        print(line, flush=True)


def _admin(admin_url: str, sql: str) -> None:
    conn = psycopg2.connect(admin_url)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute(sql)
    finally:
        conn.close()


def main() -> int:
    if len(sys.argv) == 8 and sys.argv[1] == "--client":
        client_main(sys.argv[2], sys.argv[3], int(sys.argv[4]), limit=int(sys.argv[5]),
                    connections=int(sys.argv[6]), seconds=float(sys.argv[7]))
        return 0
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--outages", type=int, default=50_000)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--limit", type=int, default=100)
    parser.add_argument("--backends", default="postgres,sqlite")
    parser.add_argument("--pg-url", default="postgresql://postgres@127.0.0.1:5432/test")
    args = parser.parse_args()
    print(f"{args.connections} connections, {args.seconds:g} s per endpoint, "
          f"pages of {args.limit}, medians of {args.repeat} rounds")
    for backend in args.backends.split(","):
        run_backend(backend, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
