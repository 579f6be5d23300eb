"""The served OpenAPI document matches the registered routes, method by method."""

from __future__ import annotations

from aiohttp import web
from aiohttp.test_utils import TestClient

from oms_bridge.api.auth import roles_of

Client = TestClient[web.Request, web.Application]


async def test_openapi_document_matches_every_route(client: Client) -> None:
    resp = await client.get("/api/v1/openapi.json")
    doc = await resp.json()
    assert doc["openapi"].startswith("3.1")
    documented = {(path, method.upper()): op for path, ops in doc["paths"].items()
                  for method, op in ops.items()}
    registered = {}
    for route in client.app.router.routes():
        if route.method == "HEAD" or isinstance(route.resource, web.StaticResource):
            continue  # static assets of the page are files, not API
        info = route.resource.get_info() if route.resource else {}
        path = str(info.get("path") or info.get("formatter"))
        registered[(path, route.method)] = roles_of(route.handler) or frozenset()
    assert set(documented) == set(registered)
    for key, roles in registered.items():
        assert set(documented[key].get("x-roles", [])) == set(roles), key
        assert bool(documented[key]["security"]) == bool(roles), key
        for response in documented[key]["responses"].values():
            assert "description" in response
