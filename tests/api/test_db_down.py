"""The database away: ingest answers 503 with Retry-After, the stream keeps its
entries pending and resumes, and a write whose reply was lost is not lost.

The fast variants make the event log write fail (as asyncpg / sqlite3 do when
the server is gone); ``test_db_down_pg.py`` stops a real PostgreSQL server.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import orjson
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine

from oms_bridge.api.runtime import RuntimeOptions
from oms_bridge.settings import RedisSettings, Settings
from oms_bridge.store import events_repo
from tests.api.conftest import AppFactory, auth, event

Client = TestClient[web.Request, web.Application]
ClientMaker = Callable[..., Awaitable[Client]]
FAST_RETRY = RuntimeOptions(idle_tick_s=0, retry_after_failure_s=0.05)


class Outage:
    """Replaces ``events_repo.write``: fails while ``down``; ``lose_reply`` once:
    the rows are written, then the call fails as if the reply never came."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.down = False
        self.lose_reply = False
        self.calls = 0
        real = events_repo.write

        async def write(db: AsyncEngine, rows: Sequence[events_repo.MarkedRow]) -> None:
            self.calls += 1
            if self.down:
                raise ConnectionRefusedError("connection refused (test)")
            await real(db, rows)
            if self.lose_reply:
                self.lose_reply = False
                raise ConnectionResetError("connection reset after commit (test)")

        monkeypatch.setattr(events_repo, "write", write)


@pytest.fixture
def outage(monkeypatch: pytest.MonkeyPatch) -> Outage:
    return Outage(monkeypatch)


async def post(client: Client, events: list[dict[str, str]]) -> Any:
    return await client.post("/api/v1/events", data=orjson.dumps(events),
                             headers={"Content-Type": "application/json", **auth("head-end")})


async def stats(client: Client) -> dict[str, int]:
    body: dict[str, int] = await (await client.get("/api/v1/events/stats",
                                                   headers=auth("oms"))).json()
    return body


async def wait_for(predicate: Callable[[], Awaitable[bool]], timeout: float = 15.0) -> None:
    async with asyncio.timeout(timeout):
        while not await predicate():
            await asyncio.sleep(0.05)


async def test_ingest_is_a_quick_503_with_retry_after_then_recovers(
        aiohttp_client: ClientMaker, make_app: AppFactory, settings: Settings,
        outage: Outage) -> None:
    client = await aiohttp_client(make_app(settings, options=FAST_RETRY))
    outage.down = True
    started = time.monotonic()
    resp = await post(client, [event("D1", "M1")])
    assert resp.status == 503, await resp.text()
    assert int(resp.headers["Retry-After"]) > 0
    assert resp.content_type == "application/problem+json"
    assert time.monotonic() - started < 5
    # While it stays down, every batch is refused quickly (no queue build-up).
    answers = await asyncio.gather(*(post(client, [event(f"D{i}", "M2")]) for i in range(5)))
    assert {r.status for r in answers} == {503}
    outage.down = False
    await asyncio.sleep(0.1)
    resp = await post(client, [event("D1", "M1"), event("D2", "M2")])
    assert resp.status == 202
    body = await resp.json()
    assert (body["accepted"], body["duplicate"]) == (2, 0)  # nothing of the refused kept
    assert (await stats(client))["log_seq"] == 2


async def test_a_write_whose_reply_was_lost_is_taken_in_once(
        aiohttp_client: ClientMaker, make_app: AppFactory, settings: Settings,
        outage: Outage) -> None:
    client = await aiohttp_client(make_app(settings, options=FAST_RETRY))
    outage.lose_reply = True
    resp = await post(client, [event("L1", "M1"), event("L2", "M2")])
    assert resp.status == 503  # the head end cannot know: it sends again
    await asyncio.sleep(0.1)
    resp = await post(client, [event("L1", "M1"), event("L2", "M2"), event("L3", "M3")])
    assert resp.status == 202
    body = await resp.json()
    # The lost-reply rows are in the log, so the engine saw them first.
    assert (body["accepted"], body["duplicate"]) == (1, 2)
    before = await stats(client)
    assert before["log_seq"] == 5 and before["accepted"] == 3
    await client.close()
    # A restart replays the log to the same state.
    client = await aiohttp_client(make_app(settings, options=FAST_RETRY))
    assert await stats(client) == before


@pytest.mark.redis
async def test_stream_entries_stay_pending_while_down_then_are_stored_once(
        aiohttp_client: ClientMaker, make_app: AppFactory, settings: Settings,
        outage: Outage, redis_test_url: str) -> None:
    stream = f"omsb-test:{uuid.uuid4().hex[:12]}"
    settings = dataclasses.replace(settings, redis=RedisSettings(
        url=redis_test_url, stream=stream, block_ms=50, batch_size=7))
    rclient = Redis.from_url(redis_test_url)
    try:
        client = await aiohttp_client(make_app(settings, options=FAST_RETRY,
                                               consumer_name="c1"))
        for i in range(10):
            await rclient.xadd(stream, {"event": orjson.dumps(event(f"R{i}", f"M{i % 6 + 1}"))})

        async def first_ten() -> bool:
            return (await stats(client))["log_seq"] == 10

        await wait_for(first_ten)
        outage.down = True
        for i in range(10, 60):
            await rclient.xadd(stream, {"event": orjson.dumps(event(f"R{i}", f"M{i % 6 + 1}"))})
        await wait_for(lambda: asyncio.sleep(0, result=outage.calls >= 4))
        await asyncio.sleep(0.3)
        pending = await rclient.xpending(stream, "oms-bridge")
        assert int(pending["pending"]) > 0  # read, not acknowledged: not stored
        assert (await stats(client))["log_seq"] == 10
        outage.down = False

        async def all_in() -> bool:
            drained = int((await rclient.xpending(stream, "oms-bridge"))["pending"]) == 0
            return drained and (await stats(client))["log_seq"] == 60

        await wait_for(all_in)
        body = await stats(client)
        assert (body["accepted"], body["duplicate"]) == (60, 0)
    finally:
        await rclient.delete(stream)
        await rclient.aclose()

