"""monthly releases: payment orders per component, bank batches, anomalies, parked contract facts

Revision ID: 0003_payment_orders
Revises: 0002_payment_family
Create Date: 2026-11-30 19:00:00
"""
from alembic import op
import sqlalchemy as sa

revision = '0003_payment_orders'
down_revision = '0002_payment_family'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('assignments', sa.Column('terminated_on', sa.Date(), nullable=True))
    # A month is planned until its release makes its orders.
    op.execute("UPDATE payments SET status = 'planned' WHERE status = 'scheduled'")
    op.create_table('payment_orders',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('payment_id', sa.Uuid(), nullable=False),
    sa.Column('application_id', sa.Uuid(), nullable=False),
    sa.Column('decision_id', sa.Uuid(), nullable=False),
    sa.Column('month', sa.String(length=7), nullable=False),
    sa.Column('component', sa.String(length=20), nullable=False),
    sa.Column('amount', sa.BigInteger(), nullable=False),
    sa.Column('bank_iban', sa.String(length=34), nullable=False),
    sa.Column('bank_code', sa.String(length=11), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('batch_id', sa.Uuid(), nullable=True),
    sa.Column('reissue_of', sa.Uuid(), nullable=True),
    sa.Column('reason', sa.String(length=500), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('reissue_of', name='uq_payment_order_reissue_of'),
    )
    op.create_index('uq_payment_order_live', 'payment_orders', ['payment_id', 'component'], unique=True,
                    postgresql_where=sa.text("status <> 'failed'"))
    op.create_index('ix_payment_orders_bank_month', 'payment_orders', ['bank_code', 'month'])
    op.create_index(op.f('ix_payment_orders_payment_id'), 'payment_orders', ['payment_id'])
    op.create_index(op.f('ix_payment_orders_application_id'), 'payment_orders', ['application_id'])
    op.create_index(op.f('ix_payment_orders_status'), 'payment_orders', ['status'])
    op.create_index(op.f('ix_payment_orders_batch_id'), 'payment_orders', ['batch_id'])
    op.create_table('payment_batches',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('bank_code', sa.String(length=11), nullable=False),
    sa.Column('month', sa.String(length=7), nullable=False),
    sa.Column('count', sa.Integer(), nullable=False),
    sa.Column('total', sa.BigInteger(), nullable=False),
    sa.Column('checksum', sa.String(length=64), nullable=False),
    sa.Column('released_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('acknowledged_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    )
    op.create_index(op.f('ix_payment_batches_bank_code'), 'payment_batches', ['bank_code'])
    op.create_table('payment_anomalies',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('kind', sa.String(length=40), nullable=False),
    sa.Column('bank_code', sa.String(length=11), nullable=True),
    sa.Column('month', sa.String(length=7), nullable=True),
    sa.Column('order_id', sa.Uuid(), nullable=True),
    sa.Column('amount', sa.BigInteger(), nullable=True),
    sa.Column('detail', sa.String(length=500), nullable=False),
    sa.Column('detected_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    )
    op.create_index(op.f('ix_payment_anomalies_month'), 'payment_anomalies', ['month'])
    op.create_table('contract_facts',
    sa.Column('application_id', sa.Uuid(), nullable=False),
    sa.Column('signed_decision_id', sa.Uuid(), nullable=True),
    sa.Column('terminated_on', sa.Date(), nullable=True),
    sa.PrimaryKeyConstraint('application_id'),
    )


def downgrade() -> None:
    op.drop_table('contract_facts')
    op.drop_table('payment_anomalies')
    op.drop_table('payment_batches')
    op.drop_table('payment_orders')
    op.execute("UPDATE payments SET status = 'scheduled' WHERE status = 'planned'")
    op.drop_column('assignments', 'terminated_on')
