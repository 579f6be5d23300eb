"""End to end: the real server as a subprocess, a simulated storm through HTTP and
Redis, an OMS poller on the restoration feed, the server SIGKILLed twice midway.

The final outages and feed must equal ``oms-bridge replay`` of the same events,
and the poller must see every restoration exactly once.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import pytest
import redis

from oms_bridge.api.app import DEMO_EXPORT

pytestmark = [pytest.mark.slow, pytest.mark.redis]

TOKENS = {"HEAD_END": "e2e-he", "OMS": "e2e-oms", "GIS_ADMIN": "e2e-gis",
          "DISPATCHER": "e2e-disp"}
CHUNK = 40


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    def __init__(self, env: dict[str, str], port: int, log: Path) -> None:
        self.env, self.port, self.log = env, port, log
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "oms_bridge.cli", "serve", "--port", str(self.port),
                 "--idle-tick-s", "1.0", "--tick-rate", "100000", "--consumer-name", "e2e"],
                env=self.env, stdout=out, stderr=out)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if self.get("/readyz", None)["ready"]:
                    return
            except (OSError, urllib.error.URLError, ValueError):
                pass
            time.sleep(0.2)
        raise AssertionError(f"server did not become ready; log:\n{self.log.read_text()[-3000:]}")

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=20)

    def request(self, method: str, path: str, token: str | None, body: bytes | None = None,
                ctype: str = "application/x-ndjson") -> Any:
        req = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}", data=body,
                                     method=method)
        if token:
            req.add_header("Authorization", f"Bearer {token}")
        if body is not None:
            req.add_header("Content-Type", ctype)
        with urllib.request.urlopen(req, timeout=30) as resp:
            return json.loads(resp.read())

    def get(self, path: str, token: str | None = "e2e-oms") -> Any:
        return self.request("GET", path, token)


def _cli(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "oms_bridge.cli", *args], check=True,
                   capture_output=True)


@pytest.fixture(params=[pytest.param("sqlite", id="sqlite"),
                        pytest.param("postgres", id="postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'e2e.db'}"
    from tests.api.conftest import _reset_pg  # noqa: PLC0415

    url: str = request.getfixturevalue("pg_scratch_url")
    _reset_pg(url)
    return url


def test_storm_with_two_sigkills_equals_replay(
        tmp_path: Path, redis_test_url: str, database_url: str) -> None:
    events = tmp_path / "events.jsonl"
    _cli("simulate", "--topology", str(DEMO_EXPORT), "--seed", "5", "--outages", "60",
         "--out-events", str(events), "--out-truth", str(tmp_path / "truth.json"))
    _cli("replay", "--topology", str(DEMO_EXPORT), "--events", str(events),
         "--out", str(tmp_path / "replay.json"))
    expected = json.loads((tmp_path / "replay.json").read_text())
    lines = events.read_bytes().splitlines()
    stream = f"omsb-e2e:{uuid.uuid4().hex[:10]}"
    env = {**os.environ, "OMS_BRIDGE_DATA_DIR": str(tmp_path / "data"),
           "OMS_BRIDGE_DATABASE_URL": database_url, "OMS_BRIDGE_REDIS_URL": redis_test_url,
           "OMS_BRIDGE_REDIS_STREAM": stream,
           **{f"OMS_BRIDGE_TOKEN_{k}": v for k, v in TOKENS.items()}}
    server = Server(env, _free_port(), tmp_path / "server.log")
    r = redis.Redis.from_url(redis_test_url)
    seen: list[int] = []
    cursor = 0

    def poll() -> None:
        nonlocal cursor
        while True:
            page = server.get(f"/api/v1/restorations?after={cursor}&limit=50")
            seen.extend(item["seq"] for item in page["items"])
            cursor = page["next"]
            if not page["items"]:
                return

    def wait_logged(n: int) -> None:
        deadline = time.monotonic() + 30
        while server.get("/api/v1/events/stats")["log_seq"] < n:
            assert time.monotonic() < deadline, "stream entries not ingested"
            time.sleep(0.05)

    server.start()
    try:
        chunks = [lines[i:i + CHUNK] for i in range(0, len(lines), CHUNK)]
        kills = {len(chunks) // 3, 2 * len(chunks) // 3}
        logged = 0
        for n, chunk in enumerate(chunks):
            if n % 2 == 0:
                body = server.request("POST", "/api/v1/events", "e2e-he", b"\n".join(chunk))
                assert body["received"] == len(chunk)
            else:
                pipe = r.pipeline()
                for line in chunk:
                    pipe.xadd(stream, {"event": line})
                pipe.execute()
            logged += len(chunk)
            wait_logged(logged)
            poll()
            if n in kills:
                server.kill()
                server.start()
                poll()
        deadline = time.monotonic() + 60
        while True:  # idle ticks drain the hold and momentary windows
            time.sleep(2.5)
            items: list[dict[str, Any]] = []
            after = ""
            while True:
                page = server.get(f"/api/v1/outages?limit=1000&after={after}")
                items += page["items"]
                if page["next"] is None:
                    break
                after = page["next"]
            poll()
            if len(items) >= len(expected["outages"]) and len(seen) >= len(
                    expected["restorations"]):
                break
            assert time.monotonic() < deadline, "service never settled"
        stats = server.get("/api/v1/events/stats")
        assert {k: stats[k] for k in expected["events"]} == expected["events"]
        key = lambda o: o["outage_id"]  # noqa: E731
        assert sorted(items, key=key) == sorted(expected["outages"], key=key)
        assert seen == [item["seq"] for item in expected["restorations"]]
        assert server.get("/api/v1/restorations?limit=1000")["items"] == expected["restorations"]
    finally:
        server.stop()
        r.delete(stream)
        r.close()
