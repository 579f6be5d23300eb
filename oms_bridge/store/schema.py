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
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
)
from sqlalchemy.dialects import postgresql

__all__ = [
    "ACTIVE_ROW_ID",
    "active_topology",
    "metadata",
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
