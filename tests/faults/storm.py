"""The fault-injection run: a simulated storm through HTTP and Redis Streams into
``oms-bridge serve`` on its own PostgreSQL and Redis, with faults injected
between and during the batches, then an exact comparison with a clean
``oms-bridge replay`` of the same events.

Faults (each one counted when the service came through it):

``kill_stream``
    XADD a batch to the stream and SIGKILL the service as soon as the consumer has
    read some of it (read but not stored, or stored but not acknowledged); restart
    under another consumer name, so the dead consumer's pending entries must be
    taken over with XAUTOCLAIM. The log must then hold the batch exactly once.
``kill_post``
    SIGKILL while an HTTP batch is in flight. After the restart the log holds the
    whole batch or none of it (then the head end sends it again); never a part.
``redis_restart``
    Stop and start Redis (no persistence: the stream and its group are gone); the
    next batch goes through the stream and must be consumed.
``pg_outage``
    Stop PostgreSQL for ``pg_outage_s``. A stream batch sent meanwhile stays
    pending; every HTTP batch tried meanwhile must be answered 503 with
    ``Retry-After`` within ``max_answer_s`` (not 500, not a hang). Then the service
    is SIGKILLed (its consumer's entries still pending), PostgreSQL comes back and
    the service restarts under another consumer name and takes the entries over.

Idle ticks are off while the storm runs (``--idle-tick-s 0``): a fault stalls
the head end for wall seconds, and a tick logged in such a stall would move
event time where an offline replay of the head end's events has no tick (see
:mod:`oms_bridge.api.runtime`). Batches are sent one at a time and each is
waited for in the log, so arrival order is the file order the replay reads.
At the end the service is SIGKILLed once more and restarted with fast idle
ticks (``--tick-rate 100000``) that drain the hold and momentary windows, as
the replay's final flush does; then outages, feed and event counts must equal
the replay, and the OMS poller must have seen every feed ``seq`` exactly once.
"""

from __future__ import annotations

import concurrent.futures
import random
import time
from collections import Counter
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis

from tests.e2e.helpers import (
    HEAD_END,
    Poller,
    Reply,
    Server,
    all_outages,
    by_id,
    cli,
    free_port,
    read_result,
    service_env,
    settle,
)
from tests.faults.services import PostgresInstance, RedisInstance

__all__ = ["LONG", "SHORT", "FaultReport", "StormPlan", "run_storm"]

STREAM = "oms-bridge:events"


@dataclass(frozen=True)
class StormPlan:
    name: str
    #: ``simulate`` parameters of the storm
    outages: int
    duration_h: float
    seed: int
    #: the run fails when the storm has fewer event lines
    min_events: int
    #: event lines per batch (HTTP body or XADD pipeline)
    chunk: int
    kills: int
    redis_restarts: int
    pg_outages: int
    pg_outage_s: float
    #: longest acceptable answer while the database is away
    max_answer_s: float = 10.0


SHORT = StormPlan("short", outages=300, duration_h=24.0, seed=3, min_events=20_000,
                  chunk=1000, kills=2, redis_restarts=1, pg_outages=1, pg_outage_s=5.0)
LONG = StormPlan("long", outages=17_000, duration_h=400.0, seed=2, min_events=500_000,
                 chunk=5000, kills=8, redis_restarts=3, pg_outages=1, pg_outage_s=30.0)


@dataclass
class FaultReport:
    plan: str
    events: int = 0
    faults: Counter[str] = field(default_factory=Counter)
    sigkills: int = 0
    http_503: int = 0
    retry_after: set[str] = field(default_factory=set)
    slowest_503_s: float = 0.0
    pending_at_kill: list[int] = field(default_factory=list)
    post_landed: list[bool] = field(default_factory=list)
    restart_s: list[float] = field(default_factory=list)
    poller_errors: int = 0
    outages: int = 0
    restorations: int = 0
    seconds: float = 0.0

    def summary(self) -> str:
        faults = ", ".join(f"{k} {v}" for k, v in sorted(self.faults.items()))
        return (
            f"fault run [{self.plan}]: {sum(self.faults.values())} faults survived ({faults}; "
            f"{self.sigkills} SIGKILLs in all); {self.events} events checked; "
            f"{self.outages} outages and {self.restorations} restorations equal to the replay, "
            f"each feed seq seen once by the poller ({self.poller_errors} failed polls "
            f"while down); {self.http_503} ingest answers 503 while PostgreSQL was down "
            f"(Retry-After {sorted(self.retry_after)}, slowest {self.slowest_503_s:.2f} s); "
            f"pending stream entries at kill {self.pending_at_kill}; "
            f"killed POSTs landed {self.post_landed}; "
            f"restarts {min(self.restart_s, default=0):.1f}-"
            f"{max(self.restart_s, default=0):.1f} s; "
            f"{self.seconds:.0f} s")


