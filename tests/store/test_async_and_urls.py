"""The plain contract URL maps to both drivers, and the repository runs under ``run_sync``."""

from __future__ import annotations

import pytest
from sqlalchemy.ext.asyncio import create_async_engine

from oms_bridge.errors import ConfigError
from oms_bridge.store import migrate, topology_repo
from oms_bridge.store.urls import async_url, backend_of, redact, sync_url

from .test_topology_repo import _outcome


@pytest.mark.parametrize(
    ("url", "sync", "async_"),
    [
        ("sqlite:///data/x.db", "sqlite:///data/x.db", "sqlite+aiosqlite:///data/x.db"),
        ("sqlite+aiosqlite:///x.db", "sqlite:///x.db", "sqlite+aiosqlite:///x.db"),
        (
            "postgresql://u@h:5432/db",
            "postgresql+psycopg2://u@h:5432/db",
            "postgresql+asyncpg://u@h:5432/db",
        ),
        (
            "postgres://u:p%40ss@h/db",
            "postgresql+psycopg2://u:p%40ss@h/db",
            "postgresql+asyncpg://u:p%40ss@h/db",
        ),
        (
            "postgresql+asyncpg://u@h/db",
            "postgresql+psycopg2://u@h/db",
            "postgresql+asyncpg://u@h/db",
        ),
    ],
)
def test_url_mapping(url: str, sync: str, async_: str) -> None:
    assert sync_url(url) == sync
    assert async_url(url) == async_
    assert backend_of(url) in {"sqlite", "postgresql"}


def test_unsupported_or_bad_url() -> None:
    with pytest.raises(ConfigError, match="unsupported database 'mysql'"):
        sync_url("mysql://u@h/db")
    with pytest.raises(ConfigError, match="not a database URL"):
        async_url("not a url")
    assert "secret" not in redact("postgresql://u:secret@h/db")


async def test_repository_under_async_engine(db_url: str) -> None:
    migrate.upgrade(db_url)
    engine = create_async_engine(async_url(db_url))
    try:
        async with engine.begin() as conn:
            vid = await conn.run_sync(topology_repo.save_version, _outcome(), "async")
            await conn.run_sync(topology_repo.activate, vid)
        async with engine.connect() as conn:
            found = await conn.run_sync(topology_repo.active)
        assert found is not None
        assert found[0] == vid
        assert found[1].n_service_points == 5
    finally:
        await engine.dispose()
