"""Service fixtures: the same tests on SQLite and on real PostgreSQL."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from oms_bridge.api.app import create_app
from oms_bridge.api.runtime import RuntimeOptions
from oms_bridge.settings import DatabaseSettings, ServiceSettings, Settings
from tests.api.standin import StandInPort, small_topology
from tests.conftest import reset_pg_schema, seed_topology

TOKENS = {"head-end": "he-secret", "oms": "oms-secret", "gis-admin": "gis-secret",
          "dispatcher": "disp-secret"}


def auth(role: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {TOKENS[role]}"}




@pytest.fixture(params=[pytest.param("sqlite", id="sqlite"),
                        pytest.param("postgres", id="postgres", marks=pytest.mark.postgres)])
def service_db(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'service.db'}"
    url: str = request.getfixturevalue("pg_scratch_url")
    reset_pg_schema(url)
    return url


@pytest.fixture
def settings(service_db: str, tmp_path: Path) -> Settings:
    seed_topology(service_db, small_topology())
    return Settings(
        service=ServiceSettings(data_dir=str(tmp_path / "data"), demo_topology=False,
                                max_body_bytes=64 * 1024, max_upload_bytes=256 * 1024),
        database=DatabaseSettings(url=service_db),
        tokens=dict(TOKENS),
    )


AppFactory = Callable[..., web.Application]
ClientMaker = Callable[..., Awaitable[TestClient[web.Request, web.Application]]]


@pytest.fixture
def make_app() -> AppFactory:
    def make(settings: Settings, **kwargs: Any) -> web.Application:
        kwargs.setdefault("options", RuntimeOptions(idle_tick_s=0))
        return create_app(settings, port=StandInPort(settings), **kwargs)

    return make


@pytest.fixture
async def client(
    aiohttp_client: ClientMaker, make_app: AppFactory, settings: Settings
) -> TestClient[web.Request, web.Application]:
    return await aiohttp_client(make_app(settings))


def event(eid: str, meter: str, kind: str = "last_gasp",
          at: str = "2026-11-26T07:00:03.120Z") -> dict[str, str]:
    return {"event_id": eid, "meter_id": meter, "type": kind, "occurred_at": at}
