"""extensions: one row per family and quarter a reassessment run decided (`eligibility.extended`)

Revision ID: 0004_extensions
Revises: 0003_dashboard
Create Date: 2026-12-01 00:30:00
"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

revision = '0004_extensions'
down_revision = '0003_dashboard'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'extension_facts',
        sa.Column('application_id', sa.Uuid(), nullable=False),
        sa.Column('quarter', sa.String(length=7), nullable=False),
        sa.Column('decision_id', sa.Uuid(), nullable=False),
        sa.Column('run_id', sa.Uuid(), nullable=False),
        sa.Column('region_kato', sa.String(length=9), nullable=False),
        sa.Column('settlement', sa.String(length=10), nullable=False),
        sa.Column('kind', sa.String(length=15), nullable=False),
        sa.Column('eligible', sa.Boolean(), nullable=False),
        sa.Column('tsa', sa.BigInteger(), nullable=False),
        sa.Column('child_supplement', sa.BigInteger(), nullable=False),
        sa.Column('assigned_total', sa.BigInteger(), nullable=False),
        sa.Column('reasons', postgresql.ARRAY(sa.String(length=40)), nullable=False),
        sa.Column('last_event_at', sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint('application_id', 'quarter'),
    )
    op.create_index(op.f('ix_extension_facts_quarter'), 'extension_facts', ['quarter'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_extension_facts_quarter'), table_name='extension_facts')
    op.drop_table('extension_facts')
