"""operations: the reconciliation sweep's re-drives and the dead letters an operator replays

Revision ID: 0002_operations
Revises: 0001
Create Date: 2026-12-05 10:00:00
"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

revision = '0002_operations'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'redrives',
        sa.Column('application_id', sa.Uuid(), nullable=False),
        sa.Column('status', sa.String(length=30), nullable=False),
        sa.Column('owner', sa.String(length=40), nullable=False),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('max_attempts', sa.Integer(), nullable=False),
        sa.Column('first_requested_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('last_requested_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('application_id', 'status'),
    )
    op.create_table(
        'dead_letters',
        sa.Column('event_id', sa.Uuid(), nullable=False),
        sa.Column('failed_in', sa.String(length=40), nullable=False),
        sa.Column('event_type', sa.String(length=100), nullable=False),
        sa.Column('key', sa.String(length=200), nullable=False),
        sa.Column('original_topic', sa.String(length=200), nullable=False),
        sa.Column('error', sa.Text(), nullable=False),
        sa.Column('first_seen_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('last_seen_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('times', sa.Integer(), nullable=False),
        sa.Column('envelope', postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column('replayed_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('replay_id', sa.String(length=40), nullable=True),
        sa.Column('replays', sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint('event_id', 'failed_in'),
    )
    op.create_index(op.f('ix_dead_letters_event_type'), 'dead_letters', ['event_type'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_dead_letters_event_type'), table_name='dead_letters')
    op.drop_table('dead_letters')
    op.drop_table('redrives')
