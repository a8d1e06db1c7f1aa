"""the contract's lifecycle (issue 11): a signing deadline, the period's end, measures and
breaches, and how the contract ended (lapsed, terminated, completed)

Revision ID: 0003_contract_lifecycle
Revises: 0002_contract_family
Create Date: 2026-11-30 19:30:00
"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

revision = '0003_contract_lifecycle'
down_revision = '0002_contract_family'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Contracts drafted before have no deadline (they never lapse by themselves) and no period
    # end (they are not completed by the sweep); a case worker still records measures on them.
    op.add_column('social_contracts', sa.Column('sign_by', sa.DateTime(timezone=True), nullable=True))
    op.add_column('social_contracts', sa.Column('ends_on', sa.Date(), nullable=True))
    op.add_column('social_contracts', sa.Column('measures', postgresql.JSONB(astext_type=sa.Text()),
                                                server_default=sa.text("'[]'::jsonb"), nullable=False))
    op.add_column('social_contracts', sa.Column('breaches', postgresql.JSONB(astext_type=sa.Text()),
                                                server_default=sa.text("'[]'::jsonb"), nullable=False))
    op.add_column('social_contracts', sa.Column('lapsed_at', sa.DateTime(timezone=True), nullable=True))
    op.add_column('social_contracts', sa.Column('terminated_on', sa.Date(), nullable=True))
    op.add_column('social_contracts', sa.Column('termination_breach_id', sa.Uuid(), nullable=True))
    op.add_column('social_contracts', sa.Column('termination_reason', sa.String(length=20), nullable=True))
    op.add_column('social_contracts', sa.Column('completed_on', sa.Date(), nullable=True))
    op.create_index('ix_social_contracts_status_sign_by', 'social_contracts', ['status', 'sign_by'])
    op.create_index('ix_social_contracts_status_ends_on', 'social_contracts', ['status', 'ends_on'])


def downgrade() -> None:
    op.drop_index('ix_social_contracts_status_ends_on', table_name='social_contracts')
    op.drop_index('ix_social_contracts_status_sign_by', table_name='social_contracts')
    for column in ('completed_on', 'termination_reason', 'termination_breach_id', 'terminated_on', 'lapsed_at',
                   'breaches', 'measures', 'ends_on', 'sign_by'):
        op.drop_column('social_contracts', column)