def _schedule(plan: StormPlan, n_chunks: int, rng: random.Random) -> dict[int, str]:
    kinds = (["pg_outage"] * plan.pg_outages + ["redis_restart"] * plan.redis_restarts
             + [("kill_stream", "kill_post")[k % 2] for k in range(plan.kills)])
    rng.shuffle(kinds)
    # leave the first and the last two batches alone; a pg_outage uses two
    slots = n_chunks - 3
    if len(kinds) > slots // 2:
        raise ValueError(f"{len(kinds)} faults do not fit in {n_chunks} batches")
    step = slots / len(kinds) if kinds else 1.0
    return {1 + int(k * step): kind for k, kind in enumerate(kinds)}


class _Storm:
    def __init__(self, plan: StormPlan, work: Path, topology: Path, stack: ExitStack,
                 say: Callable[[str], None]) -> None:
        self.plan, self.work, self.topology, self.say = plan, work, topology, say
        self.rng = random.Random(plan.seed)
        self.report = FaultReport(plan.name)
        self.pg = stack.enter_context(PostgresInstance())
        self.redis = stack.enter_context(RedisInstance())
        self.pg.start()
        self.redis.start()
        self.db_url = self.pg.create_database("omsb_faults")
        env = service_env(work / "data", self.db_url, self.redis.url, STREAM)
        self.server = Server(env, free_port(), work / "server.log", idle_tick_s=0.0,
                             consumer_name="faults-0")
        self.client = redis.Redis.from_url(self.redis.url)
        self.logged = 0
        self.consumers = 0
        stack.callback(self.server.stop)
        stack.callback(self._close_client)

    def _close_client(self) -> None:
        self.client.close()  # the client of the current Redis, replaced on restart

    # ------------------------------------------------------------- transport
    def xadd(self, chunk: list[bytes]) -> None:
        pipe = self.client.pipeline(transaction=False)
        for line in chunk:
            pipe.xadd(STREAM, {"event": line})
        pipe.execute()

    def post(self, chunk: list[bytes], timeout_s: float = 60.0) -> Reply:
        return self.server.call("POST", "/api/v1/events", HEAD_END, b"\n".join(chunk),
                                timeout_s=timeout_s)

    def send(self, chunk: list[bytes], transport: str) -> None:
        if transport == "http":
            reply = self.post(chunk)
            assert reply.status == 202, f"ingest answered {reply.status}: {reply.body}"
            assert reply.body["received"] == len(chunk)
        else:
            self.xadd(chunk)
        self.logged += len(chunk)
        self.server.wait_logged(self.logged, timeout_s=120)

    def restart(self, *, new_consumer: bool = True, **kwargs: Any) -> None:
        if new_consumer:
            self.consumers += 1
        took = self.server.start(consumer_name=f"faults-{self.consumers}", **kwargs)
        self.report.restart_s.append(took)

    def kill(self) -> None:
        self.server.kill()
        self.report.sigkills += 1

    def pending(self) -> int:
        try:
            info = self.client.xpending(STREAM, "oms-bridge")
        except redis.ResponseError:  # no group yet
            return 0
        return int(info["pending"])

    def wait_acked(self, timeout_s: float = 30.0) -> None:
        """Stored entries are acknowledged soon after (XACK follows the commit)."""
        deadline = time.monotonic() + timeout_s
        while (left := self.pending()) > 0:
            assert time.monotonic() < deadline, f"{left} stream entries never acknowledged"
            time.sleep(0.1)

    def assert_log_exact(self) -> None:
        """The log holds exactly what was sent: nothing lost, nothing twice."""
        time.sleep(0.3)
        seq = self.server.log_seq()
        assert seq == self.logged, f"log holds {seq} items, {self.logged} were sent"

    # ---------------------------------------------------------------- faults
    def kill_stream(self, chunk: list[bytes]) -> None:
        self.xadd(chunk)
        deadline = time.monotonic() + 2.0  # kill while entries are read but unacknowledged
        while self.pending() == 0 and time.monotonic() < deadline:
            time.sleep(0.002)
        time.sleep(self.rng.uniform(0.0, 0.02))
        self.kill()
        self.report.pending_at_kill.append(self.pending())
        self.restart()
        self.logged += len(chunk)
        self.server.wait_logged(self.logged, timeout_s=120)
        self.assert_log_exact()

    def kill_post(self, chunk: list[bytes]) -> None:
        before = self.logged
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            fut = pool.submit(self.post, chunk)
            time.sleep(self.rng.uniform(0.0, 0.3))
            self.kill()
            try:
                reply: Reply | None = fut.result(timeout=60)
            except OSError:
                reply = None
        self.restart()
        seq = self.server.log_seq()
        assert seq in (before, before + len(chunk)), (
            f"a killed batch of {len(chunk)} left {seq - before} items in the log")
        landed = seq == before + len(chunk)
        if reply is not None and reply.status == 202:
            assert landed, "a batch answered 202 is not in the log after a crash"
        self.report.post_landed.append(landed)
        if landed:
            self.logged += len(chunk)
        else:
            self.send(chunk, "http")  # the head end sends it again
        self.assert_log_exact()

    def redis_restart(self, chunk: list[bytes]) -> None:
        self.send(chunk, "http")
        self.client.close()
        self.redis.stop()
        self.redis.start()
        self.client = redis.Redis.from_url(self.redis.url)

    def pg_outage(self, chunk: list[bytes], probe: list[bytes]) -> None:
        """``chunk`` goes to the stream during the outage; ``probe`` is tried over
        HTTP meanwhile (never accepted) and sent for real by the caller later."""
        self.pg.stop()
        down_at = time.monotonic()
        self.xadd(chunk)
        tries = 0
        while time.monotonic() - down_at < self.plan.pg_outage_s or tries < 2:
            reply = self.post(probe, timeout_s=self.plan.max_answer_s + 20)
            tries += 1
            assert reply.status == 503, (
                f"ingest answered {reply.status} while the database was down: {reply.body}")
            retry = reply.headers.get("Retry-After")
            assert retry is not None and retry.isdigit() and int(retry) > 0, reply.headers
            assert reply.elapsed_s < self.plan.max_answer_s, (
                f"503 took {reply.elapsed_s:.1f} s")
            self.report.http_503 += 1
            self.report.retry_after.add(retry)
            self.report.slowest_503_s = max(self.report.slowest_503_s, reply.elapsed_s)
            ready = self.server.call("GET", "/readyz", None, timeout_s=self.plan.max_answer_s)
            assert ready.status == 503, f"/readyz answered {ready.status} without a database"
            feed = self.server.call("GET", "/api/v1/restorations?after=0&limit=1",
                                    "e2e-oms", timeout_s=self.plan.max_answer_s + 20)
            assert feed.status in (200, 503), f"feed answered {feed.status}: {feed.body}"
            time.sleep(1.0)
        assert self.server.log_seq() == self.logged, "events stored without a database?"
        pending = self.pending()
        assert pending > 0, "the stream batch was not read while the database was down"
        self.kill()
        self.report.pending_at_kill.append(pending)
        self.pg.start()
        self.restart()
        self.logged += len(chunk)
        self.server.wait_logged(self.logged, timeout_s=120)
        self.assert_log_exact()

    # ------------------------------------------------------------------ run
    def run(self, lines: list[bytes], expected: dict[str, Any]) -> FaultReport:
        plan, report = self.plan, self.report
        chunks = [lines[i:i + plan.chunk] for i in range(0, len(lines), plan.chunk)]
        schedule = _schedule(plan, len(chunks), self.rng)
        self.say(f"{len(lines)} events in {len(chunks)} batches; faults at "
                 + ", ".join(f"{k}:{v}" for k, v in sorted(schedule.items())))
        self.restart(new_consumer=False)
        poller = Poller(self.server)
        poller.start(0.3)
        try:
            i = 0
            force_stream = False
            while i < len(chunks):
                fault = schedule.get(i)
                chunk = chunks[i]
                transport = "redis" if force_stream or i % 2 else "http"
                force_stream = False
                if fault == "kill_stream":
                    self.kill_stream(chunk)
                elif fault == "kill_post":
                    self.kill_post(chunk)
                elif fault == "redis_restart":
                    self.redis_restart(chunk)
                    force_stream = True
                elif fault == "pg_outage":
                    self.pg_outage(chunk, chunks[i + 1])
                else:
                    self.send(chunk, transport)
                if fault is not None:
                    report.faults[fault] += 1
                    self.say(f"  batch {i}: survived {fault} (log {self.logged})")
                i += 1
            self.wait_acked()
            # drain the windows the replay flushes at its end
            self.kill()
            self.restart(idle_tick_s=1.0, tick_rate=100000.0)
            items = settle(self.server, expected, lambda: poller.seen, timeout_s=120)
        finally:
            poller.stop()
        poller.poll()
        report.poller_errors = poller.errors
        self._compare(items, poller, expected)
        report.events = len(lines)
        return report

    def _compare(self, items: list[dict[str, Any]], poller: Poller,
                 expected: dict[str, Any]) -> None:
        stats = self.server.get("/api/v1/events/stats")
        got = {k: stats[k] for k in expected["events"]}
        assert got == expected["events"], f"event counts {got} != replay {expected['events']}"
        assert sum(got.values()) == sum(expected["events"].values())
        want = {o["outage_id"]: o for o in expected["outages"]}
        have = {o["outage_id"]: o for o in all_outages(self.server)}
        missing, extra = sorted(want.keys() - have.keys()), sorted(have.keys() - want.keys())
        differ = sorted(k for k in want.keys() & have.keys() if want[k] != have[k])
        assert not (missing or extra or differ), (
            f"outages differ from the replay: {len(missing)} missing {missing[:3]}, "
            f"{len(extra)} extra {extra[:3]}, {len(differ)} different "
            f"{[(want[k], have[k]) for k in differ[:1]]}")
        assert by_id(items) == by_id(expected["outages"])
        seqs = [int(r["seq"]) for r in expected["restorations"]]
        assert len(set(poller.seen)) == len(poller.seen), "the poller saw a seq twice"
        assert poller.seen == seqs, (
            f"poller saw {len(poller.seen)} feed items, the replay has {len(seqs)}; "
            f"missing {sorted(set(seqs) - set(poller.seen))[:5]}, "
            f"extra {sorted(set(poller.seen) - set(seqs))[:5]}")
        assert poller.items == expected["restorations"], "feed items differ from the replay"
        self.report.outages = len(have)
        self.report.restorations = len(poller.seen)


