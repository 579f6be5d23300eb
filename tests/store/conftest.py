"""Database fixtures: every store test runs on SQLite and on real PostgreSQL.

PostgreSQL tests get a database of their own (``oms_bridge_test_<random>``),
created once per session on the server named by ``OMS_BRIDGE_TEST_PG_URL``
(default ``postgresql://postgres@127.0.0.1:5432/test``) and dropped at the end,
so parallel runs never collide; each test starts from an empty schema. When the
server is unreachable they skip with the reason, unless
``OMS_BRIDGE_REQUIRE_SERVICES=1`` (CI), where they fail.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from oms_bridge.store.urls import sync_url

PG_ADMIN_URL = os.environ.get(
    "OMS_BRIDGE_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test"
)


def _require_services() -> bool:
    return os.environ.get("OMS_BRIDGE_REQUIRE_SERVICES", "") not in ("", "0")


@pytest.fixture(scope="session")
def pg_server_url() -> Iterator[str]:
    """A fresh, empty PostgreSQL database for this session (plain contract URL)."""
    admin = create_engine(
        sync_url(PG_ADMIN_URL), isolation_level="AUTOCOMMIT",
        connect_args={"connect_timeout": 3},
    )
    name = f"oms_bridge_test_{secrets.token_hex(4)}"
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except SQLAlchemyError as exc:  # server down, refused, auth: skip with the reason
        admin.dispose()
        reason = f"PostgreSQL at {make_url(PG_ADMIN_URL).render_as_string()} unreachable: {exc}"
        if _require_services():
            pytest.fail(reason)
        pytest.skip(reason.splitlines()[0])
    url = make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    try:
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _reset_pg(url: str) -> None:
    engine = create_engine(sync_url(url))
    try:
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
    finally:
        engine.dispose()


@pytest.fixture(
    params=[
        pytest.param("sqlite", id="sqlite"),
        pytest.param("postgres", id="postgres", marks=pytest.mark.postgres),
    ]
)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A plain database URL with an empty database, on each backend in turn."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'store.db'}"
    url: str = request.getfixturevalue("pg_server_url")
    _reset_pg(url)
    return url
