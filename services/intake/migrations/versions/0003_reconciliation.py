"""the reconciliation sweep: re-drives of stuck applications, and the index it searches by

Revision ID: 0003_reconciliation
Revises: 0002_intake_reference_data
Create Date: 2026-12-05 10:00:00
"""
from alembic import op
import sqlalchemy as sa

revision = '0003_reconciliation'
down_revision = '0002_intake_reference_data'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index('ix_applications_status_updated_at', 'applications', ['status', 'updated_at'], unique=False)
    op.create_table(
        'redrives',
        sa.Column('application_id', sa.Uuid(), nullable=False),
        sa.Column('status', sa.String(length=30), nullable=False),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('first_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('last_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('next_due_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['application_id'], ['applications.id']),
        sa.PrimaryKeyConstraint('application_id', 'status'),
    )


def downgrade() -> None:
    op.drop_table('redrives')
    op.drop_index('ix_applications_status_updated_at', table_name='applications')
