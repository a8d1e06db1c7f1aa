"""the expense check (issue 10): each application's consent and bank requests, and evidence that
keeps purchases, expense facts, consent records and the banks' answers

Revision ID: 0004_expense_check
Revises: 0003_waiting_applications
Create Date: 2026-11-30 19:00:00
"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

revision = '0004_expense_check'
down_revision = '0003_waiting_applications'
branch_labels = None
depends_on = None


def upgrade() -> None:
    for column in ('purchases', 'consents', 'bank_answers'):
        op.add_column('evidence', sa.Column(column, postgresql.JSONB(), server_default='[]', nullable=False))
    op.add_column('evidence', sa.Column('expenses', postgresql.JSONB(), nullable=True))
    op.create_table(
        'expense_checks',
        sa.Column('application_id', sa.Uuid(), nullable=False),
        sa.Column('submitted_event', postgresql.JSONB(), nullable=False),
        sa.Column('consent_required', sa.Boolean(), nullable=False),
        sa.Column('family_consent', sa.String(length=10), nullable=False),
        sa.Column('consents', postgresql.JSONB(), nullable=False),
        sa.Column('gathered', postgresql.JSONB(), nullable=True),
        sa.Column('banks_asked_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('bank_deadline', sa.DateTime(timezone=True), nullable=True),
        sa.Column('overdue_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('frozen', sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint('application_id'),
    )
    op.create_index('ix_expense_checks_deadline', 'expense_checks', ['bank_deadline'],
                    postgresql_where=sa.text('NOT frozen AND overdue_at IS NULL'))
    op.create_table(
        'bank_requests',
        sa.Column('id', sa.Uuid(), nullable=False),
        sa.Column('application_id', sa.Uuid(), nullable=False),
        sa.Column('bank_code', sa.String(length=11), nullable=False),
        sa.Column('iin', sa.String(length=12), nullable=False),
        sa.Column('quarter', sa.String(length=7), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('acknowledged_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('next_attempt_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('last_error', sa.String(length=500), nullable=True),
        sa.Column('answered_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('answer', postgresql.JSONB(), nullable=True),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('application_id', 'bank_code', 'iin'),
    )
    op.create_index('ix_bank_requests_application_id', 'bank_requests', ['application_id'])
    op.create_index('ix_bank_requests_to_send', 'bank_requests', ['next_attempt_at'],
                    postgresql_where=sa.text('acknowledged_at IS NULL'))


def downgrade() -> None:
    op.drop_index('ix_bank_requests_to_send', table_name='bank_requests')
    op.drop_index('ix_bank_requests_application_id', table_name='bank_requests')
    op.drop_table('bank_requests')
    op.drop_index('ix_expense_checks_deadline', table_name='expense_checks')
    op.drop_table('expense_checks')
    for column in ('expenses', 'bank_answers', 'consents', 'purchases'):
        op.drop_column('evidence', column)
