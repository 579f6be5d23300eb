"""Load: a storm at ``--rate`` events/s for ``--duration-s`` into the running
service on its own PostgreSQL and Redis, while OMS pollers and dispatcher
streams read. ``python bench/load.py`` (defaults: 20,000/s for 60 s, 50 pollers,
20 streams); ``--rate 2000 --duration-s 5`` for a quick look.

Everything is on loopback: the script starts a throw-away PostgreSQL and Redis
on spare ports (``tests/faults/services.py``), loads the EPRI ckt24 feeder,
starts ``oms-bridge serve`` and these processes, each of which stops by itself:

- two producers on one schedule: batch ``b`` of ``--batch`` events is due at
  ``t0 + b * batch / rate``; even batches are POSTed (NDJSON, at most
  ``--inflight`` requests open), odd ones XADDed to the stream (one pipeline);
- one reader process with ``--pollers`` restoration-feed pollers (each keeps
  ``next`` and polls every ``--poll-s``) and ``--streams`` SSE clients (which,
  as a browser's EventSource does, reconnect when the service drops one that
  fell behind).

Definitions of the figures:

ingest lag
    from the moment a batch was *due* on the schedule (so a service that slows
    its producers cannot hide lag) until it is durable and applied: for HTTP the
    202 answer (sent after the log commit, the engine and the outage write), for
    the stream the moment the group's last entry of the batch is delivered and no
    longer pending (acknowledged after the same point), sampled every 20 ms.
feed latency
    wall time of one ``GET /api/v1/restorations?after=next`` request.
memory
    the server's VmRSS from ``/proc`` each second, and its least-squares slope
    over the last 40 s per event logged meanwhile (``rss_growth_bytes_per_event``).
    Two verdicts on it:

    ``memory_flat_old``: the slope is at most 1.5 x the ~100 bytes the engine's
    duplicate filter costs per event id, as if every id were kept for good.
    ``memory_flat``: the slope exceeds by at most 50 bytes what the engine by
    design retains per event over the same events
    (``engine_retained_bytes_per_event``, measured after the run by feeding the
    service's own event log, read back from its PostgreSQL in ``seq`` order, to
    an engine of the same settings in a process of its own, with tracemalloc:
    the events in the order the service applied them, as a restart would
    replay them. HTTP and stream batches interleave in that order as the two
    sources run ahead of each other, and with event time moving four days per
    94,000 events a second of skew makes events hours late, which changes what
    the engine keeps: fed in batch order instead, the engine held some 20 %
    fewer outages than the service's). The engine keeps event ids for
    ``dedupe_horizon_s`` and evidence for ``evidence_retention_s`` of *event*
    time (this storm moves event time on by four days per 94,000 events, so both
    windows turn over within seconds) and one summary per outage for good; what
    the service holds beyond that must not grow. ``--no-engine-baseline`` skips
    the reference (then only the old verdict is given).

    Beside the verdicts, not part of them: the service's two read caches (feed
    and outage list) fill up to their chunk bounds for minutes at this rate, so
    part of the slope is bounded by design. ``read_cache_growth_bytes_per_event``
    is the slope of the service's ``omsb_read_cache_bytes`` gauge (sampled each
    second from ``/metrics``; the cached documents' bytes) over the same window,
    and ``rss_growth_net_of_read_caches_bytes_per_event`` (and, with the
    reference, ``rss_excess_net_of_read_caches_bytes_per_event``) the slope
    without it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import multiprocessing as mp
import os
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import ExitStack, suppress
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import orjson  # noqa: E402
import redis  # noqa: E402

from tests.e2e.helpers import TOKENS, Server, cli, free_port, service_env  # noqa: E402
from tests.faults.services import PostgresInstance, RedisInstance  # noqa: E402

STREAM = "oms-bridge:events"
GROUP = "oms-bridge"
#: bytes the engine keeps per event id it has seen (engine.py module docstring)
ID_BYTES = 100.0
#: RSS growth per event allowed beyond what the engine retains by design
EXCESS_BYTES = 50.0
#: seconds a dispatcher stream waits before reconnecting (EventSource's default
#: retry is about three seconds in browsers)
SSE_RETRY_S = 3.0
#: event time each round of the storm file is moved on by
SPAN_S = 4 * 86400.0


# ------------------------------------------------------------------ events
def _storm_lines(topology: Path, work: Path) -> list[bytes]:
    events = work / "events.jsonl"
    cli("simulate", "--topology", str(topology), "--seed", "4", "--outages", "3000",
        "--duration-h", "72", "--out-events", str(events), "--out-truth",
        str(work / "truth.json"))
    return [line for line in events.read_bytes().splitlines() if line.strip()]


def _batch(lines: list[bytes], b: int, size: int, span_s: float) -> list[bytes]:
    """Batch ``b`` of an endless storm: the file again and again, each round with
    fresh event ids and its times moved on by the storm's span."""
    n = len(lines)
    out: list[bytes] = []
    for k in range(b * size, (b + 1) * size):
        rnd, i = divmod(k, n)
        line = lines[i]
        if rnd:
            try:
                obj = orjson.loads(line)
            except orjson.JSONDecodeError:
                out.append(line)
                continue
            if isinstance(obj, dict):
                if isinstance(obj.get("event_id"), str):
                    obj["event_id"] = f"R{rnd}-{obj['event_id']}"
                t = obj.get("occurred_at")
                if isinstance(t, str) and t.endswith("Z"):
                    from datetime import datetime, timedelta  # noqa: PLC0415

                    try:
                        stamp = datetime.fromisoformat(t[:-1] + "+00:00")
                        stamp += timedelta(seconds=rnd * span_s)
                        obj["occurred_at"] = stamp.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
                    except ValueError:
                        pass
            line = orjson.dumps(obj)
        out.append(line)
    return out


