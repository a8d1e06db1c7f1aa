"""a replica of the policy parameter contracts applies (`contract_sign_business_days`), seeded with
the value eligibility ships (10 business days from 2024-01-01)

Revision ID: 0004_parameter_replica
Revises: 0003_contract_lifecycle
Create Date: 2026-11-30 20:00:00
"""
import uuid
from datetime import date, datetime, timezone

from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

revision = '0004_parameter_replica'
down_revision = '0003_contract_lifecycle'
branch_labels = None
depends_on = None

SHIPPED_ID = uuid.UUID("0190a1b2-0000-7000-8000-0000000c0a10")
SHIPPED_AT = datetime(2023, 12, 1, tzinfo=timezone.utc)


def upgrade() -> None:
    replica = op.create_table(
        'parameter_replica',
        sa.Column('parameter_id', sa.Uuid(), nullable=False),
        sa.Column('name', sa.String(length=60), nullable=False),
        sa.Column('region_kato', sa.String(length=9), nullable=True),
        sa.Column('valid_from', sa.Date(), nullable=False),
        sa.Column('valid_to', sa.Date(), nullable=True),
        sa.Column('value', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column('recorded_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('parameter_id'),
    )
    op.create_index(op.f('ix_parameter_replica_name'), 'parameter_replica', ['name'], unique=False)
    op.bulk_insert(replica, [{"parameter_id": SHIPPED_ID, "name": "contract_sign_business_days", "region_kato": None,
                              "valid_from": date(2024, 1, 1), "valid_to": None, "value": "10",
                              "recorded_at": SHIPPED_AT}])


def downgrade() -> None:
    op.drop_index(op.f('ix_parameter_replica_name'), table_name='parameter_replica')
    op.drop_table('parameter_replica')
