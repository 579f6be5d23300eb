"""The service's event log, outages and their history, the restoration feed.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0002"
down_revision: str | None = "0001"
branch_labels: str | None = None
depends_on: str | None = None

_JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "events",
        sa.Column("seq", sa.BigInteger, autoincrement=False, nullable=False),
        sa.Column("event_id", sa.Text, nullable=True),
        sa.Column("meter_id", sa.Text, nullable=True),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("occurred_at", sa.Float, nullable=True),
        sa.PrimaryKeyConstraint("seq", name="pk_events"),
    )
    op.create_table(
        "engine_epochs",
        sa.Column("epoch", sa.Integer, autoincrement=False, nullable=False),
        sa.Column("start_seq", sa.BigInteger, nullable=False),
        sa.Column("version_id", sa.Integer, nullable=False),
        sa.Column("feed_base", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("epoch", name="pk_engine_epochs"),
    )
    op.create_table(
        "outages",
        sa.Column("outage_id", sa.Text, nullable=False),
        sa.Column("ord", sa.BigInteger, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("feeder_id", sa.Text, nullable=True),
        sa.Column("device_id", sa.Text, nullable=True),
        sa.Column("started_at_s", sa.Float, nullable=True),
        sa.Column("parent_outage_id", sa.Text, nullable=True),
        sa.Column("doc", _JSON, nullable=False),
        sa.PrimaryKeyConstraint("outage_id", name="pk_outages"),
        sa.UniqueConstraint("ord", name="uq_outages_ord"),
    )
    op.create_index("ix_outages_status_ord", "outages", ["status", "ord"])
    op.create_index("ix_outages_feeder_ord", "outages", ["feeder_id", "ord"])
    op.create_table(
        "outage_changes",
        sa.Column("outage_id", sa.Text, nullable=False),
        sa.Column("rev", sa.Integer, autoincrement=False, nullable=False),
        sa.Column("change", sa.String(32), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("doc", _JSON, nullable=False),
        sa.PrimaryKeyConstraint("outage_id", "rev", name="pk_outage_changes"),
    )
    op.create_table(
        "restorations",
        sa.Column("seq", sa.BigInteger, autoincrement=False, nullable=False),
        sa.Column("outage_id", sa.Text, nullable=False),
        sa.Column("doc", _JSON, nullable=False),
        sa.PrimaryKeyConstraint("seq", name="pk_restorations"),
    )
    op.create_table(
        "bus_offsets",
        sa.Column("stream", sa.Text, nullable=False),
        sa.Column("last_id", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("stream", name="pk_bus_offsets"),
    )


def downgrade() -> None:
    for table in ("bus_offsets", "restorations", "outage_changes", "outages",
                  "engine_epochs", "events"):
        op.drop_table(table)
