"""Shared by the end-to-end and fault-injection tests: the server as a subprocess,
an OMS-like poller of the restoration feed and the comparison with a replay.

Everything talks plain HTTP to loopback with the standard library, so a test
process needs nothing beyond the project's own dependencies.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "TOKENS",
    "Poller",
    "Reply",
    "Server",
    "all_outages",
    "cli",
    "free_port",
    "read_result",
    "service_env",
    "settle",
]

#: One token per role, as ``OMS_BRIDGE_TOKEN_<ROLE>``.
TOKENS = {"HEAD_END": "e2e-he", "OMS": "e2e-oms", "GIS_ADMIN": "e2e-gis",
          "DISPATCHER": "e2e-disp"}
HEAD_END = TOKENS["HEAD_END"]
OMS = TOKENS["OMS"]


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now (the kernel's choice)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cli(*args: str, env: Mapping[str, str] | None = None) -> str:
    """Run ``oms-bridge ARGS`` to completion; its stderr on failure."""
    done = subprocess.run([sys.executable, "-m", "oms_bridge.cli", *args], check=False,
                          capture_output=True, env=dict(env) if env is not None else None)
    if done.returncode != 0:
        raise AssertionError(f"oms-bridge {args[0]} failed:\n{done.stderr.decode()[-3000:]}")
    return done.stderr.decode()


def service_env(data_dir: Path, database_url: str, redis_url: str, stream: str) -> dict[str, str]:
    """Environment for ``oms-bridge serve`` on the given database and Redis stream."""
    return {**os.environ, "OMS_BRIDGE_DATA_DIR": str(data_dir),
            "OMS_BRIDGE_DATABASE_URL": database_url, "OMS_BRIDGE_REDIS_URL": redis_url,
            "OMS_BRIDGE_REDIS_STREAM": stream,
            **{f"OMS_BRIDGE_TOKEN_{k}": v for k, v in TOKENS.items()}}


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: Any
    elapsed_s: float


class Server:
    """``oms-bridge serve`` as a child process on 127.0.0.1:PORT."""

    def __init__(self, env: dict[str, str], port: int, log: Path, *,
                 idle_tick_s: float = 1.0, tick_rate: float = 100000.0,
                 consumer_name: str = "e2e") -> None:
        self.env, self.port, self.log = env, port, log
        self.idle_tick_s, self.tick_rate = idle_tick_s, tick_rate
        self.consumer_name = consumer_name
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None and self.proc.poll() is None else None

    def start(self, *, idle_tick_s: float | None = None, tick_rate: float | None = None,
              consumer_name: str | None = None, timeout_s: float = 120.0) -> float:
        """Start and wait for ``/readyz``; returns the seconds it took."""
        if idle_tick_s is not None:
            self.idle_tick_s = idle_tick_s
        if tick_rate is not None:
            self.tick_rate = tick_rate
        if consumer_name is not None:
            self.consumer_name = consumer_name
        started = time.monotonic()
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "oms_bridge.cli", "serve", "--port", str(self.port),
                 "--idle-tick-s", str(self.idle_tick_s), "--tick-rate", str(self.tick_rate),
                 "--consumer-name", self.consumer_name],
                env=self.env, stdout=out, stderr=out)
        self.starts += 1
        deadline = started + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                break
            try:
                if self.get("/readyz", None)["ready"]:
                    return time.monotonic() - started
            except (OSError, urllib.error.URLError, ValueError, KeyError):
                pass
            time.sleep(0.1)
        raise AssertionError(f"server did not become ready; log:\n{self.tail()}")

    def tail(self, n: int = 3000) -> str:
        return self.log.read_text(errors="replace")[-n:] if self.log.exists() else ""

    def kill(self) -> None:
        """SIGKILL: no cleanup, no flush, as a crash or an OOM kill would."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def call(self, method: str, path: str, token: str | None, body: bytes | None = None, *,
             ctype: str = "application/x-ndjson", timeout_s: float = 30.0) -> Reply:
        """One request; HTTP errors are answers too (never raised)."""
        req = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}", data=body,
                                     method=method)
        if token:
            req.add_header("Authorization", f"Bearer {token}")
        if body is not None:
            req.add_header("Content-Type", ctype)
        t0 = time.monotonic()
        try:
            with urllib.request.urlopen(req, timeout=timeout_s) as resp:
                raw, status, headers = resp.read(), resp.status, dict(resp.headers.items())
        except urllib.error.HTTPError as exc:
            raw, status, headers = exc.read(), exc.code, dict(exc.headers.items())
        try:
            doc = json.loads(raw) if raw else None
        except ValueError:
            doc = raw.decode(errors="replace")
        return Reply(status, headers, doc, time.monotonic() - t0)

    def request(self, method: str, path: str, token: str | None, body: bytes | None = None,
                ctype: str = "application/x-ndjson") -> Any:
        """The JSON body of a request that must succeed."""
        req = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}", data=body,
                                     method=method)
        if token:
            req.add_header("Authorization", f"Bearer {token}")
        if body is not None:
            req.add_header("Content-Type", ctype)
        with urllib.request.urlopen(req, timeout=30) as resp:
            return json.loads(resp.read())

    def get(self, path: str, token: str | None = OMS) -> Any:
        return self.request("GET", path, token)

    def log_seq(self) -> int:
        return int(self.get("/api/v1/events/stats")["log_seq"])

    def wait_logged(self, n: int, timeout_s: float = 60.0) -> None:
        """Until the durable log holds ``n`` items (HTTP batches and stream entries)."""
        deadline = time.monotonic() + timeout_s
        while self.log_seq() < n:
            if time.monotonic() > deadline:
                raise AssertionError(f"only {self.log_seq()} of {n} log items stored; "
                                     f"log:\n{self.tail()}")
            time.sleep(0.05)


