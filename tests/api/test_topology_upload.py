"""POST /api/v1/topology: a zipped export becomes the active topology.

Refusals: an oversized upload before its body is read (declared length) or as
soon as the cap is passed (streamed), a corrupt or unsafe zip with a 422
naming the member. Switching keeps the old topology's active outages, flagged
``stale`` (no restoration is claimed that nobody observed).
"""

from __future__ import annotations

import asyncio
import io
import zipfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import orjson
from aiohttp import web
from aiohttp.test_utils import TestClient

from gis_import.fixtures import radial_feeder
from tests.api.conftest import auth, event

Client = TestClient[web.Request, web.Application]
LIMIT = 256 * 1024  # max_upload_bytes of the test settings


def zipped(folder: Path, *, prefix: str = "") -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(folder.iterdir()):
            zf.write(path, prefix + path.name)
    return buf.getvalue()


def radial_zip(tmp_path: Path) -> bytes:
    return zipped(radial_feeder().write(tmp_path / "radial"))


async def upload(client: Client, body: bytes, role: str = "gis-admin") -> Any:
    return await client.post("/api/v1/topology?name=radial.zip", data=body,
                             headers={"Content-Type": "application/zip", **auth(role)})


async def get(client: Client, path: str) -> Any:
    resp = await client.get(path, headers=auth("oms"))
    assert resp.status == 200, await resp.text()
    return await resp.json()


async def test_upload_activates_the_new_topology(client: Client, tmp_path: Path) -> None:
    before = await get(client, "/api/v1/coverage")
    assert [f["feeder_id"] for f in before["items"]] == ["FDR-1"]
    resp = await upload(client, radial_zip(tmp_path))
    assert resp.status == 201, await resp.text()
    body = await resp.json()
    assert body["active"] is True and isinstance(body["version_id"], int)
    assert "defects" in body["report"]
    after = await get(client, "/api/v1/coverage")
    assert [f["feeder_id"] for f in after["items"]] == ["FDR-R1"]
    versions = (await get(client, "/api/v1/topology/versions"))["items"]
    assert [v["active"] for v in versions] == [True, False]
    assert versions[0]["version_id"] == body["version_id"]
    assert versions[0]["source"] == "http:radial.zip"
    one = await get(client, f"/api/v1/topology/versions/{body['version_id']}")
    assert one["report"] == body["report"] and one["active"] is True
    assert (await client.get("/api/v1/topology/versions/999",
                             headers=auth("oms"))).status == 404


async def test_only_gis_admin_may_upload(client: Client, tmp_path: Path) -> None:
    resp = await upload(client, radial_zip(tmp_path), role="head-end")
    assert resp.status == 403


async def test_declared_oversize_is_refused_before_the_body_is_sent(client: Client) -> None:
    """A raw request that declares 1 GiB and sends nothing: the answer comes anyway."""
    assert client.server.port is not None
    reader, writer = await asyncio.open_connection("127.0.0.1", client.server.port)
    head = ("POST /api/v1/topology HTTP/1.1\r\nHost: x\r\n"
            f"Authorization: Bearer {auth('gis-admin')['Authorization'][7:]}\r\n"
            "Content-Type: application/zip\r\nContent-Length: 1073741824\r\n\r\n")
    writer.write(head.encode())
    await writer.drain()
    try:
        async with asyncio.timeout(5):
            status_line = await reader.readline()
            response = status_line + await reader.read(4096)
    finally:
        writer.close()
    assert status_line.split()[1] == b"413", response
    assert b"application/problem+json" in response


async def test_streamed_oversize_stops_at_the_cap(client: Client) -> None:
    """No Content-Length (chunked): the server stops reading once past the limit."""
    sent = {"bytes": 0}
    chunk = b"\0" * 65536

    async def body() -> AsyncIterator[bytes]:
        for _ in range(1600):  # 100 MiB offered
            sent["bytes"] += len(chunk)
            yield chunk

    resp = await client.post("/api/v1/topology", data=body(),
                             headers={"Content-Type": "application/zip", **auth("gis-admin")})
    assert resp.status == 413
    assert (await resp.json())["limit_bytes"] == LIMIT
    assert sent["bytes"] < 100 * 1024 * 1024  # not read whole


async def test_path_traversal_member_is_a_422_naming_it(client: Client, tmp_path: Path) -> None:
    folder = radial_feeder().write(tmp_path / "radial")
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for path in sorted(folder.iterdir()):
            zf.write(path, path.name)
        zf.writestr("../../etc/evil.geojson", b"{}")
    resp = await upload(client, buf.getvalue())
    assert resp.status == 422, await resp.text()
    problem = await resp.json()
    assert "../../etc/evil.geojson" in problem["detail"]


async def test_corrupt_member_is_a_422_naming_it(client: Client, tmp_path: Path) -> None:
    folder = radial_feeder().write(tmp_path / "radial")
    data = bytearray(zipped(folder))
    target = b"ServicePoint.geojson"
    with zipfile.ZipFile(io.BytesIO(bytes(data))) as zf:
        info = zf.getinfo(target.decode())
    # Damage the compressed bytes of that one member (after its local header).
    start = info.header_offset + 30 + len(target) + len(info.extra) + 8
    for i in range(start, start + 64):
        data[i] ^= 0xFF
    resp = await upload(client, bytes(data))
    assert resp.status == 422, await resp.text()
    assert "ServicePoint" in (await resp.json())["detail"]


async def test_not_a_zip_is_a_422(client: Client) -> None:
    resp = await upload(client, b"this is not a zip archive at all")
    assert resp.status == 422, await resp.text()
    assert resp.content_type == "application/problem+json"


async def test_switching_keeps_old_active_outages_flagged_stale(
        client: Client, tmp_path: Path) -> None:
    async def send(events: list[dict[str, str]]) -> dict[str, Any]:
        resp = await client.post("/api/v1/events", data=orjson.dumps(events),
                                 headers={"Content-Type": "application/json",
                                          **auth("head-end")})
        assert resp.status == 202, await resp.text()
        body: dict[str, Any] = await resp.json()
        return body

    await send([event("G1", "M1"), event("G2", "M2"),
                event("P2", "M2", "power_restored", at="2026-11-26T07:30:00Z")])
    old_version = (await get(client, "/api/v1/topology/versions"))["items"][0]["version_id"]
    # Events in flight on both sides of the switch: each lands on one engine.
    in_flight = [send([event(f"F{i}", "M3")]) for i in range(5)]
    results = await asyncio.gather(upload(client, radial_zip(tmp_path)), *in_flight)
    assert results[0].status == 201
    new_version = (await results[0].json())["version_id"]
    assert sum(r["accepted"] + r["unknown_meter"] for r in results[1:]) == 5

    outages = {o["device_id"]: o for o in (await get(client, "/api/v1/outages"))["items"]}
    assert outages["SP-1"]["status"] == "active" and outages["SP-1"]["stale"] is True
    assert outages["SP-1"]["topology_version_id"] == old_version
    assert outages["SP-1"]["superseded_by_version_id"] == new_version
    assert outages["SP-2"]["status"] == "restored" and "stale" not in outages["SP-2"]
    detail = await get(client, f"/api/v1/outages/{outages['SP-1']['outage_id']}")
    assert [h["change"] for h in detail["history"]] == ["created", "stale"]
    # The new topology does not know the old meters; the feed claims nothing.
    after = await send([event("N1", "M1", "power_restored", at="2026-11-26T08:00:00Z")])
    assert after["unknown_meter"] == 1
    assert (await get(client, "/api/v1/restorations"))["items"][-1]["outage_id"] != (
        outages["SP-1"]["outage_id"])
