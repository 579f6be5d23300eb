"""Map the contract's plain database URL to the sync and async SQLAlchemy drivers.

Settings carry a plain URL (``sqlite:///PATH`` or ``postgresql://USER@HOST/DB``,
contract section 7). Migrations and the CLI use the synchronous driver
(pysqlite, psycopg2); the service uses the asynchronous one (aiosqlite,
asyncpg). Any driver already named in the URL is replaced, so both forms of a
URL map to the same pair.
"""

from __future__ import annotations

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from oms_bridge.errors import ConfigError

__all__ = ["async_url", "backend_of", "redact", "sync_url"]

_SYNC = {"sqlite": "sqlite", "postgresql": "postgresql+psycopg2"}
_ASYNC = {"sqlite": "sqlite+aiosqlite", "postgresql": "postgresql+asyncpg"}
_ALIASES = {"postgres": "postgresql", "pg": "postgresql"}


def _parse(url: str | URL) -> URL:
    if isinstance(url, URL):
        return url
    try:
        return make_url(url)
    except ArgumentError as exc:
        raise ConfigError(f"not a database URL: {redact(url)!r}", key="database.url") from exc


def backend_of(url: str | URL) -> str:
    """``"sqlite"`` or ``"postgresql"``; anything else is a :class:`ConfigError`."""
    parsed = _parse(url)
    backend = parsed.drivername.split("+", 1)[0]
    backend = _ALIASES.get(backend, backend)
    if backend not in _SYNC:
        raise ConfigError(
            f"unsupported database {backend!r}; valid: {sorted(_SYNC)}", key="database.url"
        )
    return backend


def sync_url(url: str | URL) -> str:
    """The URL with the synchronous driver (``sqlite``, ``postgresql+psycopg2``)."""
    return _render(_parse(url).set(drivername=_SYNC[backend_of(url)]))


def async_url(url: str | URL) -> str:
    """The URL with the asynchronous driver (``sqlite+aiosqlite``, ``postgresql+asyncpg``)."""
    return _render(_parse(url).set(drivername=_ASYNC[backend_of(url)]))


def redact(url: str | URL) -> str:
    """The URL with any password masked, for messages and logs."""
    try:
        parsed = url if isinstance(url, URL) else make_url(url)
    except ArgumentError:
        return "<unparsable URL>"
    return parsed.render_as_string(hide_password=True)


def _render(url: URL) -> str:
    return url.render_as_string(hide_password=False)
