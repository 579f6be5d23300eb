"""Topology versions, the active-topology pointer and the activation log.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0001"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None

_JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "topology_versions",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("image_format", sa.String(16), nullable=False),
        sa.Column("image_bytes", sa.BigInteger, nullable=False),
        sa.Column("feeders", sa.Integer, nullable=False),
        sa.Column("nodes", sa.Integer, nullable=False),
        sa.Column("service_points", sa.Integer, nullable=False),
        sa.Column("ami_meters", sa.Integer, nullable=False),
        sa.Column("defects", sa.Integer, nullable=False),
        sa.Column("report", _JSON, nullable=False),
        sa.Column("image", sa.LargeBinary, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_topology_versions"),
    )
    op.create_index("ix_topology_versions_sha256", "topology_versions", ["sha256"])
    op.create_table(
        "active_topology",
        sa.Column("id", sa.Integer, autoincrement=False, nullable=False),
        sa.Column("version_id", sa.Integer, nullable=True),
        sa.Column("activated_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_active_topology"),
        sa.ForeignKeyConstraint(
            ["version_id"], ["topology_versions.id"], ondelete="RESTRICT",
            name="fk_active_topology_version_id_topology_versions",
        ),
        sa.CheckConstraint("id = 1", name="ck_active_topology_single_row"),
    )
    op.create_table(
        "topology_activations",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("version_id", sa.Integer, nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_topology_activations"),
        sa.ForeignKeyConstraint(
            ["version_id"], ["topology_versions.id"], ondelete="RESTRICT",
            name="fk_topology_activations_version_id_topology_versions",
        ),
        sa.CheckConstraint(
            "action IN ('activate', 'rollback')", name="ck_topology_activations_action"
        ),
    )
    # The one pointer row exists from the start, so activation is a plain
    # row-locked UPDATE and never races on an INSERT.
    op.execute("INSERT INTO active_topology (id, version_id, activated_at) VALUES (1, NULL, NULL)")


def downgrade() -> None:
    op.drop_table("topology_activations")
    op.drop_table("active_topology")
    op.drop_index("ix_topology_versions_sha256", table_name="topology_versions")
    op.drop_table("topology_versions")
