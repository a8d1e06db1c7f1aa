"""initial schema

Revision ID: 0001
Revises: 
Create Date: 2026-11-22 21:12:54.066546
"""
from alembic import op
import sqlalchemy as sa

from shared.migrations import create_plumbing_tables, drop_plumbing_tables

revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_plumbing_tables()
    op.create_table('application_facts',
    sa.Column('application_id', sa.Uuid(), nullable=False),
    sa.Column('region_kato', sa.String(length=9), nullable=False),
    sa.Column('settlement', sa.String(length=10), nullable=False),
    sa.Column('channel', sa.String(length=20), nullable=False),
    sa.Column('stage', sa.String(length=30), nullable=False),
    sa.Column('members', sa.Integer(), nullable=False),
    sa.Column('submitted_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('decided_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('eligible', sa.Boolean(), nullable=True),
    sa.Column('kind', sa.String(length=15), nullable=True),
    sa.Column('scheduled_total', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('application_id')
    )
    op.create_index(op.f('ix_application_facts_region_kato'), 'application_facts', ['region_kato'], unique=False)
    op.create_index(op.f('ix_application_facts_stage'), 'application_facts', ['stage'], unique=False)


def downgrade() -> None:
    drop_plumbing_tables()
    op.drop_index(op.f('ix_application_facts_stage'), table_name='application_facts')
    op.drop_index(op.f('ix_application_facts_region_kato'), table_name='application_facts')
    op.drop_table('application_facts')
