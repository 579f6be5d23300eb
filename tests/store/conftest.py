"""Database fixtures: every store test runs on SQLite and on real PostgreSQL.

PostgreSQL tests use the session's scratch database (``pg_scratch_url`` of
``tests/conftest.py``: created fresh, dropped at the end, skipped or failed in
CI when the server is down); each test starts from an empty ``public`` schema.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from oms_bridge.store.urls import sync_url


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
    url: str = request.getfixturevalue("pg_scratch_url")
    _reset_pg(url)
    return url
