"""What every service's Alembic `env.py` runs: async migrations over asyncpg."""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy import MetaData, pool
from sqlalchemy.ext.asyncio import create_async_engine


def run_alembic_env(service_metadata: MetaData, *, plumbing: bool = True) -> None:
    """The service's own tables plus (for event-driven services) the plumbing every one of them
    has — outbox, inbox, idempotency keys — so autogenerate sees both."""
    import shared.idempotency  # noqa: F401  (registers its table)
    from shared.outbox import plumbing_metadata

    target_metadata = [service_metadata, plumbing_metadata] if plumbing else [service_metadata]
    config = context.config
    url = config.get_main_option("sqlalchemy.url")

    def do_run(connection) -> None:  # noqa: ANN001
        context.configure(connection=connection, target_metadata=target_metadata, compare_type=True)
        with context.begin_transaction():
            context.run_migrations()

    async def run_async() -> None:
        engine = create_async_engine(url, poolclass=pool.NullPool)
        async with engine.connect() as connection:
            await connection.run_sync(do_run)
        await engine.dispose()

    if context.is_offline_mode():
        context.configure(url=url, target_metadata=target_metadata, literal_binds=True)
        with context.begin_transaction():
            context.run_migrations()
    else:
        asyncio.run(run_async())


def create_plumbing_tables() -> None:
    """The outbox, inbox and idempotency-key tables every service's first migration creates
    (their schema as of revision 0001; later changes get migrations of their own)."""
    from alembic import op
    import sqlalchemy as sa
    from sqlalchemy.dialects import postgresql

    op.create_table('idempotency_keys',
    sa.Column('caller_id', sa.String(length=100), nullable=False),
    sa.Column('key', sa.String(length=200), nullable=False),
    sa.Column('request_hash', sa.String(length=64), nullable=False),
    sa.Column('status_code', sa.Integer(), nullable=True),
    sa.Column('response', postgresql.JSONB(astext_type=sa.Text()), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.PrimaryKeyConstraint('caller_id', 'key')
    )
    op.create_table('inbox',
    sa.Column('event_id', sa.UUID(), nullable=False),
    sa.Column('event_type', sa.String(length=100), nullable=False),
    sa.Column('source', sa.String(length=100), nullable=False),
    sa.Column('key', sa.String(length=200), nullable=False),
    sa.Column('topic', sa.String(length=200), nullable=False),
    sa.Column('partition', sa.Integer(), nullable=False),
    sa.Column('offset', sa.BigInteger(), nullable=False),
    sa.Column('outcome', sa.String(length=20), server_default='handled', nullable=False),
    sa.Column('processed_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.PrimaryKeyConstraint('event_id')
    )
    op.create_table('outbox',
    sa.Column('seq', sa.BigInteger(), sa.Identity(always=False), nullable=False),
    sa.Column('event_id', sa.UUID(), nullable=False),
    sa.Column('topic', sa.String(length=200), nullable=False),
    sa.Column('key', sa.String(length=200), nullable=False),
    sa.Column('event_type', sa.String(length=100), nullable=False),
    sa.Column('envelope', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('headers', postgresql.JSONB(astext_type=sa.Text()), server_default=sa.text("'{}'::jsonb"), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('published_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('attempts', sa.Integer(), server_default=sa.text('0'), nullable=False),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('seq'),
    sa.UniqueConstraint('event_id')
    )
    op.create_index('ix_outbox_pending', 'outbox', ['seq'], unique=False, postgresql_where=sa.text('published_at IS NULL'))


def drop_plumbing_tables() -> None:
    from alembic import op

    op.drop_index("ix_outbox_pending", table_name="outbox", postgresql_where="published_at IS NULL")
    for table in ("outbox", "inbox", "idempotency_keys"):
        op.drop_table(table)
