"""Tables of the running service: the event log, outages, the restoration feed.

Mirrors migration ``0002``. Kept on the one ``MetaData`` of
:mod:`oms_bridge.store.schema`.

``events`` is the durable input log: every item the single writer fed the
engine, in order, with ``seq`` assigned by the writer. Replaying it through a
fresh engine rebuilds the exact state (same outage ids, same feed seqs). Besides
meter events it holds ``!invalid`` rows (a line that failed validation, so the
counts survive a restart) and ``!tick`` rows (the idle ticker advancing event
time; ``occurred_at`` is the watermark). No secondary index: it is written at
tens of thousands of rows a second and only ever read in ``seq`` order.

``engine_epochs`` starts a new engine on a topology version: the events of an
epoch are those from ``start_seq`` up to the next epoch's ``start_seq``, and its
restoration feed seqs are offset by ``feed_base`` so the feed only grows.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Float, Index, Integer, String, Table, Text

from oms_bridge.store.schema import JsonDocument, metadata

__all__ = [
    "bus_offsets",
    "engine_epochs",
    "events",
    "outage_changes",
    "outages",
    "restorations",
]

events = Table(
    "events",
    metadata,
    Column("seq", BigInteger, primary_key=True, autoincrement=False),
    Column("event_id", Text, nullable=True),
    Column("meter_id", Text, nullable=True),
    Column("kind", String(32), nullable=False),
    Column("occurred_at", Float, nullable=True),
)

engine_epochs = Table(
    "engine_epochs",
    metadata,
    Column("epoch", Integer, primary_key=True, autoincrement=False),
    Column("start_seq", BigInteger, nullable=False),
    Column("version_id", Integer, nullable=False),
    Column("feed_base", BigInteger, nullable=False),
)

outages = Table(
    "outages",
    metadata,
    Column("outage_id", Text, primary_key=True),
    Column("ord", BigInteger, nullable=False, unique=True),
    Column("status", String(16), nullable=False),
    Column("feeder_id", Text, nullable=True),
    Column("device_id", Text, nullable=True),
    Column("started_at_s", Float, nullable=True),
    Column("parent_outage_id", Text, nullable=True),
    Column("doc", JsonDocument, nullable=False),
)
Index("ix_outages_status_ord", outages.c.status, outages.c.ord)
Index("ix_outages_feeder_ord", outages.c.feeder_id, outages.c.ord)

outage_changes = Table(
    "outage_changes",
    metadata,
    Column("outage_id", Text, primary_key=True),
    Column("rev", Integer, primary_key=True, autoincrement=False),
    Column("change", String(32), nullable=False),
    Column("status", String(16), nullable=False),
    Column("doc", JsonDocument, nullable=False),
)

restorations = Table(
    "restorations",
    metadata,
    Column("seq", BigInteger, primary_key=True, autoincrement=False),
    Column("outage_id", Text, nullable=False),
    Column("doc", JsonDocument, nullable=False),
)

bus_offsets = Table(
    "bus_offsets",
    metadata,
    Column("stream", Text, primary_key=True),
    Column("last_id", String(64), nullable=False),
)
