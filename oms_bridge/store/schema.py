"""The one ``MetaData`` of oms-bridge: every table the store and the service use.

Migrations (``oms_bridge/store/migrations``) are the source of truth for a real
database; this module mirrors them so queries are typed and ``env.py`` has a
``target_metadata`` to compare against. A later migration adds its tables here
too.

Topology versions
-----------------
``topology_versions`` keeps every import, sound or not: the compiled image
(``Topology.to_bytes()``), its SHA-256, headline counts and the full import
report. ``active_topology`` is a single-row pointer (``id`` is always 1) to the
version in service, and ``topology_activations`` logs every activation and
rollback so a rollback can walk back more than one step.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    text,
)
from sqlalchemy.dialects import postgresql

__all__ = [
    "ACTIVE_ROW_ID",
    "active_topology",
    "bus_offsets",
    "engine_epochs",
    "events",
    "metadata",
    "outage_changes",
    "outages",
    "restorations",
    "topology_activations",
    "topology_versions",
]

#: Constraint names are explicit so migrations can refer to them on any backend.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = MetaData(naming_convention=NAMING_CONVENTION)

#: JSON on SQLite, JSONB on PostgreSQL (indexable, compact).
JsonDocument = JSON().with_variant(postgresql.JSONB(), "postgresql")

#: The primary key of the one row of ``active_topology``.
ACTIVE_ROW_ID = 1

topology_versions = Table(
    "topology_versions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("source", Text, nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("image_format", String(16), nullable=False),
    Column("image_bytes", BigInteger, nullable=False),
    Column("feeders", Integer, nullable=False),
    Column("nodes", Integer, nullable=False),
    Column("service_points", Integer, nullable=False),
    Column("ami_meters", Integer, nullable=False),
    Column("defects", Integer, nullable=False),
    Column("report", JsonDocument, nullable=False),
    Column("image", LargeBinary, nullable=False),
)
Index("ix_topology_versions_sha256", topology_versions.c.sha256)

active_topology = Table(
    "active_topology",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column(
        "version_id",
        Integer,
        ForeignKey("topology_versions.id", ondelete="RESTRICT"),
        nullable=True,
    ),
    Column("activated_at", DateTime(timezone=True), nullable=True),
    CheckConstraint(f"id = {ACTIVE_ROW_ID}", name="single_row"),
)

topology_activations = Table(
    "topology_activations",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column(
        "version_id",
        Integer,
        ForeignKey("topology_versions.id", ondelete="RESTRICT"),
        nullable=False,
    ),
    Column("action", String(16), nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
    CheckConstraint("action IN ('activate', 'rollback')", name="action"),
)


# ----------------------------------------------------------------------------
# The running service (migration 0002): the event log, engine epochs, outages
# and their change history, the restoration feed, Redis stream offsets. See
# ``oms_bridge.store.events_repo`` and ``oms_bridge.store.outages_repo``.
#
# ``events`` is the durable input log in the writer's order (``seq`` assigned
# by the single writer), including ``!invalid`` and ``!tick`` rows, so a
# replay through a fresh engine rebuilds the exact state. It is written in bulk
# and read in ``seq`` order. The last row of a batch from a Redis stream also
# carries the stream and its newest entry id (migration 0003), so rows and
# stream position are durable in one statement; the partial index holds one
# entry per such batch.

events = Table(
    "events",
    metadata,
    Column("seq", BigInteger, primary_key=True, autoincrement=False),
    Column("event_id", Text, nullable=True),
    Column("meter_id", Text, nullable=True),
    Column("kind", String(32), nullable=False),
    Column("occurred_at", Float, nullable=True),
    Column("bus_stream", Text, nullable=True),
    Column("bus_id", String(64), nullable=True),
)
Index("ix_events_bus", events.c.bus_stream, events.c.seq,
      postgresql_where=text("bus_stream IS NOT NULL"),
      sqlite_where=text("bus_stream IS NOT NULL"))

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
