"""End to end: the real server as a subprocess, a simulated storm through HTTP and
Redis, an OMS poller on the restoration feed, the server SIGKILLed twice midway.

The final outages and feed must equal ``oms-bridge replay`` of the same events,
and the poller must see every restoration exactly once. The server, poller and
comparison helpers are shared with the fault-injection harness
(:mod:`tests.e2e.helpers`, ``tests/faults``).
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest
import redis

from oms_bridge.api.app import DEMO_EXPORT
from tests.e2e.helpers import (
    HEAD_END,
    Poller,
    Server,
    by_id,
    cli,
    free_port,
    read_result,
    service_env,
    settle,
)

pytestmark = [pytest.mark.slow, pytest.mark.redis]

CHUNK = 40


@pytest.fixture(params=[pytest.param("sqlite", id="sqlite"),
                        pytest.param("postgres", id="postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'e2e.db'}"
    from tests.conftest import reset_pg_schema  # noqa: PLC0415

    url: str = request.getfixturevalue("pg_scratch_url")
    reset_pg_schema(url)
    return url


def test_storm_with_two_sigkills_equals_replay(
        tmp_path: Path, redis_test_url: str, database_url: str) -> None:
    events = tmp_path / "events.jsonl"
    cli("simulate", "--topology", str(DEMO_EXPORT), "--seed", "5", "--outages", "60",
        "--out-events", str(events), "--out-truth", str(tmp_path / "truth.json"))
    cli("replay", "--topology", str(DEMO_EXPORT), "--events", str(events),
        "--out", str(tmp_path / "replay.json"))
    expected = read_result(tmp_path / "replay.json")
    lines = events.read_bytes().splitlines()
    stream = f"omsb-e2e:{uuid.uuid4().hex[:10]}"
    env = service_env(tmp_path / "data", database_url, redis_test_url, stream)
    server = Server(env, free_port(), tmp_path / "server.log")
    poller = Poller(server)
    r = redis.Redis.from_url(redis_test_url)

    def poll() -> list[int]:
        poller.poll()
        return poller.seen

    server.start()
    try:
        chunks = [lines[i:i + CHUNK] for i in range(0, len(lines), CHUNK)]
        kills = {len(chunks) // 3, 2 * len(chunks) // 3}
        logged = 0
        for n, chunk in enumerate(chunks):
            if n % 2 == 0:
                body = server.request("POST", "/api/v1/events", HEAD_END, b"\n".join(chunk))
                assert body["received"] == len(chunk)
            else:
                pipe = r.pipeline()
                for line in chunk:
                    pipe.xadd(stream, {"event": line})
                pipe.execute()
            logged += len(chunk)
            server.wait_logged(logged, timeout_s=30)
            poller.poll()
            if n in kills:
                server.kill()
                server.start()
                poller.poll()
        items: list[dict[str, Any]] = settle(server, expected, poll)  # idle ticks drain
        stats = server.get("/api/v1/events/stats")
        assert {k: stats[k] for k in expected["events"]} == expected["events"]
        assert by_id(items) == by_id(expected["outages"])
        assert poller.seen == [item["seq"] for item in expected["restorations"]]
        assert server.get("/api/v1/restorations?limit=1000")["items"] == expected["restorations"]
    finally:
        server.stop()
        r.delete(stream)
        r.close()
