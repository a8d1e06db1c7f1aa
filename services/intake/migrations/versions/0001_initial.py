"""initial schema

Revision ID: 0001
Revises: 
Create Date: 2026-11-22 21:12:37.956782
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
    op.create_table('applications',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('status', sa.String(length=30), nullable=False),
    sa.Column('channel', sa.String(length=20), nullable=False),
    sa.Column('region_kato', sa.String(length=9), nullable=False),
    sa.Column('settlement', sa.String(length=10), nullable=False),
    sa.Column('application_date', sa.Date(), nullable=False),
    sa.Column('extension', sa.Boolean(), nullable=False),
    sa.Column('expense_check_consent', sa.Boolean(), nullable=False),
    sa.Column('bank_iban', sa.String(length=34), nullable=False),
    sa.Column('bank_code', sa.String(length=11), nullable=False),
    sa.Column('submitted_by', sa.String(length=100), nullable=False),
    sa.Column('submitted_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('decision', postgresql.JSONB(astext_type=sa.Text()), nullable=True),
    sa.Column('contract_id', sa.Uuid(), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_applications_region_kato'), 'applications', ['region_kato'], unique=False)
    op.create_table('application_members',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('application_id', sa.Uuid(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('iin', sa.String(length=12), nullable=False),
    sa.Column('full_name', sa.String(length=200), nullable=False),
    sa.Column('birth_date', sa.Date(), nullable=False),
    sa.Column('sex', sa.String(length=6), nullable=False),
    sa.Column('relation', sa.String(length=12), nullable=False),
    sa.Column('phone', sa.String(length=20), nullable=True),
    sa.Column('employed', sa.Boolean(), nullable=False),
    sa.Column('full_time_student', sa.Boolean(), nullable=False),
    sa.Column('disability_group', sa.Integer(), nullable=True),
    sa.Column('carer', sa.Boolean(), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(['application_id'], ['applications.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_application_members_application_id'), 'application_members', ['application_id'], unique=False)
    op.create_index('uq_member_active_iin', 'application_members', ['iin'], unique=True, postgresql_where=sa.text('active'))
    op.create_table('status_changes',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('application_id', sa.Uuid(), nullable=False),
    sa.Column('status', sa.String(length=30), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('event_id', sa.Uuid(), nullable=True),
    sa.Column('detail', postgresql.JSONB(astext_type=sa.Text()), nullable=True),
    sa.ForeignKeyConstraint(['application_id'], ['applications.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_status_changes_application_id'), 'status_changes', ['application_id'], unique=False)


def downgrade() -> None:
    drop_plumbing_tables()
    op.drop_index(op.f('ix_status_changes_application_id'), table_name='status_changes')
    op.drop_table('status_changes')
    op.drop_index('uq_member_active_iin', table_name='application_members', postgresql_where=sa.text('active'))
    op.drop_index(op.f('ix_application_members_application_id'), table_name='application_members')
    op.drop_table('application_members')
    op.drop_index(op.f('ix_applications_region_kato'), table_name='applications')
    op.drop_table('applications')
