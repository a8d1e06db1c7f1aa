"""initial schema

Revision ID: 0001
Revises: 
Create Date: 2026-11-22 21:12:44.369914
"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from shared.migrations import create_plumbing_tables, drop_plumbing_tables

revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_plumbing_tables()
    op.create_table('decisions',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('application_id', sa.Uuid(), nullable=False),
    sa.Column('evidence_id', sa.Uuid(), nullable=False),
    sa.Column('decided_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('rules_version', sa.String(length=40), nullable=False),
    sa.Column('case_input', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('result', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('application_id')
    )
    op.create_table('parameters',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('name', sa.String(length=60), nullable=False),
    sa.Column('region_kato', sa.String(length=9), nullable=True),
    sa.Column('valid_from', sa.Date(), nullable=False),
    sa.Column('valid_to', sa.Date(), nullable=True),
    sa.Column('value', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('recorded_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('recorded_by', sa.String(length=100), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_parameters_lookup', 'parameters', ['name', 'region_kato', 'valid_from'], unique=False)


def downgrade() -> None:
    drop_plumbing_tables()
    op.drop_index('ix_parameters_lookup', table_name='parameters')
    op.drop_table('parameters')
    op.drop_table('decisions')
