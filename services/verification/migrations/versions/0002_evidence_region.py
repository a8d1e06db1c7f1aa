"""evidence keeps the region the family applied in (case workers see their regions' evidence)

Revision ID: 0002_evidence_region
Revises: 0001
Create Date: 2026-11-30 15:00:00
"""
from alembic import op
import sqlalchemy as sa

revision = '0002_evidence_region'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Nullable: evidence gathered before has no region on record, and no case worker sees it
    # (its family still does).
    op.add_column('evidence', sa.Column('region_kato', sa.String(length=9), nullable=True))


def downgrade() -> None:
    op.drop_column('evidence', 'region_kato')
