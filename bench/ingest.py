"""Durable ingest throughput: HTTP batches and Redis Streams, SQLite and PostgreSQL.

    python bench/ingest.py [--events 200000] [--batch 5000] [--repeat 3]
                           [--backends sqlite,postgres] [--paths http,redis]
                           [--pg-url postgresql://postgres@127.0.0.1:5432/test]
                           [--redis-url redis://127.0.0.1:6379/0]

Every run gets a fresh database holding only the bundled demo topology (seeded
outside the timings). The service (``create_app``, real engine) runs in this
process on a loopback port; then

* ``http``: ``--events`` NDJSON events in ``--batch``-sized POSTs, ``--in-flight``
  at a time, sent by a **separate process** (as a head end would be), timed
  there from the first request to the last 202 (every 202 means "durably
  stored");
* ``redis``: the same events ``XADD``ed to a fresh stream beforehand, one event
  per entry; timed from the service's start-up (consumer created) until the log
  holds them all (entries are acknowledged only once stored);
* ``bare``: the same rows written with one COPY (PostgreSQL) or one
  ``executemany`` (SQLite) per ``--batch``, one transaction each, no service.

Prints, per backend and path, the median of ``--repeat`` runs (min..max in
brackets) in durable events/s, its ratio to the bare write's median, and the
share of the wall time the writer spent inside the engine (``Engine.ingest``
and friends) and waiting for the event log write. Before that, the engine alone
and the event parser alone on the same events, for scale. Target on
PostgreSQL: at least 50,000 events/s through both paths.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import logging
import pickle
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import psycopg2
import redis
from aiohttp import web
from sqlalchemy.ext.asyncio import create_async_engine

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from oms_bridge.api import keys  # noqa: E402
from oms_bridge.api.app import DEMO_EXPORT, create_app  # noqa: E402
from oms_bridge.api.engine_port import CorePort  # noqa: E402
from oms_bridge.api.routes.topology import import_export  # noqa: E402
from oms_bridge.api.runtime import RuntimeOptions  # noqa: E402
from oms_bridge.core.events import format_time  # noqa: E402
from oms_bridge.settings import (  # noqa: E402
    DatabaseSettings,
    RedisSettings,
    ServiceSettings,
    Settings,
)
from oms_bridge.store import events_repo, migrate, topology_repo  # noqa: E402
from oms_bridge.store.engine import create_sync_engine  # noqa: E402
from oms_bridge.store.urls import async_url  # noqa: E402

TOKENS = {"head-end": "bench-he", "oms": "bench-oms"}
TARGET_PG = 50_000


def make_events(n: int, meters: list[str]) -> list[bytes]:
    """Meters going dark and coming back, 1 event a millisecond of event time."""
    t0 = 1_795_000_000.0
    out = []
    for i in range(n):
        kind = "last_gasp" if (i // len(meters)) % 2 == 0 else "power_restored"
        out.append(orjson.dumps({"event_id": f"B-{i}", "meter_id": meters[i % len(meters)],
                                 "type": kind, "occurred_at": format_time(t0 + i / 1000)}))
    return out


@dataclasses.dataclass(frozen=True)
class Run:
    rate: float  # durable events/s
    engine_share: float = 0.0  # of the wall time, in the engine
    write_share: float = 0.0  # of the wall time, waiting for the event log write
    cpu_share: float = 0.0  # CPU time of the service process over the wall time


# ------------------------------------------------------------------ client
def client_main(port: int, bodies_path: str, in_flight: int) -> None:
    """Child process: post every body, print the seconds from first send to last 202."""
    bodies: list[bytes] = pickle.loads(Path(bodies_path).read_bytes())
    headers = {"Authorization": f"Bearer {TOKENS['head-end']}",
               "Content-Type": "application/x-ndjson"}

    async def go() -> float:
        sem = asyncio.Semaphore(in_flight)
        connector = aiohttp.TCPConnector(limit=in_flight)
        async with aiohttp.ClientSession(connector=connector) as session:
            url = f"http://127.0.0.1:{port}/api/v1/events"

            async def post(body: bytes) -> None:
                async with sem, session.post(url, data=body, headers=headers) as resp:
                    if resp.status != 202:
                        raise SystemExit(f"HTTP {resp.status}: {await resp.text()}")
                    await resp.read()

            t0 = time.perf_counter()
            await asyncio.gather(*(post(b) for b in bodies))
            return time.perf_counter() - t0

    print(orjson.dumps({"elapsed": asyncio.run(go())}).decode(), flush=True)


# ------------------------------------------------------------------ service
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


def _shares(app: web.Application, elapsed: float, cpu0: float) -> tuple[float, float, float]:
    metrics = app[keys.METRICS]
    return (metrics.inference.total / elapsed, metrics.write_time.total / elapsed,
            (time.process_time() - cpu0) / elapsed)


async def run_http(settings: Settings, bodies_path: Path, n: int, in_flight: int) -> Run:
    runner, port, app = await _serve(settings)
    runtime = app[keys.RUNTIME]
    start = runtime.log_seq
    cpu0 = time.process_time()
    try:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, __file__, "--client", str(port), str(bodies_path), str(in_flight),
            stdout=subprocess.PIPE)
        out, _ = await proc.communicate()
        if proc.returncode != 0:
            raise RuntimeError(f"load generator failed ({proc.returncode})")
        elapsed = float(orjson.loads(out.splitlines()[-1])["elapsed"])
        if runtime.log_seq - start != n:
            raise RuntimeError(f"stored {runtime.log_seq - start} of {n} events")
        return Run(n / elapsed, *_shares(app, elapsed, cpu0))
    finally:
        await runner.cleanup()


async def run_redis(settings: Settings, lines: list[bytes], redis_url: str, batch: int) -> Run:
    stream = f"omsb-bench:{uuid.uuid4().hex[:8]}"
    client = redis.Redis.from_url(redis_url)
    for i in range(0, len(lines), 10_000):
        pipe = client.pipeline(transaction=False)
        for line in lines[i:i + 10_000]:
            pipe.xadd(stream, {"event": line})
        pipe.execute()
    settings = dataclasses.replace(settings, redis=RedisSettings(
        url=redis_url, stream=stream, batch_size=batch, block_ms=100))
    try:
        runner, _, app = await _serve(settings)
        t0 = time.perf_counter()  # the consumer task exists and has not read yet
        cpu0 = time.process_time()
        try:
            runtime = app[keys.RUNTIME]
            start = runtime.log_seq
            while runtime.log_seq - start < len(lines):
                await asyncio.sleep(0.002)
            elapsed = time.perf_counter() - t0
            return Run(len(lines) / elapsed, *_shares(app, elapsed, cpu0))
        finally:
            await runner.cleanup()
    finally:
        client.delete(stream)
        client.close()


async def run_bare(url: str, lines: list[bytes], batch: int) -> Run:
    rows: list[events_repo.EventRow] = []
    for i, line in enumerate(lines, start=1):
        doc = orjson.loads(line)
        rows.append((i, doc["event_id"], doc["meter_id"], doc["type"], 1.795e9 + i / 1000))
    db = create_async_engine(async_url(url))
    try:
        t0 = time.perf_counter()
        for i in range(0, len(rows), batch):
            async with db.begin() as conn:
                await events_repo.append(conn, rows[i:i + batch])
        elapsed = time.perf_counter() - t0
    finally:
        await db.dispose()
    return Run(len(rows) / elapsed)


# ----------------------------------------------------------------- databases
class Databases:
    """Fresh databases holding the demo topology; PostgreSQL ones dropped at the end."""

    def __init__(self, backend: str, pg_admin_url: str, workdir: Path, demo: Any) -> None:
        self.backend, self.pg_admin_url, self.workdir, self.demo = (
            backend, pg_admin_url, workdir, demo)
        self.names: list[str] = []

    def fresh(self, *, seed: bool = True) -> str:
        if self.backend == "postgres":
            name = f"omsb_bench_{uuid.uuid4().hex[:8]}"
            self._admin(f'CREATE DATABASE "{name}"')
            self.names.append(name)
            url = self.pg_admin_url.rsplit("/", 1)[0] + f"/{name}"
        else:
            url = f"sqlite:///{self.workdir / f'{uuid.uuid4().hex[:8]}.db'}"
        migrate.upgrade(url)
        if seed:
            engine = create_sync_engine(url)
            try:
                with engine.begin() as conn:
                    vid = topology_repo.save_version(conn, self.demo, source="bench")
                    topology_repo.activate(conn, vid)
            finally:
                engine.dispose()
        return url

    def settings(self, url: str) -> Settings:
        return Settings(service=ServiceSettings(data_dir=str(self.workdir / "data"),
                                                demo_topology=False),
                        database=DatabaseSettings(url=url), tokens=TOKENS)

    def drop_all(self) -> None:
        for name in self.names:
            self._admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        self.names.clear()

    def _admin(self, sql: str) -> None:
        conn = psycopg2.connect(self.pg_admin_url)
        conn.autocommit = True
        try:
            with conn.cursor() as cur:
                cur.execute(sql)
        finally:
            conn.close()


# --------------------------------------------------------------------- report
def _median(runs: list[Run], attr: str) -> float:
    return statistics.median(getattr(r, attr) for r in runs)


def _line(backend: str, path: str, runs: list[Run], bare: float | None) -> str:
    rates = [r.rate for r in runs]
    med = statistics.median(rates)
    text = (f"{backend:9s} {path:6s} {med:10,.0f} ev/s  [{min(rates):,.0f}..{max(rates):,.0f}]")
    if bare:
        text += f"  ratio to bare {med / bare:4.2f}"
    if path != "bare":
        text += (f"  engine {_median(runs, 'engine_share'):4.0%} of wall"
                 f"  log write {_median(runs, 'write_share'):4.0%}"
                 f"  service CPU {_median(runs, 'cpu_share'):4.0%}")
    return text


def baseline(lines: list[bytes], topology: Any) -> None:
    """The engine alone and the parser alone on the same events (this process)."""
    port = CorePort(Settings())
    t0 = time.perf_counter()
    parsed = [port.parse(orjson.loads(line)) for line in lines]
    t1 = time.perf_counter()
    engine = port.make_engine(topology)
    t2 = time.perf_counter()
    for event in parsed:
        engine.ingest(event)
    engine.drain_changes()
    engine.drain_restorations()
    t3 = time.perf_counter()
    n = len(lines)
    print(f"scale     parse (orjson + parse_event) {n / (t1 - t0):10,.0f} ev/s   "
          f"Engine.ingest alone {n / (t3 - t2):10,.0f} ev/s "
          f"({(t3 - t2) / n * 1e6:.1f} us/event)", flush=True)


async def run_backend(backend: str, args: argparse.Namespace, dbs: Databases,
                      lines: list[bytes], bodies_path: Path) -> None:
    paths = args.paths.split(",")
    runs: dict[str, list[Run]] = {p: [] for p in ("bare", *paths)}
    for _ in range(args.repeat):
        runs["bare"].append(await run_bare(dbs.fresh(seed=False), lines, args.batch))
        for path in paths:
            settings = dbs.settings(dbs.fresh())
            run: Callable[[], Any] = {
                "http": lambda s=settings: run_http(s, bodies_path, len(lines), args.in_flight),
                "redis": lambda s=settings: run_redis(s, lines, args.redis_url, args.batch),
            }[path]
            runs[path].append(await run())
        dbs.drop_all()
    bare = statistics.median(r.rate for r in runs["bare"])
    kind = "COPY" if backend == "postgres" else "executemany"
    print(_line(backend, "bare", runs["bare"], None) + f"  ({kind}, one per batch)")
    for path in paths:
        line = _line(backend, path, runs[path], bare)
        if backend == "postgres":
            ok = _median(runs[path], "rate") >= TARGET_PG
            line += f"  target {TARGET_PG:,}: {'met' if ok else 'MISSED'}"
        print(line, flush=True)


def main() -> int:
    if len(sys.argv) == 5 and sys.argv[1] == "--client":
        client_main(int(sys.argv[2]), sys.argv[3], int(sys.argv[4]))
        return 0
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--batch", type=int, default=5000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--in-flight", type=int, default=4)
    parser.add_argument("--backends", default="sqlite,postgres")
    parser.add_argument("--paths", default="http,redis")
    parser.add_argument("--pg-url", default="postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s %(message)s")
    demo = import_export(DEMO_EXPORT, Settings())
    meters = [k.decode() for k in demo.topology.meter_keys.tolist()]
    lines = make_events(args.events, meters)
    print(f"{args.events:,} events over {len(meters)} demo meters, batches of {args.batch:,}, "
          f"{args.in_flight} HTTP requests in flight, medians of {args.repeat} runs")
    baseline(lines, demo.topology)
    with tempfile.TemporaryDirectory() as tmp:
        bodies_path = Path(tmp) / "bodies.pickle"
        bodies_path.write_bytes(pickle.dumps(
            [b"\n".join(lines[i:i + args.batch]) for i in range(0, len(lines), args.batch)]))
        for backend in args.backends.split(","):
            dbs = Databases(backend, args.pg_url, Path(tmp), demo)
            try:
                asyncio.run(run_backend(backend, args, dbs, lines, bodies_path))
            finally:
                dbs.drop_all()
    return 0


if __name__ == "__main__":
    sys.exit(main())
