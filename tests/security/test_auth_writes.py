"""Every write endpoint refuses strangers; tokens are compared in constant time.

The write endpoints are enumerated from the app's router (every route whose
method changes state), not listed by hand, so a new one cannot be forgotten:
each must declare its roles, leave at least one role out, and refuse a
missing token (401), a wrong token (401, near misses included) and a token of
a role it does not admit (403), before reading the body.
"""

from __future__ import annotations

import ast
import hmac
import inspect
import textwrap
from typing import Any

import pytest
from aiohttp import web

from oms_bridge.api import auth as auth_module
from oms_bridge.api.auth import Authenticator, roles_of
from oms_bridge.settings import ROLES
from oms_bridge.web import routes as web_routes
from tests.security.conftest import Client, auth
from tests.security.service import TOKENS

SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}


def write_routes(app: web.Application) -> list[tuple[str, str, Any]]:
    """(method, path, handler) of every state-changing route of ``app``."""
    out = []
    for route in app.router.routes():
        if route.method in SAFE_METHODS:
            continue
        info = route.resource.get_info() if route.resource is not None else {}
        path = str(info.get("path") or info.get("formatter"))
        out.append((route.method, path, route.handler))
    return sorted(out, key=lambda r: (r[1], r[0]))


def _concrete(path: str) -> str:
    return path.replace("{outage_id}", "OUT-1").replace("{version_id}", "1")


def _near_misses(token: str) -> list[str]:
    flipped = token[:-1] + ("A" if token[-1] != "A" else "B")
    return [flipped, token[:-1], token + "x", token.upper(), " " * 3 + "x" + token[1:],
            token[: len(token) // 2], "x" * len(token)]


def test_the_app_has_write_endpoints_and_each_declares_roles(app: web.Application) -> None:
    writes = write_routes(app)
    assert {(m, p) for m, p, _ in writes} >= {("POST", "/api/v1/events"),
                                             ("POST", "/api/v1/topology")}
    for method, path, handler in writes:
        roles = roles_of(handler)
        assert roles, f"{method} {path} declares no roles: anyone may call it"
        assert roles <= set(ROLES), (method, path, roles)
        assert set(ROLES) - roles, f"{method} {path} admits every role"


async def test_every_write_endpoint_refuses_strangers(client: Client) -> None:
    writes = write_routes(client.app)
    checked = 0
    for method, path, handler in writes:
        url = _concrete(path)
        admitted = roles_of(handler) or frozenset()
        resp = await client.request(method, url, data=b"{}")
        assert resp.status == 401, (method, path, resp.status)
        assert resp.headers["WWW-Authenticate"].startswith("Bearer")
        for header in ("Bearer nope", "Bearer ", "Basic " + TOKENS["gis-admin"],
                       TOKENS["gis-admin"], "bearer"):
            resp = await client.request(method, url, data=b"{}",
                                        headers={"Authorization": header})
            assert resp.status == 401, (method, path, header, resp.status)
        for role in admitted:
            for miss in _near_misses(TOKENS[role]):
                resp = await client.request(method, url, data=b"{}",
                                            headers={"Authorization": f"Bearer {miss}"})
                assert resp.status == 401, (method, path, role, miss)
        for role in set(ROLES) - admitted:
            resp = await client.request(method, url, data=b"{}", headers=auth(role))
            assert resp.status == 403, (method, path, role, resp.status)
            problem = await resp.json()
            assert problem["status"] == 403
            assert role in problem["detail"]
        checked += 1
    assert checked == len(writes) >= 2


async def test_refusal_comes_before_the_body_is_read(client: Client) -> None:
    """A stranger announcing a huge body is refused without it being read."""
    for method, path, _ in write_routes(client.app):
        for headers in ({}, {"Authorization": "Bearer nope"}, auth("oms")
                        if "oms" not in (roles_of(_) or ()) else auth("head-end")):
            resp = await client.request(
                method, _concrete(path), data=_endless(),
                headers={**headers, "Content-Type": "application/octet-stream"})
            assert resp.status in (401, 403), (method, path, resp.status)


async def _endless() -> Any:
    """A body that would take forever: 1 GiB in 1 MiB pieces, lazily."""
    piece = bytes(1 << 20)
    for _ in range(1024):
        yield piece


# ------------------------------------------------------------- constant time

def _calls_in(func: Any) -> set[str]:
    tree = ast.parse(textwrap.dedent(inspect.getsource(func)))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            f = node.func
            names.add(f.attr if isinstance(f, ast.Attribute) else getattr(f, "id", ""))
    return names


def _compares(func: Any) -> list[str]:
    tree = ast.parse(textwrap.dedent(inspect.getsource(func)))
    return [ast.unparse(n) for n in ast.walk(tree) if isinstance(n, ast.Compare)
            and any(isinstance(op, ast.Eq | ast.NotEq | ast.In | ast.NotIn) for op in n.ops)]


def test_tokens_are_compared_with_compare_digest_only() -> None:
    assert "compare_digest" in _calls_in(Authenticator.role_for)
    # no ==, in or dict look-up on the presented token anywhere in the check
    assert not [c for c in _compares(Authenticator.role_for) if "presented" in c
                or "token" in c], _compares(Authenticator.role_for)
    # the middleware and the page's own guard both go through the Authenticator
    assert "role_for" in _calls_in(auth_module.make_auth_middleware)
    assert "role_for" in _calls_in(web_routes._check_reader)


def test_every_configured_token_is_compared_over_the_whole_token(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """No early exit: each presented token is compared, whole, with every token."""
    calls: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def recording(a: Any, b: Any) -> bool:
        calls.append((bytes(a), bytes(b)))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", recording)  # the module auth.py uses
    authenticator = Authenticator(TOKENS)
    for presented in [TOKENS["dispatcher"], TOKENS["head-end"], "nope",
                      TOKENS["oms"][:-1] + "X", ""]:
        calls.clear()
        role = authenticator.role_for(presented)
        assert role == next((r for r, t in TOKENS.items() if t == presented), None)
        assert sorted(b for _, b in calls) == sorted(t.encode() for t in TOKENS.values())
        assert all(a == presented.encode() for a, _ in calls)


def test_auth_uses_the_standard_hmac_module() -> None:
    assert vars(auth_module)["hmac"] is hmac