# --------------------------------------------------------------- producers
def _http_producer(cfg: dict[str, Any], bodies: list[bytes], out: str) -> None:
    """POSTs the even batches (``bodies[i]`` is batch ``2 i``, prepared beforehand)."""
    import aiohttp  # noqa: PLC0415

    async def main() -> list[tuple[float, float, int]]:
        sem = asyncio.Semaphore(cfg["inflight"])
        results: list[tuple[float, float, int]] = []
        url = f"http://127.0.0.1:{cfg['port']}/api/v1/events"
        headers = {"Authorization": f"Bearer {TOKENS['HEAD_END']}",
                   "Content-Type": "application/x-ndjson"}
        t0 = cfg["t0"]
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=120)) as s:

            async def one(b: int, due: float) -> None:
                body = bodies[b // 2]
                async with sem:
                    try:
                        async with s.post(url, data=body, headers=headers) as r:
                            await r.read()
                            status = r.status
                    except (aiohttp.ClientError, TimeoutError):
                        status = 0
                results.append((due - t0, time.time() - due, status))

            tasks = []
            for b in range(0, cfg["batches"], 2):
                due = t0 + b * cfg["batch"] / cfg["rate"]
                await asyncio.sleep(max(0.0, due - time.time()))
                tasks.append(asyncio.create_task(one(b, due)))
            await asyncio.wait_for(asyncio.gather(*tasks), timeout=cfg["grace_s"])
        return results

    try:
        results = asyncio.run(main())
    except TimeoutError:
        results = []
    Path(out).write_text(json.dumps(results))


def _redis_producer(cfg: dict[str, Any], bodies: list[list[bytes]], out: str) -> None:
    """XADDs the odd batches (``bodies[i]`` is batch ``2 i + 1``, prepared beforehand)."""
    client = redis.Redis.from_url(cfg["redis_url"])
    sent: list[tuple[float, float, str]] = []
    t0 = cfg["t0"]
    for b in range(1, cfg["batches"], 2):
        due = t0 + b * cfg["batch"] / cfg["rate"]
        body = bodies[b // 2]
        time.sleep(max(0.0, due - time.time()))
        pipe = client.pipeline(transaction=False)
        for line in body:
            pipe.xadd(STREAM, {"event": line})
        ids = pipe.execute()
        last = ids[-1].decode() if isinstance(ids[-1], bytes) else str(ids[-1])
        sent.append((due - t0, due, last))
    client.close()
    Path(out).write_text(json.dumps(sent))


# ----------------------------------------------------------------- readers
def _readers(cfg: dict[str, Any], out: str) -> None:
    import aiohttp  # noqa: PLC0415

    async def main() -> dict[str, Any]:
        base = f"http://127.0.0.1:{cfg['port']}"
        end = cfg["t0"] + cfg["duration_s"]
        feed_lat: list[float] = []
        seen: list[int] = [0] * cfg["pollers"]
        dups = 0
        sse_events = [0] * cfg["streams"]
        sse_reconnects = [0] * cfg["streams"]
        oms = {"Authorization": f"Bearer {TOKENS['OMS']}"}
        disp = {"Authorization": f"Bearer {TOKENS['DISPATCHER']}"}
        timeout = aiohttp.ClientTimeout(total=None, sock_read=60)
        conn = aiohttp.TCPConnector(limit=0)
        async with aiohttp.ClientSession(timeout=timeout, connector=conn) as s:

            async def poller(k: int) -> None:
                nonlocal dups
                cursor, last = 0, 0
                await asyncio.sleep(cfg["poll_s"] * k / cfg["pollers"])
                while time.time() < end:
                    t = time.perf_counter()
                    try:
                        async with s.get(f"{base}/api/v1/restorations?after={cursor}&limit=100",
                                         headers=oms) as r:
                            doc = await r.json()
                        feed_lat.append(time.perf_counter() - t)
                        for item in doc["items"]:
                            if item["seq"] <= last:
                                dups += 1
                            last = item["seq"]
                        seen[k] += len(doc["items"])
                        cursor = doc["next"]
                        if len(doc["items"]) == 100:
                            continue
                    except (aiohttp.ClientError, ValueError, KeyError):
                        pass
                    await asyncio.sleep(cfg["poll_s"])

            async def stream(k: int) -> None:
                # as a browser's EventSource: when the service ends the stream (a
                # client that fell 1,000 changes behind is dropped), reconnect
                # after a pause and start again from a fresh snapshot
                while time.time() < end:
                    try:
                        async with s.get(f"{base}/api/v1/stream", headers=disp) as r:
                            while time.time() < end:
                                line = await asyncio.wait_for(r.content.readline(),
                                                              max(0.1, end - time.time()))
                                if not line:
                                    break   # the stream ended
                                if line.startswith(b"event:"):
                                    sse_events[k] += 1
                    except (aiohttp.ClientError, TimeoutError):
                        pass
                    if time.time() < end:
                        sse_reconnects[k] += 1
                        await asyncio.sleep(min(SSE_RETRY_S, max(0.0, end - time.time())))

            await asyncio.gather(*(poller(k) for k in range(cfg["pollers"])),
                                 *(stream(k) for k in range(cfg["streams"])))
        return {"feed_latency_s": feed_lat, "feed_items_seen": seen,
                "feed_out_of_order": dups, "sse_events": sse_events,
                "sse_reconnects": sse_reconnects}

    Path(out).write_text(json.dumps(asyncio.run(main())))


# ----------------------------------------------------------------- sampling
def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024.0
    return math.nan


def _cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Sampler:
    """RSS and log size each second; the stream's durable frontier every 20 ms;
    the read caches' bytes (``/metrics``) each second."""

    def __init__(self, server: Server, redis_url: str) -> None:
        self.server, self.pid = server, server.pid or 0
        self.client = redis.Redis.from_url(redis_url)
        self.rss: list[tuple[float, float, int]] = []
        self.frontier: list[tuple[float, tuple[int, int]]] = []
        self.cache_bytes: list[tuple[float, float]] = []
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._slow, daemon=True),
                         threading.Thread(target=self._fast, daemon=True),
                         threading.Thread(target=self._caches, daemon=True)]

    def start(self) -> None:
        for t in self._threads:
            t.start()

    def stop(self) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(timeout=10)
        self.client.close()

    def _slow(self) -> None:
        while not self._stop.wait(1.0):
            with suppress(OSError, ValueError):
                self.rss.append((time.time(), _rss_mb(self.pid), self.server.log_seq()))

    def _caches(self) -> None:
        while not self._stop.wait(1.0):
            t = time.time()
            try:
                body = self.server.call("GET", "/metrics", TOKENS["OMS"], timeout_s=10.0).body
            except OSError:
                continue
            if isinstance(body, str) and "omsb_read_cache_bytes" in body:
                self.cache_bytes.append((t, _metric(body, "omsb_read_cache_bytes")))

    def _fast(self) -> None:
        while not self._stop.wait(0.02):
            try:
                groups = self.client.xinfo_groups(STREAM)
                pend = self.client.xpending(STREAM, GROUP)
            except redis.RedisError:
                continue
            if not groups:
                continue
            delivered = _key(groups[0]["last-delivered-id"])
            if int(pend["pending"]):
                low = _key(pend["min"])
                frontier = (low[0], low[1] - 1) if low[1] else (low[0] - 1, 2**62)
                delivered = min(delivered, frontier)
            self.frontier.append((time.time(), delivered))


