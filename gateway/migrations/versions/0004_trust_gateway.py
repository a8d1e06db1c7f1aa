"""gateway: a case worker's regions, the citizen a portal acted for in the audit log, and the
record of every read of a person's data (issue 8)

Revision ID: 0004_trust_gateway
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0004_trust_gateway"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("callers", sa.Column("regions", postgresql.ARRAY(sa.String(length=2)), server_default="{}",
                                       nullable=False))
    op.add_column("audit_records", sa.Column("acting_for", sa.String(length=12), nullable=True))
    op.create_table(
        "data_access_records",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("caller_id", sa.String(length=64), nullable=False),
        sa.Column("caller_kind", sa.String(length=20), nullable=False),
        sa.Column("acting_for", sa.String(length=12), nullable=True),
        sa.Column("method", sa.String(length=10), nullable=False),
        sa.Column("route", sa.String(length=200), nullable=False),
        sa.Column("status", sa.SmallInteger(), nullable=False),
        sa.Column("request_id", sa.String(length=128), nullable=False),
        sa.Column("purpose", sa.String(length=200), nullable=False),
        sa.Column("stated_purpose", sa.String(length=200), nullable=True),
        sa.Column("subject_hmac", sa.String(length=64), nullable=False),
        sa.Column("subject_masked", sa.String(length=12), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_data_access_subject_at", "data_access_records", ["subject_hmac", "at"])
    op.create_index("ix_data_access_caller_at", "data_access_records", ["caller_id", "at"])
    op.create_index("ix_data_access_at", "data_access_records", ["at"])


def downgrade() -> None:
    op.drop_index("ix_data_access_at", table_name="data_access_records")
    op.drop_index("ix_data_access_caller_at", table_name="data_access_records")
    op.drop_index("ix_data_access_subject_at", table_name="data_access_records")
    op.drop_table("data_access_records")
    op.drop_column("audit_records", "acting_for")
    op.drop_column("callers", "regions")
