"""contracts know their family: the members may read a contract, only the applicant signs it; the
signer is the citizen and the portal relays

Revision ID: 0002_contract_family
Revises: 0001
Create Date: 2026-11-30 15:00:00
"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

revision = '0002_contract_family'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Contracts drafted before have no family on record: no citizen sees or signs them (case
    # workers of their region still do).
    op.add_column('social_contracts', sa.Column('signed_via', sa.String(length=100), nullable=True))
    op.add_column('social_contracts', sa.Column('applicant_iin', sa.String(length=12), nullable=True))
    op.add_column('social_contracts', sa.Column('member_iins', postgresql.ARRAY(sa.String(length=12)),
                                                server_default=sa.text("'{}'"), nullable=False))
    op.create_index('ix_social_contracts_member_iins', 'social_contracts', ['member_iins'], unique=False,
                    postgresql_using='gin')


def downgrade() -> None:
    op.drop_index('ix_social_contracts_member_iins', table_name='social_contracts', postgresql_using='gin')
    op.drop_column('social_contracts', 'member_iins')
    op.drop_column('social_contracts', 'applicant_iin')
    op.drop_column('social_contracts', 'signed_via')
