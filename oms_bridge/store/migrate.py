"""Run the store's Alembic migrations from code: no ``alembic.ini`` at run time.

>>> upgrade("sqlite:///data/oms-bridge.db")        # doctest: +SKIP

The ``Config`` is built here, pointing at the migration scripts inside the
package, and the connection is handed to ``env.py`` directly (so a URL with a
``%`` in its password needs no ini escaping). Synchronous drivers only; the
async service runs :func:`upgrade` in a thread before it opens its own engine.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.exc import SQLAlchemyError

from oms_bridge.errors import StoreError
from oms_bridge.store.engine import create_sync_engine
from oms_bridge.store.urls import redact

__all__ = ["MIGRATIONS_DIR", "alembic_config", "current", "downgrade", "head", "upgrade"]

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


def alembic_config() -> Config:
    """An Alembic ``Config`` for the packaged scripts (no ini file)."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    return cfg


def head() -> str:
    """The newest revision id shipped with this code."""
    heads = ScriptDirectory.from_config(alembic_config()).get_heads()
    if len(heads) != 1:
        raise StoreError(f"migrations have {len(heads)} heads, expected 1: {heads}")
    return heads[0]


def upgrade(url: str, revision: str = "head") -> None:
    """Bring the database at ``url`` (plain contract URL) up to ``revision``."""
    _run(url, "upgrade", revision)


def downgrade(url: str, revision: str) -> None:
    """Take the database at ``url`` down to ``revision`` (``"base"`` drops everything)."""
    _run(url, "downgrade", revision)


def current(url: str) -> str | None:
    """The revision the database is at, ``None`` when it was never migrated."""
    engine = create_sync_engine(url)
    try:
        with engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    except SQLAlchemyError as exc:
        raise StoreError(f"cannot read the schema revision of {redact(url)}: {exc}") from exc
    finally:
        engine.dispose()


def _run(url: str, action: str, revision: str) -> None:
    cfg = alembic_config()
    engine = create_sync_engine(url)
    try:
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            if action == "upgrade":
                command.upgrade(cfg, revision)
            else:
                command.downgrade(cfg, revision)
    except SQLAlchemyError as exc:
        raise StoreError(
            f"migration {action} to {revision} failed on {redact(url)}: {exc}"
        ) from exc
    finally:
        engine.dispose()
