"""Server-sent events with a single-use ticket; health, readiness and metrics."""

from __future__ import annotations

import asyncio

import orjson
from aiohttp import web
from aiohttp.test_utils import TestClient

from oms_bridge.api import keys
from tests.api.conftest import auth, event

Client = TestClient[web.Request, web.Application]


async def _read_event(resp: web.StreamResponse | object) -> tuple[str, dict[str, object]]:
    name, data = "", b""
    content = resp.content  # type: ignore[attr-defined]
    while True:
        line = await asyncio.wait_for(content.readline(), 5)
        if line.startswith(b"event: "):
            name = line[7:].strip().decode()
        elif line.startswith(b"data: "):
            data = line[6:].strip()
        elif line == b"\n" and name:
            return name, orjson.loads(data)


async def test_stream_with_ticket_gets_snapshot_then_changes(client: Client) -> None:
    resp = await client.post("/api/v1/stream/tickets", headers=auth("dispatcher"))
    assert resp.status == 201
    ticket = (await resp.json())["ticket"]
    stream = await client.get(f"/api/v1/stream?ticket={ticket}")
    assert stream.status == 200
    assert stream.headers["Content-Type"].startswith("text/event-stream")
    name, data = await _read_event(stream)
    assert name == "snapshot" and data == {"items": []}
    await client.post("/api/v1/events", data=orjson.dumps([event("S1", "M1")]),
                      headers={"Content-Type": "application/json", **auth("head-end")})
    name, data = await _read_event(stream)
    assert name == "outage" and data["device_id"] == "SP-1" and data["change"] == "created"
    stream.close()
    again = await client.get(f"/api/v1/stream?ticket={ticket}")
    assert again.status == 401  # single use
    assert (await client.get("/api/v1/stream?ticket=made-up")).status == 401


async def test_stream_accepts_the_header_too(client: Client) -> None:
    stream = await client.get("/api/v1/stream", headers=auth("oms"))
    assert stream.status == 200
    name, _ = await _read_event(stream)
    assert name == "snapshot"
    stream.close()


async def test_ready_and_metrics(client: Client) -> None:
    ready = await client.get("/readyz")
    body = await ready.json()
    assert ready.status == 200 and body["checks"]["database"] == "ok"
    await client.post("/api/v1/events", data=orjson.dumps([event("Q1", "M1"), {"x": 1}]),
                      headers={"Content-Type": "application/json", **auth("head-end")})
    text = await (await client.get("/metrics")).text()
    assert 'omsb_events_in_total{source="http",verdict="accepted"} 1' in text
    assert 'omsb_events_in_total{source="http",verdict="invalid"} 1' in text
    assert "omsb_ingest_lag_seconds_count 1" in text
    assert "omsb_outages_active 1" in text
    assert "# TYPE omsb_inference_seconds histogram" in text
    assert 'omsb_read_cache_bytes{cache="feed"} ' in text
    assert 'omsb_read_cache_bytes{cache="outages"} ' in text


async def test_active_gauge_follows_the_engine(client: Client) -> None:
    """The gauge comes from the drained changes, not from listing the engine."""
    headers = {"Content-Type": "application/json", **auth("head-end")}
    await client.post("/api/v1/events", data=orjson.dumps([event("G1", "M1"), event("G2", "M2")]),
                      headers=headers)
    runtime = client.app[keys.RUNTIME]
    assert runtime.engine is not None
    active = len(runtime.engine.outages("active"))
    assert active > 0
    text = await (await client.get("/metrics")).text()
    assert f"omsb_outages_active {active}" in text
    await client.post("/api/v1/events", data=orjson.dumps(
        [event("G3", "M1", "power_restored", "2026-11-26T07:30:00.000Z"),
         event("G4", "M2", "power_restored", "2026-11-26T07:30:00.000Z")]), headers=headers)
    assert len(runtime.engine.outages("active")) < active
    active = len(runtime.engine.outages("active"))
    text = await (await client.get("/metrics")).text()
    assert f"omsb_outages_active {active}" in text


async def test_changes_queued_together_arrive_in_order_with_consecutive_ids(
        client: Client) -> None:
    # a burst of changes goes out in one write: every frame intact, ids in order
    stream = await client.get("/api/v1/stream", headers=auth("dispatcher"))
    name, _ = await _read_event(stream)
    assert name == "snapshot"
    hub = client.app[keys.HUB]
    for i in range(300):
        hub.publish(orjson.dumps({"outage_id": f"O{i}", "change": "updated"}))
    ids: list[int] = []
    seen: list[str] = []
    content = stream.content
    while len(seen) < 300:
        line = await asyncio.wait_for(content.readline(), 5)
        if line.startswith(b"id: "):
            ids.append(int(line[4:]))
        elif line.startswith(b"data: "):
            seen.append(str(orjson.loads(line[6:])["outage_id"]))
    assert seen == [f"O{i}" for i in range(300)]
    assert ids == list(range(2, 302))
    stream.close()
