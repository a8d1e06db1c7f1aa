"""FDC invitations: the families the Family Digital Card flagged and intake invited to apply, and
who each names (one invitation a person and quarter)

Revision ID: 0005_fdc_invitations
Revises: 0004_consent
Create Date: 2026-12-07 10:00:00
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = '0005_fdc_invitations'
down_revision = '0004_consent'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'fdc_invitations',
        sa.Column('id', sa.Uuid(), nullable=False),
        sa.Column('reference', sa.String(length=64), nullable=False),
        sa.Column('quarter', sa.String(length=7), nullable=False),
        sa.Column('assessment_quarter', sa.String(length=7), nullable=False),
        sa.Column('region_kato', sa.String(length=9), nullable=False),
        sa.Column('settlement', sa.String(length=10), nullable=False),
        sa.Column('category', sa.String(length=10), nullable=True),
        sa.Column('channel', sa.String(length=20), nullable=False),
        sa.Column('phone', sa.String(length=20), nullable=False),
        sa.Column('applicant_iin', sa.String(length=12), nullable=False),
        sa.Column('member_iins', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column('monthly_estimate', sa.Integer(), nullable=True),
        sa.Column('status', sa.String(length=12), nullable=False),
        sa.Column('invited_by', sa.String(length=100), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('expires_on', sa.Date(), nullable=False),
        sa.Column('sms_sent_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('sms_message_id', sa.String(length=100), nullable=True),
        sa.Column('sms_refused_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('application_id', sa.Uuid(), nullable=True),
        sa.Column('applied_at', sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(['application_id'], ['applications.id']),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index(op.f('ix_fdc_invitations_application_id'), 'fdc_invitations', ['application_id'], unique=False)
    op.create_index('ix_fdc_invitations_quarter_region', 'fdc_invitations', ['quarter', 'region_kato'], unique=False)
    op.create_index('ix_fdc_invitations_unsent', 'fdc_invitations', ['created_at'], unique=False,
                    postgresql_where=sa.text('sms_sent_at IS NULL'))
    op.create_table(
        'fdc_invited_members',
        sa.Column('quarter', sa.String(length=7), nullable=False),
        sa.Column('iin', sa.String(length=12), nullable=False),
        sa.Column('invitation_id', sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(['invitation_id'], ['fdc_invitations.id']),
        sa.PrimaryKeyConstraint('quarter', 'iin'),
    )
    op.create_index(op.f('ix_fdc_invited_members_iin'), 'fdc_invited_members', ['iin'], unique=False)
    op.create_index(op.f('ix_fdc_invited_members_invitation_id'), 'fdc_invited_members', ['invitation_id'],
                    unique=False)


def downgrade() -> None:
    op.drop_table('fdc_invited_members')
    op.drop_table('fdc_invitations')