@dataclass
class Poller:
    """An OMS polling the restoration feed: keeps ``next``, never goes back.

    ``poll()`` drains the feed once and must not fail; ``start()`` polls in a
    thread every ``interval_s`` and swallows connection errors and 503s (the
    server may be dead or its database away), as a real OMS would.
    """

    server: Server
    page: int = 50
    cursor: int = 0
    seen: list[int] = field(default_factory=list)
    items: list[dict[str, Any]] = field(default_factory=list)
    errors: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def poll(self) -> None:
        while True:
            page = self.server.get(f"/api/v1/restorations?after={self.cursor}&limit={self.page}")
            self.seen.extend(int(item["seq"]) for item in page["items"])
            self.items.extend(page["items"])
            self.cursor = int(page["next"])
            if not page["items"]:
                return

    def start(self, interval_s: float = 0.5) -> None:
        def loop() -> None:
            while not self._stop.wait(interval_s):
                try:
                    self.poll()
                except (OSError, urllib.error.URLError, ValueError, KeyError):
                    self.errors += 1

        self._thread = threading.Thread(target=loop, name="oms-poller", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)


def all_outages(server: Server) -> list[dict[str, Any]]:
    """Every outage, page by page."""
    items: list[dict[str, Any]] = []
    after = ""
    while True:
        page = server.get(f"/api/v1/outages?limit=1000&after={after}")
        items += page["items"]
        if page["next"] is None:
            return items
        after = page["next"]


def read_result(path: Path) -> dict[str, Any]:
    result: dict[str, Any] = json.loads(path.read_text())
    return result


def settle(server: Server, expected: dict[str, Any], poll: Callable[[], Sequence[int]],
           timeout_s: float = 60.0, interval_s: float = 2.5) -> list[dict[str, Any]]:
    """Wait until idle ticks drained the windows (as many outages and feed items as
    the replay has); returns the outages. ``poll`` drains the feed, returns seqs seen."""
    deadline = time.monotonic() + timeout_s
    while True:
        time.sleep(interval_s)
        items = all_outages(server)
        seen = poll()
        if len(items) >= len(expected["outages"]) and len(seen) >= len(
                expected["restorations"]):
            return items
        if time.monotonic() > deadline:
            raise AssertionError(
                f"service never settled: {len(items)} of {len(expected['outages'])} outages, "
                f"{len(seen)} of {len(expected['restorations'])} restorations")


def by_id(outages: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(outages, key=lambda o: str(o["outage_id"]))


def stop_quietly(*stoppers: Callable[[], object]) -> None:
    """Call each, whatever the others raised (cleanup paths)."""
    for stop in stoppers:
        with contextlib.suppress(Exception):
            stop()
