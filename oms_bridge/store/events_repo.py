"""The durable event log: batch appends, ordered reads, epochs, bus offsets.

:func:`write` is what the service's single writer calls: a batch of log rows
and the Redis stream positions they complete, durable together in **one
statement** (one ``COPY`` in autocommit on PostgreSQL, one ``executemany`` in
one transaction on SQLite), so a batch costs one round trip. The position of a
stream batch rides on its last row (``bus_stream``, ``bus_id``).

The other functions work on an :class:`~sqlalchemy.ext.asyncio.AsyncConnection`
inside the caller's transaction. :func:`append` is the plain ``COPY`` /
``executemany`` of log rows (no positions) that ``bench/ingest.py`` compares
the service with.
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
    "WRITE_COLUMNS",
    "Epoch",
    "EventRow",
    "MarkedRow",
    "add_epoch",
    "append",
    "get_offset",
    "last_seq",
    "list_epochs",
    "read_log",
    "set_offset",
    "write",
]

#: ``(seq, event_id, meter_id, kind, occurred_at)`` in the column order of ``events``.
EventRow = tuple[int, str | None, str | None, str, float | None]
COLUMNS: tuple[str, ...] = ("seq", "event_id", "meter_id", "kind", "occurred_at")
#: An :data:`EventRow` plus ``(bus_stream, bus_id)``: ``None, None`` except on
#: the last row of a batch read from a stream.
MarkedRow = tuple[int, str | None, str | None, str, float | None, str | None, str | None]
WRITE_COLUMNS: tuple[str, ...] = (*COLUMNS, "bus_stream", "bus_id")
_SQLITE_INSERT = (f"INSERT INTO events ({', '.join(WRITE_COLUMNS)}) "
                  f"VALUES ({', '.join('?' * len(WRITE_COLUMNS))})")


@dataclass(frozen=True)
class Epoch:
    """One engine lifetime on one topology version."""

    epoch: int
    start_seq: int
    version_id: int
    feed_base: int


async def write(db: AsyncEngine, rows: Sequence[MarkedRow]) -> None:
    """Make a batch of log rows (and the stream positions they carry) durable at once.

    One round trip on PostgreSQL: binary ``COPY`` outside any transaction
    block, so the statement commits on its own, all rows or none. A connection
    that failed is invalidated, never handed out again.
    """
    if not rows:
        return
    async with db.connect() as conn:
        if conn.dialect.name != "postgresql":
            await conn.exec_driver_sql(_SQLITE_INSERT, list(rows))
            await conn.commit()
            return
        raw = await conn.get_raw_connection()
        driver: Any = raw.driver_connection
        try:
            await driver.copy_records_to_table("events", records=rows, columns=WRITE_COLUMNS)
        except BaseException:
            await conn.invalidate()
            raise


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
    """Newest entry id of ``stream`` whose events are in the log (``None``: none)."""
    marked = (await conn.execute(
        select(events.c.bus_id).where(events.c.bus_stream == stream)
        .order_by(events.c.seq.desc()).limit(1)
    )).scalar()
    if marked is not None:
        return str(marked)
    found = (await conn.execute(  # recorded before migration 0003
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
