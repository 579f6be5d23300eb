"""Every endpoint: no token 401, wrong token 401, wrong role 403, right role passes."""

from __future__ import annotations

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from oms_bridge.api.auth import roles_of
from tests.api.conftest import TOKENS, auth

Client = TestClient[web.Request, web.Application]

WRITES = [("POST", "/api/v1/events", "head-end"),
          ("POST", "/api/v1/topology", "gis-admin"),
          ("POST", "/api/v1/stream/tickets", "dispatcher")]
READS = ["/api/v1/outages", "/api/v1/outages/OUT-1", "/api/v1/restorations",
         "/api/v1/coverage", "/api/v1/events/stats", "/api/v1/topology/versions",
         "/api/v1/topology/versions/1", "/api/v1/map/config", "/api/v1/map/feeders",
         "/api/v1/map/topology"]
#: Reads that take a JSON body (the map's long queries), so they are POSTs.
READ_POSTS = ["/api/v1/map/topology", "/api/v1/map/resolve"]


def _protected(app: web.Application) -> list[tuple[str, str, frozenset[str]]]:
    out = []
    for route in app.router.routes():
        roles = roles_of(route.handler)
        info = route.resource.get_info() if route.resource else {}
        path = info.get("path") or info.get("formatter")
        if roles and route.method != "HEAD":
            out.append((route.method, str(path), roles))
    return out


async def test_every_write_endpoint_refuses_missing_wrong_and_foreign_tokens(
        client: Client) -> None:
    for method, path, role in WRITES:
        resp = await client.request(method, path, data=b"[]")
        assert resp.status == 401, (method, path)
        problem = await resp.json()
        assert problem["detail"] == "missing bearer token"
        assert resp.headers["WWW-Authenticate"].startswith("Bearer")
        resp = await client.request(method, path, data=b"[]",
                                    headers={"Authorization": "Bearer nope"})
        assert resp.status == 401 and (await resp.json())["detail"] == "token not recognised"
        resp = await client.request(method, path, data=b"[]",
                                    headers={"Authorization": "Basic abc"})
        assert resp.status == 401
        for other in TOKENS:
            if other == role or (role == "dispatcher" and other == "oms"):
                continue
            resp = await client.request(method, path, data=b"[]", headers=auth(other))
            assert resp.status == 403, (method, path, other)
            problem = await resp.json()
            assert problem["role"] == other and role in problem["required"]


async def test_reads_need_dispatcher_or_oms(client: Client) -> None:
    for path in READS:
        assert (await client.get(path)).status == 401
        assert (await client.get(path, headers=auth("head-end"))).status == 403
        for role in ("dispatcher", "oms"):
            resp = await client.get(path, headers=auth(role))
            assert resp.status in (200, 404), (path, role, await resp.text())
    for path in READ_POSTS:
        assert (await client.post(path, json={})).status == 401
        assert (await client.post(path, json={}, headers=auth("head-end"))).status == 403
        for role in ("dispatcher", "oms"):
            resp = await client.post(path, json={}, headers=auth(role))
            assert resp.status not in (401, 403), (path, role, await resp.text())


async def test_the_lists_above_cover_every_protected_route(client: Client) -> None:
    seen = {(m, p) for m, p, _ in _protected(client.app)}
    listed = ({(m, p) for m, p, _ in WRITES} | {("GET", p) for p in READS}
              | {("POST", p) for p in READ_POSTS} | {("GET", "/api/v1/stream")})
    normalised = {(m, p.replace("{outage_id}", "OUT-1").replace("{version_id}", "1"))
                  for m, p in seen}
    assert normalised == listed


@pytest.mark.parametrize("path", ["/healthz", "/readyz", "/metrics", "/api/v1/openapi.json"])
async def test_operational_endpoints_are_open(client: Client, path: str) -> None:
    assert (await client.get(path)).status == 200
