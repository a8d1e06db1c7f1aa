"""What every service's Alembic `env.py` runs: async migrations over asyncpg."""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy import MetaData, pool
from sqlalchemy.ext.asyncio import create_async_engine


def run_alembic_env(service_metadata: MetaData) -> None:
    """The service's own tables plus the plumbing every service has (outbox, inbox,
    idempotency keys), so autogenerate sees both."""
    import shared.idempotency  # noqa: F401  (registers its table)
    from shared.outbox import plumbing_metadata

    target_metadata = [service_metadata, plumbing_metadata]
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
