"""Database bootstrap: engine, sessions, creating a service's database and migrating it."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import asyncpg
import orjson
from sqlalchemy import BindParameter, bindparam, event
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.engine import make_url


def json_dumps(value: Any) -> str:
    """JSON/JSONB columns written with orjson (about ten times faster than the standard library's
    encoder; every outbox row, decision and evidence is such a column). Keys that are not strings
    are written as strings, as json.dumps does."""
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()


# A pooled connection idle longer than this is pinged before it is handed out; one used more
# recently is trusted (a ping is a round trip, and a busy service checks out a connection for
# every transaction). If the server went away meanwhile, the first statement fails as a
# disconnect: the pool then drops every connection it holds, the request is answered 503 and a
# consumer's batch is tried again — one failure per process, not one per connection.
PING_AFTER_IDLE_SECONDS = 1.0


def make_engine(url: str, *, pool_size: int = 10, ping_after_idle: float = PING_AFTER_IDLE_SECONDS,
                clock: Callable[[], float] = time.monotonic) -> AsyncEngine:
    # hide_parameters: a statement's values (names, IINs, birth dates) never reach an exception
    # message, and so never a log line.
    engine = create_async_engine(url, pool_size=pool_size, max_overflow=10, hide_parameters=True,
                                 json_serializer=json_dumps, json_deserializer=orjson.loads)
    pool = engine.sync_engine.pool

    @event.listens_for(pool, "checkin")
    def _idle_from(dbapi_connection: Any, record: Any) -> None:
        record.info["idle_since"] = clock()

    @event.listens_for(pool, "checkout")
    def _ping_if_idle(dbapi_connection: Any, record: Any, proxy: Any) -> None:
        since = record.info.pop("idle_since", None)
        if since is not None and clock() - since <= ping_after_idle:
            return
        try:
            dbapi_connection.ping()
        except Exception as exc:  # noqa: BLE001 - any failure: the pool connects anew
            raise DisconnectionError("the pooled connection did not answer a ping") from exc

    return engine


def bound(*names: str) -> dict[str, BindParameter]:
    """`{name: bindparam(name)}` for each column name: the VALUES (or SET) of a statement built
    once and executed with parameter dicts, as the services' hot paths are."""
    return {name: bindparam(name) for name in names}


def make_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


def asyncpg_dsn(url: str) -> str:
    """The same URL as asyncpg takes it (no `+asyncpg` driver suffix)."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


async def ensure_database(url: str) -> None:
    """Create the database named in `url` if it does not exist yet."""
    target = make_url(url)
    admin = asyncpg_dsn(target.set(database="postgres").render_as_string(hide_password=False))
    conn = await asyncpg.connect(admin)
    try:
        exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", target.database)
        if not exists:
            await conn.execute(f'CREATE DATABASE "{target.database}"')
    finally:
        await conn.close()


async def drop_database(url: str) -> None:
    target = make_url(url)
    admin = asyncpg_dsn(target.set(database="postgres").render_as_string(hide_password=False))
    conn = await asyncpg.connect(admin)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{target.database}" WITH (FORCE)')
    finally:
        await conn.close()


def migrate(url: str, migrations_dir: Path) -> None:
    """Run Alembic `upgrade head` for one service (its `migrations/` folder)."""
    from alembic import command
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(migrations_dir))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    command.upgrade(cfg, "head")
