"""Each service's Alembic migrations build exactly the schema its models describe."""

from __future__ import annotations

import asyncio
import importlib

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.ext.asyncio import create_async_engine

import shared.idempotency  # noqa: F401
from shared.db import drop_database, ensure_database, migrate
from shared.outbox import plumbing_metadata

SERVICES = ("intake", "verification", "eligibility", "contracts", "payments", "reporting", "gateway")


@pytest.mark.parametrize("name", SERVICES)
async def test_migrations_match_models(name, postgres, db_prefix):
    url = postgres.url(f"{db_prefix}_migrations_{name}")
    await drop_database(url)
    await ensure_database(url)
    package = "gateway" if name == "gateway" else f"services.{name}"
    main = importlib.import_module(f"{package}.main")
    models = importlib.import_module(f"{package}.models")
    targets = [models.Base.metadata] if name == "gateway" else [models.Base.metadata, plumbing_metadata]
    await asyncio.to_thread(migrate, url, main.MIGRATIONS_DIR)
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            diff = await conn.run_sync(lambda sync: compare_metadata(
                MigrationContext.configure(sync, opts={"compare_type": True}),
                targets))
    finally:
        await engine.dispose()
        await drop_database(url)
    assert diff == []
