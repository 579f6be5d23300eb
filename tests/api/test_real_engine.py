"""The real engine behind the service on the bundled demo: same answer as replay."""

from __future__ import annotations

import asyncio
import dataclasses
import subprocess
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from oms_bridge.api.app import DEMO_EXPORT, create_app
from oms_bridge.api.runtime import RuntimeOptions
from oms_bridge.settings import DatabaseSettings, ServiceSettings, Settings
from tests.api.conftest import TOKENS, auth

Client = TestClient[web.Request, web.Application]
FAST_TICKS = RuntimeOptions(idle_tick_s=0.3, tick_rate=100_000.0, tick_horizon_s=7200.0)


def _cli(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "oms_bridge.cli", *args], check=True,
                   capture_output=True)


@pytest.fixture(scope="module")
def scenario(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[bytes], dict[str, Any]]:
    if not DEMO_EXPORT.is_dir():
        pytest.skip("the bundled demo export is not there")
    out = tmp_path_factory.mktemp("scenario")
    _cli("simulate", "--topology", str(DEMO_EXPORT), "--seed", "11",
         "--out-events", str(out / "ev.jsonl"), "--out-truth", str(out / "truth.json"))
    _cli("replay", "--topology", str(DEMO_EXPORT), "--events", str(out / "ev.jsonl"),
         "--out", str(out / "replay.json"))
    lines = (out / "ev.jsonl").read_bytes().splitlines()
    return lines, orjson.loads((out / "replay.json").read_bytes())


async def all_outages(client: Client) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor = ""
    while True:
        page = await (await client.get(f"/api/v1/outages?limit=1000&after={cursor}",
                                       headers=auth("oms"))).json()
        items += page["items"]
        if page["next"] is None:
            return items
        cursor = page["next"]


async def settle(client: Client, expected: int) -> list[dict[str, Any]]:
    async with asyncio.timeout(20):
        while True:
            items = await all_outages(client)
            if len(items) >= expected:
                await asyncio.sleep(1.0)
                again = await all_outages(client)
                if again == items:
                    return items
            await asyncio.sleep(0.2)


def _key(doc: dict[str, Any]) -> str:
    return str(doc["outage_id"])


async def test_demo_storm_matches_replay_across_a_restart(
    aiohttp_client: Callable[..., Awaitable[Client]], tmp_path: Path,
    scenario: tuple[list[bytes], dict[str, Any]],
) -> None:
    lines, replayed = scenario
    settings = Settings(service=ServiceSettings(data_dir=str(tmp_path)),
                        database=DatabaseSettings(url=f"sqlite:///{tmp_path / 's.db'}"),
                        tokens=dict(TOKENS))
    client = await aiohttp_client(create_app(settings, options=FAST_TICKS))
    half = len(lines) // 2
    headers = {"Content-Type": "application/x-ndjson", **auth("head-end")}
    for i in range(0, half, 100):
        resp = await client.post("/api/v1/events", data=b"\n".join(lines[i:min(i + 100, half)]),
                                 headers=headers)
        assert resp.status == 202
    await client.close()
    client = await aiohttp_client(create_app(dataclasses.replace(settings), options=FAST_TICKS))
    for i in range(half, len(lines), 100):
        resp = await client.post("/api/v1/events", data=b"\n".join(lines[i:i + 100]),
                                 headers=headers)
        assert resp.status == 202
    got = await settle(client, len(replayed["outages"]))
    stats = await (await client.get("/api/v1/events/stats", headers=auth("oms"))).json()
    assert {k: stats[k] for k in replayed["events"]} == replayed["events"]
    assert sorted(got, key=_key) == sorted(replayed["outages"], key=_key)
    feed = await (await client.get("/api/v1/restorations?limit=1000",
                                   headers=auth("oms"))).json()
    assert feed["items"] == replayed["restorations"]
    one = got[0]["outage_id"]
    detail = await (await client.get(f"/api/v1/outages/{one}", headers=auth("dispatcher"))).json()
    assert detail["evidence"] and "affected_meters" in detail
