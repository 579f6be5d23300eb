"""An in-process app (aiohttp test client) with known tokens, for the security checks.

The same factory as the service (``create_app``), SQLite in a temporary folder,
the stand-in engine of ``tests/api`` (fast and deterministic) and small body
limits so that oversized bodies are cheap to send.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from oms_bridge.api.app import create_app
from oms_bridge.api.runtime import RuntimeOptions
from oms_bridge.settings import DatabaseSettings, ServiceSettings, Settings
from tests.api.standin import StandInPort, small_topology
from tests.conftest import reset_pg_schema, seed_topology
from tests.security.service import TOKENS

Client = TestClient[web.Request, web.Application]
ClientMaker = Callable[..., Awaitable[Client]]

MAX_BODY_BYTES = 64 * 1024
MAX_UPLOAD_BYTES = 256 * 1024


def auth(role: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {TOKENS[role]}"}


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    url = f"sqlite:///{tmp_path / 'service.db'}"
    seed_topology(url, small_topology())
    return Settings(
        service=ServiceSettings(data_dir=str(tmp_path / "data"), demo_topology=False,
                                max_body_bytes=MAX_BODY_BYTES,
                                max_upload_bytes=MAX_UPLOAD_BYTES),
        database=DatabaseSettings(url=url),
        tokens=dict(TOKENS),
    )


@pytest.fixture
def app(settings: Settings) -> web.Application:
    return create_app(settings, port=StandInPort(settings),
                      options=RuntimeOptions(idle_tick_s=0))


@pytest.fixture
async def client(aiohttp_client: ClientMaker, app: web.Application) -> Client:
    return await aiohttp_client(app)


@pytest.fixture(params=[pytest.param("sqlite", id="sqlite"),
                        pytest.param("postgres", id="postgres", marks=pytest.mark.postgres)])
def backend_settings(request: pytest.FixtureRequest, settings: Settings,
                     tmp_path: Path) -> Iterator[Settings]:
    if request.param == "sqlite":
        yield settings
        return
    url: str = request.getfixturevalue("pg_scratch_url")
    reset_pg_schema(url)
    seed_topology(url, small_topology())
    yield dataclasses.replace(settings, database=DatabaseSettings(url=url))


@pytest.fixture
async def any_client(aiohttp_client: ClientMaker, backend_settings: Settings) -> Client:
    app: web.Application = create_app(backend_settings, port=StandInPort(backend_settings),
                                      options=RuntimeOptions(idle_tick_s=0))
    return await aiohttp_client(app)
