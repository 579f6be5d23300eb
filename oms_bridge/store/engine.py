"""Engines for the store: SQLite gets foreign keys on and a busy timeout."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url

from oms_bridge.store.urls import backend_of, sync_url

__all__ = ["create_sync_engine", "ensure_sqlite_dir"]


def ensure_sqlite_dir(url: str) -> None:
    """Create the folder of a SQLite file URL, so a fresh data folder just works."""
    if backend_of(url) != "sqlite":
        return
    database = make_url(url).database
    if database and database != ":memory:" and not database.startswith("file:"):
        Path(database).parent.mkdir(parents=True, exist_ok=True)


def create_sync_engine(url: str, **kwargs: Any) -> Engine:
    """A synchronous engine on the plain contract URL (driver chosen here)."""
    ensure_sqlite_dir(url)
    engine = create_engine(sync_url(url), **kwargs)
    if backend_of(url) == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
    finally:
        cursor.close()
