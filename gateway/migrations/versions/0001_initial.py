"""gateway: callers, signing keys, bank nonces, audit

Revision ID: 0001
Revises: 
Create Date: 2026-11-22 21:10:29.694352
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('audit_records',
    sa.Column('id', sa.BigInteger(), autoincrement=True, nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('caller_id', sa.String(length=64), nullable=True),
    sa.Column('caller_kind', sa.String(length=20), nullable=True),
    sa.Column('method', sa.String(length=10), nullable=False),
    sa.Column('route', sa.String(length=200), nullable=False),
    sa.Column('path', sa.String(length=500), nullable=False),
    sa.Column('service', sa.String(length=20), nullable=True),
    sa.Column('status', sa.SmallInteger(), nullable=False),
    sa.Column('latency_ms', sa.Double(), nullable=False),
    sa.Column('request_id', sa.String(length=128), nullable=False),
    sa.Column('client_ip', sa.String(length=64), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_audit_at', 'audit_records', ['at'], unique=False)
    op.create_index('ix_audit_caller_at', 'audit_records', ['caller_id', 'at'], unique=False)
    op.create_index('ix_audit_request_id', 'audit_records', ['request_id'], unique=False)
    op.create_table('bank_nonces',
    sa.Column('caller_id', sa.String(length=64), nullable=False),
    sa.Column('nonce', sa.String(length=64), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('caller_id', 'nonce')
    )
    op.create_index(op.f('ix_bank_nonces_expires_at'), 'bank_nonces', ['expires_at'], unique=False)
    op.create_table('callers',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('scopes', postgresql.ARRAY(sa.String(length=40)), nullable=False),
    sa.Column('secret_hash', sa.String(length=200), nullable=False),
    sa.Column('credential_version', sa.Integer(), nullable=False),
    sa.Column('enabled', sa.Boolean(), nullable=False),
    sa.Column('bank_code', sa.String(length=11), nullable=True),
    sa.Column('signing_secret_sealed', sa.LargeBinary(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('disabled_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('bank_code')
    )
    op.create_table('signing_keys',
    sa.Column('kid', sa.String(length=64), nullable=False),
    sa.Column('algorithm', sa.String(length=10), nullable=False),
    sa.Column('private_key_sealed', sa.LargeBinary(), nullable=False),
    sa.Column('public_jwk', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('retired_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('verify_until', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('kid')
    )


def downgrade() -> None:
    op.drop_table('signing_keys')
    op.drop_table('callers')
    op.drop_index(op.f('ix_bank_nonces_expires_at'), table_name='bank_nonces')
    op.drop_table('bank_nonces')
    op.drop_index('ix_audit_request_id', table_name='audit_records')
    op.drop_index('ix_audit_caller_at', table_name='audit_records')
    op.drop_index('ix_audit_at', table_name='audit_records')
    op.drop_table('audit_records')
