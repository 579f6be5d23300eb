"""POST /api/v1/events: formats, counts, reasons, limits."""

from __future__ import annotations

import gzip
from typing import Any

import orjson
from aiohttp import web
from aiohttp.test_utils import TestClient

from tests.api.conftest import auth, event

Client = TestClient[web.Request, web.Application]


async def post(client: Client, body: bytes, ctype: str = "application/json",
               **headers: str) -> Any:
    return await client.post("/api/v1/events", data=body,
                             headers={"Content-Type": ctype, **auth("head-end"), **headers})


async def test_json_array_counts_each_verdict(client: Client) -> None:
    batch = [event("E1", "M1"), event("E1", "M1"), event("E2", "NOPE"),
             {"event_id": "E3", "meter_id": "M2", "type": "bogus",
              "occurred_at": "2026-11-26T07:00:00Z"}]
    resp = await post(client, orjson.dumps(batch))
    assert resp.status == 202, await resp.text()
    body = await resp.json()
    assert (body["accepted"], body["duplicate"], body["unknown_meter"], body["invalid"]) == (
        1, 1, 1, 1)
    assert body["errors"] == [{"line": 4, "field": "type", "reason": body["errors"][0]["reason"]}]


async def test_ndjson_bad_lines_never_reject_good_ones(client: Client) -> None:
    lines = [orjson.dumps(event("A1", "M1")), b"{not json", b"",
             orjson.dumps({"event_id": "A2", "meter_id": "M2", "type": "last_gasp",
                           "occurred_at": "2026-11-26T07:00:00"}),
             orjson.dumps(event("A3", "M3"))]
    resp = await post(client, b"\n".join(lines), "application/x-ndjson")
    body = await resp.json()
    assert resp.status == 202
    assert body["accepted"] == 2 and body["invalid"] == 2
    assert [(e["line"], e["field"]) for e in body["errors"]] == [(2, None), (4, "occurred_at")]


async def test_gzip_body_is_decoded(client: Client) -> None:
    body = gzip.compress(orjson.dumps([event(f"G{i}", "M1") for i in range(50)]))
    resp = await post(client, body, **{"Content-Encoding": "gzip"})
    assert resp.status == 202
    assert (await resp.json())["accepted"] == 50
    stats = await (await client.get("/api/v1/events/stats", headers=auth("oms"))).json()
    assert stats["accepted"] == 50 and stats["log_seq"] == 50


async def test_oversized_body_is_a_clear_413(client: Client) -> None:
    big = orjson.dumps([event(f"B{i}", "M1") for i in range(2000)])
    assert len(big) > 64 * 1024
    resp = await post(client, big)
    assert resp.status == 413
    assert resp.content_type == "application/problem+json"
    problem = await resp.json()
    assert problem["limit_bytes"] == 64 * 1024 and "limit" in problem["detail"]


async def test_gzip_bomb_is_cut_at_the_decoded_limit(client: Client) -> None:
    bomb = gzip.compress(b"[" + b" " * (4 * 1024 * 1024) + b"]")
    assert len(bomb) < 64 * 1024
    resp = await post(client, bomb, **{"Content-Encoding": "gzip"})
    assert resp.status == 413


async def test_unparsable_array_is_a_400_problem(client: Client) -> None:
    resp = await post(client, b"[{\"event_id\": ")
    assert resp.status == 400
    assert (await resp.json())["title"] == "Body is not JSON"
