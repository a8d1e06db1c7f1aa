"""applications waiting for an external system that is down (issue 9: outages are waited out)

Revision ID: 0003_waiting_applications
Revises: 0002_evidence_region
Create Date: 2026-12-05 10:00:00
"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

revision = '0003_waiting_applications'
down_revision = '0002_evidence_region'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'waiting_applications',
        sa.Column('application_id', sa.Uuid(), nullable=False),
        sa.Column('submitted_event', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column('system', sa.String(length=40), nullable=False),
        sa.Column('since', sa.DateTime(timezone=True), nullable=False),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('next_attempt_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('last_error', sa.String(length=500), nullable=False),
        sa.PrimaryKeyConstraint('application_id'),
    )
    op.create_index('ix_waiting_applications_due', 'waiting_applications', ['next_attempt_at'], unique=False)
    op.create_index(op.f('ix_waiting_applications_system'), 'waiting_applications', ['system'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_waiting_applications_system'), table_name='waiting_applications')
    op.drop_index('ix_waiting_applications_due', table_name='waiting_applications')
    op.drop_table('waiting_applications')
