"""The Redis Streams consumer group against a real Redis (unique stream per test)."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable

import orjson
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from redis.asyncio import Redis

from oms_bridge.bus.redis_stream import Entry, StreamConsumer
from oms_bridge.settings import RedisSettings, Settings
from tests.api.conftest import AppFactory, auth, event

pytestmark = pytest.mark.redis
Client = TestClient[web.Request, web.Application]


@pytest.fixture
async def rclient(redis_test_url: str) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_test_url)
    yield client
    await client.aclose()


@pytest.fixture
def stream_name() -> str:
    return f"omsb-test:{uuid.uuid4().hex[:12]}"


async def _wait_for(predicate: Callable[[], Awaitable[bool]], timeout: float = 10.0) -> None:
    async with asyncio.timeout(timeout):
        while not await predicate():
            await asyncio.sleep(0.05)


async def test_dead_consumers_pending_entries_are_reclaimed_and_acked_after_store(
        rclient: Redis, stream_name: str) -> None:
    group = "g"
    await rclient.xgroup_create(stream_name, group, id="0", mkstream=True)
    ids = [(await rclient.xadd(stream_name, {"event": f'{{"n": {i}}}'})).decode()
           for i in range(6)]
    # A consumer that read everything and died without acknowledging.
    await rclient.xreadgroup(group, "dead", {stream_name: ">"}, count=10)
    stored: list[str] = []
    high = {"id": ids[1]}  # entries up to the 2nd were already stored before the crash

    async def handler(entries: list[Entry], last_id: str, _after: str | None) -> None:
        pending = await rclient.xpending(stream_name, group)
        assert pending["pending"] >= len(entries)  # not acknowledged before storing
        stored.extend(e[0] for e in entries)
        high["id"] = last_id

    async def stored_upto() -> str | None:
        return high["id"]

    consumer = StreamConsumer(rclient, stream=stream_name, group=group, consumer="alive",
                              handler=handler, stored_upto=stored_upto, block_ms=50)
    task = asyncio.create_task(consumer.run())

    async def drained() -> bool:
        return int((await rclient.xpending(stream_name, group))["pending"]) == 0

    await _wait_for(drained)
    assert stored == ids[2:]
    new_id = (await rclient.xadd(stream_name, {"event": b"{}"})).decode()
    await _wait_for(lambda: asyncio.sleep(0, result=new_id in stored))
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    await consumer.close()
    await rclient.delete(stream_name)


async def test_a_failed_store_is_retried_in_order(rclient: Redis, stream_name: str) -> None:
    failures = {"left": 2}
    stored: list[str] = []

    async def handler(entries: list[Entry], _last: str, _after: str | None) -> None:
        if failures["left"]:
            failures["left"] -= 1
            raise ConnectionError("database away")
        stored.extend(e[0] for e in entries)

    async def stored_upto() -> str | None:
        return None

    consumer = StreamConsumer(rclient, stream=stream_name, group="g", consumer="c",
                              handler=handler, stored_upto=stored_upto, block_ms=50,
                              batch_size=2)
    await consumer.ensure_group()
    ids = [(await rclient.xadd(stream_name, {"event": b"{}"})).decode() for _ in range(5)]
    task = asyncio.create_task(consumer.run())
    await _wait_for(lambda: asyncio.sleep(0, result=len(stored) == 5))
    assert stored == ids
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    await rclient.delete(stream_name)


async def test_service_ingests_from_the_stream(  # noqa: PLR0917 - pytest fixtures
    aiohttp_client: Callable[..., Awaitable[Client]], make_app: AppFactory, settings: Settings,
    rclient: Redis, stream_name: str, redis_test_url: str,
) -> None:
    settings = dataclasses.replace(settings, redis=RedisSettings(
        url=redis_test_url, stream=stream_name, block_ms=50))
    client = await aiohttp_client(make_app(settings, consumer_name="c1"))
    for i in range(30):
        await rclient.xadd(stream_name, {"event": orjson.dumps(event(f"R{i}", f"M{i % 7}"))})
    await rclient.xadd(stream_name, {"event": b"not json"})
    await rclient.xadd(stream_name, {"other": b"x"})

    async def stats() -> dict[str, int]:
        resp = await client.get("/api/v1/events/stats", headers=auth("oms"))
        body: dict[str, int] = await resp.json()
        return body

    async def done() -> bool:
        return (await stats())["log_seq"] == 32

    await _wait_for(done)
    body = await stats()
    # M0 is not in the topology: 30 events over M0..M6, 5 of them on M0
    assert (body["accepted"], body["unknown_meter"], body["invalid"]) == (25, 5, 2)
    assert int((await rclient.xpending(stream_name, "oms-bridge"))["pending"]) == 0
    ready = await (await client.get("/readyz")).json()
    assert ready["checks"]["queue"] == "ok (redis)"
    await client.close()

    # A restart with the same consumer re-reads nothing and stores nothing twice.
    client = await aiohttp_client(make_app(settings, consumer_name="c1"))
    await rclient.xadd(stream_name, {"event": orjson.dumps(event("R-last", "M1"))})

    async def one_more() -> bool:
        return (await stats())["log_seq"] == 33

    await _wait_for(one_more)
    assert (await stats())["accepted"] == 26
    await rclient.delete(stream_name)