def make_storm(plan: StormPlan, topology: Path, work: Path) -> tuple[list[bytes], dict[str, Any]]:
    """Simulate the storm and replay it offline: (event lines, replay result)."""
    events = work / "events.jsonl"
    cli("simulate", "--topology", str(topology), "--seed", str(plan.seed),
        "--outages", str(plan.outages), "--duration-h", str(plan.duration_h),
        "--out-events", str(events), "--out-truth", str(work / "truth.json"))
    cli("replay", "--topology", str(topology), "--events", str(events),
        "--out", str(work / "replay.json"))
    lines = [line for line in events.read_bytes().splitlines() if line.strip()]
    assert len(lines) >= plan.min_events, (
        f"the storm has {len(lines)} events, the plan wants {plan.min_events}")
    return lines, read_result(work / "replay.json")


def run_storm(plan: StormPlan, topology: Path, work: Path,
              say: Callable[[str], None] = print) -> FaultReport:
    """The whole run in ``work`` (a fresh folder); servers are gone on return."""
    started = time.monotonic()
    lines, expected = make_storm(plan, topology, work)
    say(f"storm ready: {len(lines)} events, replay {len(expected['outages'])} outages, "
        f"{len(expected['restorations'])} restorations ({time.monotonic() - started:.0f} s)")
    with ExitStack() as stack:
        storm = _Storm(plan, work, topology, stack, say)
        _load_topology(topology, storm.db_url)
        report = storm.run(lines, expected)
    report.seconds = time.monotonic() - started
    return report


def _load_topology(topology: Path, db_url: str) -> None:
    import subprocess  # noqa: PLC0415
    import sys  # noqa: PLC0415

    done = subprocess.run([sys.executable, "-m", "gis_import.cli", "load", str(topology),
                           "--database-url", db_url], check=False, capture_output=True)
    if done.returncode != 0:
        raise AssertionError(f"gis-import load failed: {done.stderr.decode()[-2000:]}")
