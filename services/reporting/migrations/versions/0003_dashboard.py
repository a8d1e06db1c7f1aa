"""dashboard: quarters, amounts, social statuses and consent per application; contracts,
payments scheduled, payment orders reported and FDC invitations (issue 13)

Revision ID: 0003_dashboard
Revises: 0002_operations
Create Date: 2026-11-30 21:30:00
"""
from alembic import op
import sqlalchemy as sa

revision = '0003_dashboard'
down_revision = '0002_operations'
branch_labels = None
depends_on = None

_COUNTS = ('children', 'employed', 'carers', 'students', 'unemployed', 'other_status')
_CONSENT = ('consent_requested', 'consent_granted', 'consent_refused', 'consent_expired', 'consent_withdrawn')


def _flag(name: str) -> sa.Column:
    return sa.Column(name, sa.Boolean(), server_default=sa.false(), nullable=False)


def upgrade() -> None:
    op.add_column('application_facts', sa.Column('quarter', sa.String(length=7), nullable=True))
    op.create_index(op.f('ix_application_facts_quarter'), 'application_facts', ['quarter'], unique=False)
    op.add_column('application_facts', sa.Column('assigned_total', sa.BigInteger(), server_default=sa.text('0'),
                                                 nullable=False))
    for name in _COUNTS:
        op.add_column('application_facts', sa.Column(name, sa.Integer(), server_default=sa.text('0'), nullable=False))
    for name in _CONSENT:
        op.add_column('application_facts', _flag(name))
    op.add_column('application_facts', sa.Column('last_event_at', sa.DateTime(timezone=True), nullable=True))

    op.create_table(
        'contract_facts',
        sa.Column('contract_id', sa.Uuid(), nullable=False),
        sa.Column('application_id', sa.Uuid(), nullable=False),
        _flag('drafted'), _flag('signed'), _flag('lapsed'), _flag('terminated'), _flag('completed'),
        sa.Column('last_event_at', sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint('contract_id'),
    )
    op.create_index(op.f('ix_contract_facts_application_id'), 'contract_facts', ['application_id'], unique=False)
    op.create_table(
        'contract_measures',
        sa.Column('contract_id', sa.Uuid(), nullable=False),
        sa.Column('measure', sa.String(length=40), nullable=False),
        sa.Column('count', sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint('contract_id', 'measure'),
    )
    op.create_table(
        'payment_facts',
        sa.Column('payment_id', sa.Uuid(), nullable=False),
        sa.Column('application_id', sa.Uuid(), nullable=False),
        sa.Column('bank_code', sa.String(length=20), nullable=False),
        sa.Column('month', sa.String(length=7), nullable=False),
        sa.Column('total', sa.BigInteger(), nullable=False),
        sa.Column('last_event_at', sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint('payment_id'),
    )
    op.create_index(op.f('ix_payment_facts_application_id'), 'payment_facts', ['application_id'], unique=False)
    op.create_table(
        'payment_orders',
        sa.Column('order_id', sa.Uuid(), nullable=False),
        sa.Column('application_id', sa.Uuid(), nullable=False),
        sa.Column('bank_code', sa.String(length=20), nullable=False),
        sa.Column('month', sa.String(length=7), nullable=False),
        sa.Column('amount', sa.BigInteger(), nullable=False),
        _flag('settled'), _flag('failed'),
        sa.Column('last_event_at', sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint('order_id'),
    )
    op.create_index(op.f('ix_payment_orders_application_id'), 'payment_orders', ['application_id'], unique=False)
    op.create_table(
        'invitation_facts',
        sa.Column('invitation_id', sa.Uuid(), nullable=False),
        sa.Column('quarter', sa.String(length=7), nullable=True),
        sa.Column('region_kato', sa.String(length=9), nullable=True),
        sa.Column('settlement', sa.String(length=10), nullable=True),
        sa.Column('channel', sa.String(length=20), nullable=True),
        _flag('issued'),
        sa.Column('application_id', sa.Uuid(), nullable=True),
        sa.Column('last_event_at', sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint('invitation_id'),
    )
    op.create_index(op.f('ix_invitation_facts_application_id'), 'invitation_facts', ['application_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_invitation_facts_application_id'), table_name='invitation_facts')
    op.drop_table('invitation_facts')
    op.drop_index(op.f('ix_payment_orders_application_id'), table_name='payment_orders')
    op.drop_table('payment_orders')
    op.drop_index(op.f('ix_payment_facts_application_id'), table_name='payment_facts')
    op.drop_table('payment_facts')
    op.drop_table('contract_measures')
    op.drop_index(op.f('ix_contract_facts_application_id'), table_name='contract_facts')
    op.drop_table('contract_facts')
    op.drop_column('application_facts', 'last_event_at')
    for name in reversed(_CONSENT + _COUNTS):
        op.drop_column('application_facts', name)
    op.drop_column('application_facts', 'assigned_total')
    op.drop_index(op.f('ix_application_facts_quarter'), table_name='application_facts')
    op.drop_column('application_facts', 'quarter')
