"""Stream positions on the event log rows themselves.

The last row of a batch read from a Redis stream carries the stream's name and
the batch's newest entry id, so a batch and its position are written by one
statement (one ``COPY`` in autocommit on PostgreSQL) and are durable together.
A partial index finds the newest position of a stream without scanning the log.
``bus_offsets`` stays for positions recorded before this revision.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision: str | None = "0002"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.add_column("events", sa.Column("bus_stream", sa.Text, nullable=True))
    op.add_column("events", sa.Column("bus_id", sa.String(64), nullable=True))
    op.create_index(
        "ix_events_bus", "events", ["bus_stream", "seq"],
        postgresql_where=sa.text("bus_stream IS NOT NULL"),
        sqlite_where=sa.text("bus_stream IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_events_bus", table_name="events")
    with op.batch_alter_table("events") as batch:
        batch.drop_column("bus_id")
        batch.drop_column("bus_stream")
