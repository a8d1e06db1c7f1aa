"""assignments know their family: its members read its payments

Revision ID: 0002_payment_family
Revises: 0001
Create Date: 2026-11-30 15:00:00
"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

revision = '0002_payment_family'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Assignments made before have no family on record: no citizen sees their payments (case
    # workers of their region still do).
    op.add_column('assignments', sa.Column('member_iins', postgresql.ARRAY(sa.String(length=12)),
                                           server_default=sa.text("'{}'"), nullable=False))


def downgrade() -> None:
    op.drop_column('assignments', 'member_iins')