def _key(entry_id: Any) -> tuple[int, int]:
    text = entry_id.decode() if isinstance(entry_id, bytes) else str(entry_id)
    ms, _, seq = text.partition("-")
    return int(ms), int(seq or 0)


def _pct(values: list[float], q: float) -> float:
    if not values:
        return math.nan
    s = sorted(values)
    return s[min(len(s) - 1, math.ceil(q / 100 * len(s)) - 1)]


def _slope(points: list[tuple[float, float]]) -> float:
    n = len(points)
    if n < 2:
        return math.nan
    mx = sum(p[0] for p in points) / n
    my = sum(p[1] for p in points) / n
    sxx = sum((p[0] - mx) ** 2 for p in points)
    return sum((p[0] - mx) * (p[1] - my) for p in points) / sxx if sxx else math.nan


def _metric(text: str, name: str) -> float:
    total = 0.0
    for line in text.splitlines():
        if line.startswith((name + " ", name + "{")):
            total += float(line.rsplit(" ", 1)[1])
    return total


# --------------------------------------------------------------------- run
def _kill_all(procs: list[Any]) -> None:
    for p in procs:
        if p.is_alive():
            p.kill()
            p.join(timeout=5)


def run(args: argparse.Namespace) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="omsb-load-"))
    with ExitStack() as stack:
        stack.callback(lambda: __import__("shutil").rmtree(work, ignore_errors=True))
        lines = _storm_lines(args.topology, work)
        pg = stack.enter_context(PostgresInstance())
        rds = stack.enter_context(RedisInstance())
        pg.start()
        rds.start()
        db_url = pg.create_database("omsb_load")
        done = subprocess.run([sys.executable, "-m", "gis_import.cli", "load",
                               str(args.topology), "--database-url", db_url],
                              check=False, capture_output=True)
        if done.returncode:
            raise SystemExit(f"gis-import load failed: {done.stderr.decode()[-2000:]}")
        server = Server(service_env(work / "data", db_url, rds.url, STREAM), free_port(),
                        work / "server.log", idle_tick_s=5.0, tick_rate=1.0,
                        consumer_name="load")
        stack.callback(server.stop)
        server.start()
        pid = server.pid or 0
        batches = int(args.rate * args.duration_s // args.batch)
        # every batch made before the clock starts: re-dating a storm costs the
        # harness a few microseconds an event in Python, CPU that a real head end
        # spends on its own machine, not on the two cores the service has here
        http_bodies = [b"\n".join(_batch(lines, b, args.batch, SPAN_S))
                       for b in range(0, batches, 2)]
        redis_bodies = [_batch(lines, b, args.batch, SPAN_S) for b in range(1, batches, 2)]
        # the producers start (spawn, unpickle their batches) before t0
        t0 = time.time() + 8.0
        cfg = {"port": server.port, "redis_url": rds.url, "t0": t0, "rate": args.rate,
               "batch": args.batch, "batches": batches, "inflight": args.inflight,
               "duration_s": args.duration_s, "grace_s": args.duration_s + 120,
               "pollers": args.pollers, "streams": args.streams, "poll_s": args.poll_s,
               "span_s": SPAN_S}
        ctx = mp.get_context("spawn")
        files = {k: str(work / f"{k}.json") for k in ("http", "redis", "readers")}
        procs = [ctx.Process(target=_http_producer, args=(cfg, http_bodies, files["http"])),
                 ctx.Process(target=_redis_producer, args=(cfg, redis_bodies, files["redis"])),
                 ctx.Process(target=_readers, args=(cfg, files["readers"]))]
        sampler = Sampler(server, rds.url)
        cpu0 = _cpu_s(pid)
        sampler.start()
        for p in procs:
            p.start()
        stack.callback(_kill_all, procs)
        for p in procs:
            p.join(timeout=args.duration_s + 180)
        total = batches * args.batch
        deadline = time.time() + 120
        while server.log_seq() < total and time.time() < deadline:
            time.sleep(0.2)
        drained = time.time()
        time.sleep(1.5)
        sampler.stop()
        cpu = _cpu_s(pid) - cpu0
        if args.engine_baseline:
            _dump_log(db_url, args.log_dump)
        metrics = server.call("GET", "/metrics", TOKENS["OMS"]).body
        stats = server.get("/api/v1/events/stats")
        http = json.loads(Path(files["http"]).read_text()) if Path(files["http"]).exists() \
            else []
        xadds = json.loads(Path(files["redis"]).read_text()) if Path(
            files["redis"]).exists() else []
        readers = json.loads(Path(files["readers"]).read_text()) if Path(
            files["readers"]).exists() else {}
    return _figures(args, t0=t0, drained=drained, total=total, http=http, xadds=xadds,
                    readers=readers, sampler=sampler, stats=stats, cpu_s=cpu,
                    metrics=metrics if isinstance(metrics, str) else "")


def _figures(args: argparse.Namespace, *, t0: float, drained: float, total: int,
             http: list[list[Any]], xadds: list[list[Any]], readers: dict[str, Any],
             sampler: Sampler, stats: dict[str, Any], cpu_s: float,
             metrics: str) -> dict[str, Any]:
    lags = [lag for _, lag, status in http if status == 202]
    http_failed = sum(1 for _, _, status in http if status != 202)
    frontier = sampler.frontier
    redis_lags: list[float] = []
    j = 0
    for _, due, last in xadds:
        key = _key(last)
        while j < len(frontier) and frontier[j][1] < key:
            j += 1
        if j < len(frontier):
            redis_lags.append(frontier[j][0] - due)
    all_lags = lags + redis_lags
    rss = [(t - t0, mb) for t, mb, _ in sampler.rss]
    tail = [(t, mb) for t, mb in rss if args.duration_s - 40 <= t <= args.duration_s]
    slope_mb_s = _slope(tail)
    logs = [(t - t0, n) for t, _, n in sampler.rss]
    in_tail = [n for t, n in logs if args.duration_s - 40 <= t <= args.duration_s]
    rate_tail = ((in_tail[-1] - in_tail[0]) / 40.0) if len(in_tail) > 1 else math.nan
    bytes_per_event = slope_mb_s * 1024 * 1024 / rate_tail if rate_tail else math.nan
    cache_tail = [(t - t0, b) for t, b in sampler.cache_bytes
                  if args.duration_s - 40 <= t - t0 <= args.duration_s]
    cache_per_event = _slope(cache_tail) / rate_tail if rate_tail else math.nan
    lag_windows: dict[int, list[float]] = {}
    for due_t, lag, status in http:
        if status == 202:
            lag_windows.setdefault(int(due_t // 10), []).append(lag)
    for (due_t, _, _), lag in zip(xadds, redis_lags, strict=False):
        lag_windows.setdefault(int(due_t // 10), []).append(lag)
    wall = drained - t0
    feed = readers.get("feed_latency_s", [])
    fig = {
        "offered_rate": args.rate, "duration_s": args.duration_s, "events_offered": total,
        "events_logged": stats.get("log_seq"), "event_counts": {
            k: stats.get(k) for k in ("accepted", "duplicate", "unknown_meter", "invalid")},
        "drained_after_s": round(wall, 1),
        "sustained_rate": round(total / wall) if wall > 0 else None,
        "ingest_lag_p50_s": round(_pct(all_lags, 50), 3),
        "ingest_lag_p99_s": round(_pct(all_lags, 99), 3),
        "ingest_lag_max_s": round(max(all_lags, default=math.nan), 3),
        "http_lag_p99_s": round(_pct(lags, 99), 3),
        "stream_lag_p99_s": round(_pct(redis_lags, 99), 3),
        "http_batches_failed": http_failed,
        "feed_requests": len(feed), "feed_p50_ms": round(_pct(feed, 50) * 1000, 1),
        "feed_p99_ms": round(_pct(feed, 99) * 1000, 1),
        "feed_items_seen_per_poller": sorted(set(readers.get("feed_items_seen", []))),
        "feed_out_of_order": readers.get("feed_out_of_order"),
        "sse_events_per_stream": sorted(set(readers.get("sse_events", []))),
        "sse_reconnects_per_stream": sorted(set(readers.get("sse_reconnects", []))),
        "rss_mb_each_5s": [round(mb) for t, mb in rss if int(t) % 5 == 0 and t >= 0],
        "rss_mb_each_1s": [round(mb, 1) for t, mb in rss if t >= 0],
        "logged_each_1s": [n for t, n in logs if t >= 0],
        "rss_slope_last40s_mb_per_s": round(slope_mb_s, 3),
        "rss_growth_bytes_per_event": round(bytes_per_event, 1),
        "tail_events": [in_tail[0], in_tail[-1]] if len(in_tail) > 1 else None,
        "read_cache_mb_at_end": round(sampler.cache_bytes[-1][1] / 2**20, 1)
        if sampler.cache_bytes else None,
        "read_cache_growth_bytes_per_event": round(cache_per_event, 1),
        "rss_growth_net_of_read_caches_bytes_per_event": round(
            bytes_per_event - cache_per_event, 1),
        "ingest_lag_p99_each_10s": [round(_pct(v, 99), 2) for _, v in sorted(lag_windows.items())],
        "server_cpu_s": round(cpu_s, 1), "server_cpu_share": round(cpu_s / wall, 2),
        "server_write_s": round(_metric(metrics, "omsb_event_write_seconds_sum"), 1),
        "server_inference_s": round(_metric(metrics, "omsb_inference_seconds_sum"), 1),
        "server_batches": int(_metric(metrics, "omsb_ingest_batches_total")),
    }
    fig["lag_ok"] = bool(fig["ingest_lag_p99_s"] < 2.0)
    fig["memory_flat_old"] = bool(bytes_per_event <= 1.5 * ID_BYTES)
    return fig


# ------------------------------------------------------- engine reference
def _dump_log(db_url: str, path: Path) -> None:
    """The service's event log, in ``seq`` order, as JSON lines of
    ``[event_id, meter_id, kind, occurred_at]`` (the items it applied)."""
    from sqlalchemy import create_engine, text  # noqa: PLC0415

    url = db_url.split("://", 1)[1]
    engine = create_engine(f"postgresql+psycopg2://{url}")
    try:
        with engine.connect() as conn, path.open("wb") as fh:
            rows = conn.execution_options(stream_results=True, yield_per=50_000).execute(
                text("SELECT event_id, meter_id, kind, occurred_at FROM events ORDER BY seq"))
            for part in rows.partitions():
                fh.write(b"".join(orjson.dumps(list(r)) + b"\n" for r in part))
    finally:
        engine.dispose()


def _engine_retained(cfg: dict[str, Any], out: str) -> None:
    """Bytes the engine alone retains per event between two log positions.

    The service's log (:func:`_dump_log`) applied as the runtime applies it
    (runs of events in bulk through :class:`CorePort`, invalid lines counted,
    idle ticks as ticks), ``batch`` rows at a time, with a collection before
    each reading, so only what the engine keeps is counted.
    """
    import gc  # noqa: PLC0415
    import tracemalloc  # noqa: PLC0415

    from oms_bridge.api.engine_port import CorePort  # noqa: PLC0415
    from oms_bridge.api.runtime import INVALID, TICK  # noqa: PLC0415
    from oms_bridge.commands.replay import load_topology  # noqa: PLC0415
    from oms_bridge.settings import load_settings  # noqa: PLC0415

    settings = load_settings(None, env=cfg["env"])
    port = CorePort(settings)
    engine = port.make_engine(load_topology(cfg["topology"], settings))
    lo, hi, size = cfg["lo"], cfg["hi"], cfg["batch"]

    def apply(rows: list[list[Any]]) -> None:
        run: list[list[Any]] = []
        for row in rows:
            if row[2] not in (INVALID, TICK):
                run.append(row)
                continue
            if run:
                port.ingest_items(engine, run)   # type: ignore[arg-type]  # lists as items
                run = []
            if row[2] == INVALID:
                engine.count_invalid(1)
            else:
                engine.tick(float(row[3]))
        if run:
            port.ingest_items(engine, run)   # type: ignore[arg-type]
        engine.drain_changes()
        engine.drain_restorations()

    gc.collect()
    tracemalloc.start(1)
    at_lo = math.nan
    done = 0
    chunk: list[list[Any]] = []
    with Path(cfg["log"]).open("rb") as fh:
        for line in fh:
            if done >= lo and math.isnan(at_lo):
                gc.collect()
                at_lo, lo = float(tracemalloc.get_traced_memory()[0]), done
            chunk.append(orjson.loads(line))
            done += 1
            if len(chunk) == size or done >= hi:
                apply(chunk)
                chunk = []
            if done >= hi:
                break
    gc.collect()
    at_hi = float(tracemalloc.get_traced_memory()[0])
    n = done - lo
    Path(out).write_text(json.dumps({"bytes_per_event": (at_hi - at_lo) / n if n > 0 else None}))


def engine_reference(args: argparse.Namespace, fig: dict[str, Any]) -> None:
    """Add the engine's own retention over the tail window and the new verdict."""
    tail = fig.get("tail_events")
    if not args.engine_baseline or not tail:
        return
    if not args.log_dump.exists():
        return
    cfg = {"lo": tail[0], "hi": tail[1], "batch": args.batch, "log": str(args.log_dump),
           "topology": str(args.topology), "env": dict(os.environ)}
    out = args.log_dump.with_suffix(".ref.json")
    proc = mp.get_context("spawn").Process(target=_engine_retained, args=(cfg, str(out)))
    proc.start()
    proc.join()
    ref = json.loads(out.read_text())["bytes_per_event"] if out.exists() else None
    if ref is None:
        return
    fig["engine_retained_bytes_per_event"] = round(ref, 1)
    excess = fig["rss_growth_bytes_per_event"] - ref
    fig["rss_excess_bytes_per_event"] = round(excess, 1)
    fig["memory_flat"] = bool(excess <= EXCESS_BYTES)
    # not a verdict: the same excess without the read caches' bounded filling
    fig["rss_excess_net_of_read_caches_bytes_per_event"] = round(
        excess - fig["read_cache_growth_bytes_per_event"], 1)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=20000.0, help="events per second")
    parser.add_argument("--duration-s", type=float, default=60.0)
    parser.add_argument("--batch", type=int, default=1000, help="events per POST / XADD batch")
    parser.add_argument("--inflight", type=int, default=8, help="open POSTs at most")
    parser.add_argument("--pollers", type=int, default=50)
    parser.add_argument("--streams", type=int, default=20)
    parser.add_argument("--poll-s", type=float, default=1.0)
    parser.add_argument("--topology", type=Path,
                        default=REPO.parent / "shared" / "feeders" / "ckt24")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument("--no-engine-baseline", dest="engine_baseline", action="store_false",
                        help="skip the engine-only reference run (memory_flat then missing)")
    args = parser.parse_args(argv)
    log_dir = Path(tempfile.mkdtemp(prefix="omsb-load-log-"))
    args.log_dump = log_dir / "log.jsonl"
    try:
        fig = run(args)
        engine_reference(args, fig)
    finally:
        __import__("shutil").rmtree(log_dir, ignore_errors=True)
    for key, value in fig.items():
        print(f"{key:32} {value}")
    if args.json:
        args.json.write_text(json.dumps(fig, indent=2))
    return 0 if fig["lag_ok"] and fig.get("memory_flat", fig["memory_flat_old"]) else 1


if __name__ == "__main__":
    sys.exit(main())
