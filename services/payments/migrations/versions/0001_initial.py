"""initial schema

Revision ID: 0001
Revises: 
Create Date: 2026-11-22 21:12:50.789186
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
    op.create_table('assignments',
    sa.Column('decision_id', sa.Uuid(), nullable=False),
    sa.Column('application_id', sa.Uuid(), nullable=False),
    sa.Column('kind', sa.String(length=15), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('period_quarter', sa.String(length=7), nullable=False),
    sa.Column('monthly', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('region_kato', sa.String(length=9), nullable=False),
    sa.Column('settlement', sa.String(length=10), nullable=False),
    sa.Column('bank_iban', sa.String(length=34), nullable=False),
    sa.Column('bank_code', sa.String(length=11), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.PrimaryKeyConstraint('decision_id'),
    sa.UniqueConstraint('application_id')
    )
    op.create_table('payments',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('application_id', sa.Uuid(), nullable=False),
    sa.Column('decision_id', sa.Uuid(), nullable=False),
    sa.Column('month', sa.String(length=7), nullable=False),
    sa.Column('tsa', sa.BigInteger(), nullable=False),
    sa.Column('child_supplement', sa.BigInteger(), nullable=False),
    sa.Column('total', sa.BigInteger(), nullable=False),
    sa.Column('bank_iban', sa.String(length=34), nullable=False),
    sa.Column('bank_code', sa.String(length=11), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('status_reason', sa.String(length=500), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('application_id', 'month', name='uq_payment_application_month')
    )
    op.create_index(op.f('ix_payments_application_id'), 'payments', ['application_id'], unique=False)
    op.create_index(op.f('ix_payments_bank_code'), 'payments', ['bank_code'], unique=False)


def downgrade() -> None:
    drop_plumbing_tables()
    op.drop_index(op.f('ix_payments_bank_code'), table_name='payments')
    op.drop_index(op.f('ix_payments_application_id'), table_name='payments')
    op.drop_table('payments')
    op.drop_table('assignments')
