"""Outage list, detail, restoration feed, coverage; restart resumes the same state."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from aiohttp import web
from aiohttp.test_utils import TestClient

from oms_bridge.settings import Settings
from tests.api.conftest import AppFactory, auth, event

Client = TestClient[web.Request, web.Application]
ClientMaker = Callable[..., Awaitable[Client]]


async def send(client: Client, events: list[dict[str, str]]) -> dict[str, Any]:
    resp = await client.post("/api/v1/events", data=orjson.dumps(events),
                             headers={"Content-Type": "application/json", **auth("head-end")})
    assert resp.status == 202, await resp.text()
    body: dict[str, Any] = await resp.json()
    return body


async def get(client: Client, path: str, role: str = "oms") -> Any:
    resp = await client.get(path, headers=auth(role))
    assert resp.status == 200, await resp.text()
    return await resp.json()


def storm(first: int, n: int) -> list[dict[str, str]]:
    out = []
    for i in range(first, first + n):
        meter = f"M{(i % 6) + 1}"
        out.append(event(f"LG-{i}", meter, at=f"2026-11-26T07:{i % 60:02d}:00Z"))
        out.append(event(f"PR-{i}", meter, "power_restored",
                         at=f"2026-11-26T08:{i % 60:02d}:00Z"))
    return out


async def test_list_paginates_and_filters(client: Client) -> None:
    await send(client, storm(0, 6))
    await send(client, [event("X1", "M1", at="2026-11-26T09:00:00Z"),
                        event("X2", "M2", at="2026-11-26T09:30:00Z")])
    everything = await get(client, "/api/v1/outages?limit=100")
    assert len(everything["items"]) == 8 and everything["next"] is None
    pages: list[dict[str, Any]] = []
    cursor = ""
    while True:
        page = await get(client, f"/api/v1/outages?limit=3&after={cursor}")
        pages += page["items"]
        if page["next"] is None:
            break
        cursor = page["next"]
    assert pages == everything["items"]
    active = await get(client, "/api/v1/outages?status=active")
    assert {o["device_id"] for o in active["items"]} == {"SP-1", "SP-2"}
    assert len((await get(client, "/api/v1/outages?status=restored"))["items"]) == 6
    assert (await get(client, "/api/v1/outages?feeder=NONE"))["items"] == []
    late = await get(client, "/api/v1/outages?since=2026-11-26T09:10:00Z")
    assert [o["device_id"] for o in late["items"]] == ["SP-2"]
    bad = await client.get("/api/v1/outages?status=weird", headers=auth("oms"))
    assert bad.status == 400 and (await bad.json())["parameter"] == "status"


async def test_detail_feed_and_coverage(client: Client) -> None:
    await send(client, storm(0, 3))
    first = (await get(client, "/api/v1/outages"))["items"][0]
    detail = await get(client, f"/api/v1/outages/{first['outage_id']}", "dispatcher")
    assert detail["outage_id"] == first["outage_id"]
    assert {"affected_meters", "evidence", "children", "history"} <= set(detail)
    assert detail["timeline_compacted"] is False  # fresh evidence, well inside retention
    assert [h["change"] for h in detail["history"]] == ["created", "restored"]
    assert (await client.get("/api/v1/outages/NOPE", headers=auth("oms"))).status == 404
    feed = await get(client, "/api/v1/restorations?after=0&limit=2")
    assert [i["seq"] for i in feed["items"]] == [1, 2] and feed["next"] == 2
    rest = await get(client, f"/api/v1/restorations?after={feed['next']}")
    assert [i["seq"] for i in rest["items"]] == [3] and rest["next"] == 3
    assert (await get(client, "/api/v1/restorations?after=3"))["next"] == 3
    cov = await get(client, "/api/v1/coverage")
    assert cov["items"][0]["feeder_id"] == "FDR-1"


async def test_restart_resumes_the_same_outages_and_feed(
    aiohttp_client: ClientMaker, make_app: AppFactory, settings: Settings
) -> None:
    client = await aiohttp_client(make_app(settings))
    await send(client, storm(0, 4))
    await send(client, [event("Z1", "M5", at="2026-11-26T10:00:00Z")])
    before = await get(client, "/api/v1/outages")
    feed_before = await get(client, "/api/v1/restorations")
    stats_before = await get(client, "/api/v1/events/stats")
    await client.close()

    client = await aiohttp_client(make_app(settings))
    assert await get(client, "/api/v1/outages") == before
    assert await get(client, "/api/v1/events/stats") == stats_before
    # The replayed engine knows the dark meter: its restore closes the same outage.
    body = await send(client, [event("Z1", "M5"), event("Z2", "M5", "power_restored",
                                                         at="2026-11-26T10:30:00Z")])
    assert (body["duplicate"], body["accepted"]) == (1, 1)
    feed = await get(client, f"/api/v1/restorations?after={feed_before['next']}")
    assert [i["seq"] for i in feed["items"]] == [feed_before["next"] + 1]
    assert feed["items"][0]["outage_id"] == before["items"][-1]["outage_id"]
    after = await get(client, "/api/v1/outages")
    assert len(after["items"]) == len(before["items"])


async def test_concurrent_posts_are_group_committed_in_order(client: Client) -> None:
    batches = [[event(f"C{b}-{i}", f"M{(i % 6) + 1}") for i in range(20)] for b in range(10)]
    results = await asyncio.gather(*(send(client, b) for b in batches))
    assert sum(r["accepted"] for r in results) == 200
    stats = await get(client, "/api/v1/events/stats")
    assert stats["log_seq"] == 200
