"""The durable event log: batch appends, ordered reads, epochs, bus offsets.

Async functions on an :class:`~sqlalchemy.ext.asyncio.AsyncConnection`, inside
the caller's transaction. Appends are one round trip per batch: ``COPY`` through
asyncpg's ``copy_records_to_table`` on PostgreSQL, one ``executemany`` on SQLite.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, insert, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from oms_bridge.store.service_tables import bus_offsets, engine_epochs, events

__all__ = [
    "COLUMNS",
    "Epoch",
    "EventRow",
    "add_epoch",
    "append",
    "get_offset",
    "last_seq",
    "list_epochs",
    "read_log",
    "set_offset",
]

#: ``(seq, event_id, meter_id, kind, occurred_at)`` in the column order of ``events``.
EventRow = tuple[int, str | None, str | None, str, float | None]
COLUMNS: tuple[str, ...] = ("seq", "event_id", "meter_id", "kind", "occurred_at")


@dataclass(frozen=True)
class Epoch:
    """One engine lifetime on one topology version."""

    epoch: int
    start_seq: int
    version_id: int
    feed_base: int


async def append(conn: AsyncConnection, rows: Sequence[EventRow]) -> None:
    """Write a batch of log rows in one round trip (COPY / executemany)."""
    if not rows:
        return
    if conn.dialect.name == "postgresql":
        # Begin the SQLAlchemy transaction first so COPY runs inside it (the
        # asyncpg adapter starts its transaction lazily on the first statement).
        await conn.execute(text("SELECT 1"))
        raw = await conn.get_raw_connection()
        driver: Any = raw.driver_connection
        await driver.copy_records_to_table("events", records=rows, columns=COLUMNS)
        return
    await conn.execute(insert(events), [dict(zip(COLUMNS, r, strict=True)) for r in rows])


async def last_seq(conn: AsyncConnection) -> int:
    found = (await conn.execute(select(func.max(events.c.seq)))).scalar()
    return int(found or 0)


async def read_log(
    engine: AsyncEngine, start_seq: int, end_seq: int | None = None, *, chunk: int = 50_000
) -> AsyncIterator[list[EventRow]]:
    """Rows with ``start_seq <= seq < end_seq`` in seq order, ``chunk`` at a time."""
    after = start_seq - 1
    while True:
        stmt = select(*(events.c[c] for c in COLUMNS)).where(events.c.seq > after)
        if end_seq is not None:
            stmt = stmt.where(events.c.seq < end_seq)
        stmt = stmt.order_by(events.c.seq).limit(chunk)
        async with engine.connect() as conn:
            rows = [
                (int(r[0]), r[1], r[2], str(r[3]), None if r[4] is None else float(r[4]))
                for r in (await conn.execute(stmt)).all()
            ]
        if not rows:
            return
        yield rows
        after = rows[-1][0]
        if len(rows) < chunk:
            return


async def list_epochs(conn: AsyncConnection) -> list[Epoch]:
    rows = await conn.execute(select(engine_epochs).order_by(engine_epochs.c.epoch))
    return [Epoch(int(r.epoch), int(r.start_seq), int(r.version_id), int(r.feed_base))
            for r in rows]


async def add_epoch(conn: AsyncConnection, epoch: Epoch) -> None:
    await conn.execute(insert(engine_epochs).values(
        epoch=epoch.epoch, start_seq=epoch.start_seq, version_id=epoch.version_id,
        feed_base=epoch.feed_base,
    ))


async def get_offset(conn: AsyncConnection, stream: str) -> str | None:
    found = (await conn.execute(
        select(bus_offsets.c.last_id).where(bus_offsets.c.stream == stream)
    )).scalar()
    return None if found is None else str(found)


async def set_offset(conn: AsyncConnection, stream: str, last_id: str) -> None:
    """Record the newest stream entry whose events are in the log (same transaction)."""
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    stmt = dialect.insert(bus_offsets).values(stream=stream, last_id=last_id)
    stmt = stmt.on_conflict_do_update(
        index_elements=[bus_offsets.c.stream], set_={"last_id": stmt.excluded.last_id}
    )
    await conn.execute(stmt)
