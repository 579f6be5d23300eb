"""Outages, their change history and the restoration feed, as stored.

The writer persists what the engine drained; readers page through it. Every
write is idempotent (upsert by ``outage_id``, insert-or-ignore by
``(outage_id, rev)`` and by feed ``seq``), so re-persisting after a replay or a
retry never duplicates a row.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, Text, cast, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from oms_bridge.errors import StoreError
from oms_bridge.store.service_tables import outage_changes, outages, restorations

__all__ = [
    "ChangeRow",
    "OutageRow",
    "count_outages",
    "feed_range_json",
    "get_outage",
    "last_feed_seq",
    "list_changes",
    "list_children",
    "list_outages",
    "list_outages_json",
    "list_restorations",
    "list_restorations_json",
    "max_ord",
    "outage_range_json",
    "save",
]


@dataclass(frozen=True)
class OutageRow:
    outage_id: str
    ord: int
    status: str
    feeder_id: str | None
    device_id: str | None
    started_at_s: float | None
    parent_outage_id: str | None
    doc: dict[str, Any]


@dataclass(frozen=True)
class ChangeRow:
    outage_id: str
    rev: int
    change: str
    status: str
    doc: dict[str, Any]


def _insert(conn: AsyncConnection, table: Any) -> Any:
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    return dialect.insert(table)


async def save(
    conn: AsyncConnection,
    outage_rows: Sequence[OutageRow],
    changes: Sequence[ChangeRow],
    feed: Sequence[tuple[int, str, dict[str, Any]]],
) -> None:
    """Upsert outages, append their changes and feed items, idempotently."""
    if outage_rows:
        stmt = _insert(conn, outages)
        stmt = stmt.on_conflict_do_update(
            index_elements=[outages.c.outage_id],
            set_={c: stmt.excluded[c] for c in (
                "status", "feeder_id", "device_id", "started_at_s", "parent_outage_id", "doc")},
        )
        await conn.execute(stmt, [vars(r) for r in outage_rows])
    if changes:
        stmt = _insert(conn, outage_changes).on_conflict_do_nothing()
        await conn.execute(stmt, [vars(c) for c in changes])
    if feed:
        stmt = _insert(conn, restorations).on_conflict_do_nothing()
        await conn.execute(stmt, [{"seq": s, "outage_id": o, "doc": d} for s, o, d in feed])


def _filtered(
    stmt: Select[Any], status: str | None, feeder: str | None,
    since_s: float | None, until_s: float | None,
) -> Select[Any]:
    if status:
        stmt = stmt.where(outages.c.status == status)
    if feeder:
        stmt = stmt.where(outages.c.feeder_id == feeder)
    if since_s is not None:
        stmt = stmt.where(outages.c.started_at_s >= since_s)
    if until_s is not None:
        stmt = stmt.where(outages.c.started_at_s < until_s)
    return stmt


async def list_outages(
    conn: AsyncConnection, *, status: str | None = None, feeder: str | None = None,
    since_s: float | None = None, until_s: float | None = None,
    after: int = 0, limit: int = 100,
) -> tuple[list[dict[str, Any]], int | None]:
    """One page in order of first appearance; ``next`` is the cursor or ``None``."""
    stmt = _filtered(select(outages.c.ord, outages.c.doc), status, feeder, since_s, until_s)
    stmt = stmt.where(outages.c.ord > after).order_by(outages.c.ord).limit(limit + 1)
    rows = (await conn.execute(stmt)).all()
    more = len(rows) > limit
    rows = rows[:limit]
    return [r.doc for r in rows], (int(rows[-1].ord) if more else None)


async def list_outages_json(
    conn: AsyncConnection, *, status: str | None = None, feeder: str | None = None,
    since_s: float | None = None, until_s: float | None = None,
    after: int = 0, limit: int = 100,
) -> tuple[list[str], int | None]:
    """:func:`list_outages` with each document as the JSON text stored (no decoding).

    On PostgreSQL one statement on the raw connection: no ``BEGIN`` and
    ``ROLLBACK`` round trips around a read.
    """
    if conn.dialect.name == "postgresql":
        where, params = ["ord > $1"], list[Any]([after])
        for clause, value in ((_PG_STATUS, status), (_PG_FEEDER, feeder),
                              (_PG_SINCE, since_s), (_PG_UNTIL, until_s)):
            if value is not None and value != "":
                params.append(value)
                where.append(clause.format(n=len(params)))
        params.append(limit + 1)
        sql = _PG_OUTAGES.format(where=" AND ".join(where), n=len(params))
        rows = await _pg_fetch(conn, sql, params)
    else:
        stmt = _filtered(select(outages.c.ord, cast(outages.c.doc, Text)), status, feeder,
                         since_s, until_s)
        stmt = stmt.where(outages.c.ord > after).order_by(outages.c.ord).limit(limit + 1)
        rows = [tuple(r) for r in (await conn.execute(stmt)).all()]
    more = len(rows) > limit
    rows = rows[:limit]
    return [r[1] for r in rows], (int(rows[-1][0]) if more else None)


_PG_OUTAGES = "SELECT ord, doc::text FROM outages WHERE {where} ORDER BY ord LIMIT ${n}"
_PG_STATUS = "status = ${n}"
_PG_FEEDER = "feeder_id = ${n}"
_PG_SINCE = "started_at_s >= ${n}"
_PG_UNTIL = "started_at_s < ${n}"
_PG_FEED = "SELECT seq, doc::text FROM restorations WHERE seq > $1 ORDER BY seq LIMIT $2"


async def _pg_fetch(conn: AsyncConnection, sql: str, params: list[Any]) -> list[tuple[Any, ...]]:
    """One statement on the asyncpg connection itself (autocommit read)."""
    raw = await conn.get_raw_connection()
    driver: Any = raw.driver_connection
    try:
        return [tuple(r) for r in await driver.fetch(sql, *params)]
    except (OSError, ConnectionError) as exc:
        await conn.invalidate()
        raise StoreError(f"database unreachable: {type(exc).__name__}") from exc
    except Exception as exc:
        if getattr(driver, "is_closed", lambda: False)():
            await conn.invalidate()
            raise StoreError(f"database unreachable: {type(exc).__name__}") from exc
        raise


_PG_FEED_RANGE = ("SELECT seq, doc::text FROM restorations WHERE seq > $1 AND seq <= $2 "
                  "ORDER BY seq")
_PG_OUTAGE_RANGE = ("SELECT ord, status, feeder_id, doc::text FROM outages "
                    "WHERE ord > $1 AND ord <= $2 ORDER BY ord")


async def feed_range_json(conn: AsyncConnection, lo: int, hi: int) -> list[tuple[int, str]]:
    """Feed items with ``lo < seq <= hi`` in order, each as the JSON text stored."""
    if conn.dialect.name == "postgresql":
        rows = await _pg_fetch(conn, _PG_FEED_RANGE, [lo, hi])
    else:
        rows = [tuple(r) for r in (await conn.execute(
            select(restorations.c.seq, cast(restorations.c.doc, Text))
            .where(restorations.c.seq > lo, restorations.c.seq <= hi)
            .order_by(restorations.c.seq))).all()]
    return [(int(r[0]), str(r[1])) for r in rows]


async def outage_range_json(
    conn: AsyncConnection, lo: int, hi: int,
) -> list[tuple[int, str, str | None, str]]:
    """``(ord, status, feeder_id, doc text)`` of the outages with ``lo < ord <= hi``."""
    if conn.dialect.name == "postgresql":
        rows = await _pg_fetch(conn, _PG_OUTAGE_RANGE, [lo, hi])
    else:
        rows = [tuple(r) for r in (await conn.execute(
            select(outages.c.ord, outages.c.status, outages.c.feeder_id,
                   cast(outages.c.doc, Text))
            .where(outages.c.ord > lo, outages.c.ord <= hi).order_by(outages.c.ord))).all()]
    return [(int(r[0]), str(r[1]), r[2], str(r[3])) for r in rows]


async def count_outages(conn: AsyncConnection, status: str | None = None) -> int:
    stmt = select(func.count()).select_from(outages)
    if status:
        stmt = stmt.where(outages.c.status == status)
    return int((await conn.execute(stmt)).scalar_one())


async def get_outage(conn: AsyncConnection, outage_id: str) -> dict[str, Any] | None:
    found = (await conn.execute(
        select(outages.c.doc).where(outages.c.outage_id == outage_id)
    )).scalar()
    return None if found is None else dict(found)


async def list_children(conn: AsyncConnection, outage_id: str) -> list[dict[str, Any]]:
    rows = await conn.execute(
        select(outages.c.doc).where(outages.c.parent_outage_id == outage_id)
        .order_by(outages.c.ord)
    )
    return [dict(r.doc) for r in rows]


async def list_changes(conn: AsyncConnection, outage_id: str) -> list[dict[str, Any]]:
    rows = await conn.execute(
        select(outage_changes.c.rev, outage_changes.c.change, outage_changes.c.status)
        .where(outage_changes.c.outage_id == outage_id).order_by(outage_changes.c.rev)
    )
    return [{"rev": int(r.rev), "change": r.change, "status": r.status} for r in rows]


async def list_restorations(
    conn: AsyncConnection, *, after: int = 0, limit: int = 100
) -> tuple[list[dict[str, Any]], int]:
    """Feed items with ``seq > after``; ``next`` is the last seq seen (or ``after``)."""
    rows = (await conn.execute(
        select(restorations.c.seq, restorations.c.doc).where(restorations.c.seq > after)
        .order_by(restorations.c.seq).limit(limit)
    )).all()
    return [dict(r.doc) for r in rows], (int(rows[-1].seq) if rows else after)


async def list_restorations_json(
    conn: AsyncConnection, *, after: int = 0, limit: int = 100
) -> tuple[list[str], int]:
    """:func:`list_restorations` with each item as the JSON text stored (no decoding)."""
    if conn.dialect.name == "postgresql":
        rows = await _pg_fetch(conn, _PG_FEED, [after, limit])
    else:
        rows = [tuple(r) for r in (await conn.execute(
            select(restorations.c.seq, cast(restorations.c.doc, Text))
            .where(restorations.c.seq > after).order_by(restorations.c.seq).limit(limit)
        )).all()]
    return [r[1] for r in rows], (int(rows[-1][0]) if rows else after)


async def last_feed_seq(conn: AsyncConnection) -> int:
    return int((await conn.execute(select(func.max(restorations.c.seq)))).scalar() or 0)


async def max_ord(conn: AsyncConnection) -> int:
    return int((await conn.execute(select(func.max(outages.c.ord)))).scalar() or 0)
