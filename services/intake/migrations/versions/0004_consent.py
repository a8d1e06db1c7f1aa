"""consent to the expense check: one request per adult member, the days the government decrees
(non-)working, and the replica of `consent_required` as eligibility ships it (true from
2024-01-01, recorded 2023-12-01)

Revision ID: 0004_consent
Revises: 0003_reconciliation
Create Date: 2026-12-06 10:00:00
"""
import uuid
from datetime import date, datetime, timezone

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = '0004_consent'
down_revision = '0003_reconciliation'
branch_labels = None
depends_on = None

# A fixed id: the seeded value is one record, whichever database it is seeded into.
SHIPPED_CONSENT_REQUIRED_ID = uuid.UUID("0190a1b2-0000-7000-8000-0000000c0257")
SHIPPED_AT = datetime(2023, 12, 1, tzinfo=timezone.utc)


def upgrade() -> None:
    op.create_table(
        'consent_requests',
        sa.Column('id', sa.Uuid(), nullable=False),
        sa.Column('application_id', sa.Uuid(), nullable=False),
        sa.Column('iin', sa.String(length=12), nullable=False),
        sa.Column('phone', sa.String(length=20), nullable=True),
        sa.Column('purpose', sa.String(length=40), nullable=False),
        sa.Column('data_categories', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column('assessment_quarter', sa.String(length=7), nullable=False),
        sa.Column('controller', sa.Text(), nullable=False),
        sa.Column('legal_basis', sa.Text(), nullable=False),
        sa.Column('banks', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column('method', sa.String(length=10), nullable=False),
        sa.Column('status', sa.String(length=10), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('requested_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('expires_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('answered_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('answered_via', sa.String(length=6), nullable=True),
        sa.Column('withdrawn_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('code_salt', sa.String(length=32), nullable=True),
        sa.Column('code_hash', sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(['application_id'], ['applications.id']),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('application_id', 'iin', name='uq_consent_request_member'),
    )
    op.create_index(op.f('ix_consent_requests_application_id'), 'consent_requests', ['application_id'], unique=False)
    op.create_index(op.f('ix_consent_requests_phone'), 'consent_requests', ['phone'], unique=False)
    op.create_index('ix_consent_requests_open_expires_at', 'consent_requests', ['expires_at'], unique=False,
                    postgresql_where=sa.text("status = 'requested'"))
    op.create_index('ix_consent_requests_unsent', 'consent_requests', ['created_at'], unique=False,
                    postgresql_where=sa.text("status = 'requested' AND requested_at IS NULL AND method = 'sms_1414'"))
    op.create_table(
        'business_day_decrees',
        sa.Column('day', sa.Date(), nullable=False),
        sa.Column('working', sa.Boolean(), nullable=False),
        sa.Column('reason', sa.String(length=300), nullable=False),
        sa.Column('decreed_by', sa.String(length=100), nullable=False),
        sa.Column('decreed_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('day'),
    )
    replica = sa.table('parameter_replica', sa.column('parameter_id', sa.Uuid()), sa.column('name', sa.String()),
                       sa.column('region_kato', sa.String()), sa.column('valid_from', sa.Date()),
                       sa.column('valid_to', sa.Date()), sa.column('value', postgresql.JSONB()),
                       sa.column('recorded_at', sa.DateTime(timezone=True)))
    op.bulk_insert(replica, [{"parameter_id": SHIPPED_CONSENT_REQUIRED_ID, "name": "consent_required",
                              "region_kato": None, "valid_from": date(2024, 1, 1), "valid_to": None, "value": True,
                              "recorded_at": SHIPPED_AT}])


def downgrade() -> None:
    op.execute(sa.text("DELETE FROM parameter_replica WHERE parameter_id = :id").bindparams(
        id=SHIPPED_CONSENT_REQUIRED_ID))
    op.drop_table('business_day_decrees')
    op.drop_index('ix_consent_requests_unsent', table_name='consent_requests',
                  postgresql_where=sa.text("status = 'requested' AND requested_at IS NULL AND method = 'sms_1414'"))
    op.drop_index('ix_consent_requests_open_expires_at', table_name='consent_requests',
                  postgresql_where=sa.text("status = 'requested'"))
    op.drop_index(op.f('ix_consent_requests_phone'), table_name='consent_requests')
    op.drop_index(op.f('ix_consent_requests_application_id'), table_name='consent_requests')
    op.drop_table('consent_requests')
