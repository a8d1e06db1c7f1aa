"""Frozen evidence; outbox, inbox and idempotency keys.

Revision ID: 0001
"""
from alembic import op

from services.verification.models import Base
from shared.outbox import create_plumbing_tables

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_plumbing_tables(op)
    Base.metadata.create_all(op.get_bind())


def downgrade() -> None:
    Base.metadata.drop_all(op.get_bind())
