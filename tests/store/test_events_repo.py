"""The event log and outage tables: batch append, ordered reads, idempotent writes."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import create_async_engine

from oms_bridge.store import events_repo, migrate, outages_repo
from oms_bridge.store.urls import async_url


async def test_log_round_trip_offsets_and_idempotent_outputs(db_url: str) -> None:
    migrate.upgrade(db_url)
    db = create_async_engine(async_url(db_url))
    try:
        rows: list[events_repo.EventRow] = [
            (i, f"E{i}", f"M{i % 7}", "last_gasp", 1_700_000_000.0 + i) for i in range(1, 2501)]
        rows.append((2501, None, None, "!invalid", None))
        async with db.begin() as conn:
            await events_repo.append(conn, rows[:1000])
            await events_repo.set_offset(conn, "s", "1-0")
        async with db.begin() as conn:
            await events_repo.append(conn, rows[1000:])
            await events_repo.set_offset(conn, "s", "2-5")
            await events_repo.add_epoch(conn, events_repo.Epoch(1, 1, 7, 0))
        read = [r async for chunk in events_repo.read_log(db, 1, chunk=700) for r in chunk]
        assert read == rows
        part = [r async for chunk in events_repo.read_log(db, 10, 20) for r in chunk]
        assert [r[0] for r in part] == list(range(10, 20))
        async with db.connect() as conn:
            assert await events_repo.last_seq(conn) == 2501
            assert await events_repo.get_offset(conn, "s") == "2-5"
            assert await events_repo.list_epochs(conn) == [events_repo.Epoch(1, 1, 7, 0)]

        doc = {"outage_id": "O1", "status": "active", "feeder_id": "F"}
        row = outages_repo.OutageRow("O1", 1, "active", "F", "D", 5.0, None, doc)
        change = outages_repo.ChangeRow("O1", 1, "created", "active", doc)
        for _ in range(2):  # a replay writes the same rows again
            async with db.begin() as conn:
                await outages_repo.save(conn, [row], [change], [(1, "O1", {"seq": 1})])
        async with db.connect() as conn:
            items, nxt = await outages_repo.list_outages(conn)
            assert items == [doc] and nxt is None
            assert await outages_repo.list_restorations(conn) == ([{"seq": 1}], 1)
            assert len(await outages_repo.list_changes(conn, "O1")) == 1
    finally:
        await db.dispose()
