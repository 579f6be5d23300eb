"""Database fixtures: every store test runs on SQLite and on real PostgreSQL.

PostgreSQL tests use the session's scratch database (``pg_scratch_url`` of
``tests/conftest.py``: created fresh, dropped at the end, skipped or failed in
CI when the server is down); each test starts from an empty ``public`` schema.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import reset_pg_schema


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
    reset_pg_schema(url)
    return url
