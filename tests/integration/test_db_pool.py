"""The pool pings a connection only when it has been idle for a while (shared.db.make_engine):
a connection used a moment ago is trusted — one round trip less per transaction — and when the
server dropped it meanwhile, that costs one failed statement, after which the pool holds no
connection from before."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from shared.db import drop_database, ensure_database, make_engine


async def _backend(engine) -> int:  # noqa: ANN001
    async with engine.connect() as conn:
        return await conn.scalar(text("SELECT pg_backend_pid()"))


async def _terminate(engine, pid: int) -> None:  # noqa: ANN001
    """Ends the server side of a pooled connection, as a PostgreSQL restart would."""
    async with engine.connect() as conn:
        assert await conn.scalar(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})


async def test_a_connection_idle_for_a_while_is_pinged_and_replaced_unseen(postgres, db_prefix) -> None:
    url = postgres.url(f"{db_prefix}_pool_ping")
    await ensure_database(url)
    now = [0.0]
    engine = make_engine(url, pool_size=1, clock=lambda: now[0])
    admin = make_engine(url, pool_size=1)
    try:
        dropped = await _backend(engine)
        await _terminate(admin, dropped)
        now[0] += 5  # idle longer than a second: pinged at checkout, and a new connection taken
        assert await _backend(engine) != dropped
    finally:
        await engine.dispose()
        await admin.dispose()
        await drop_database(url)


async def test_a_connection_used_a_moment_ago_fails_once_then_the_pool_starts_afresh(postgres, db_prefix) -> None:
    url = postgres.url(f"{db_prefix}_pool_trust")
    await ensure_database(url)
    now = [0.0]
    engine = make_engine(url, pool_size=2, clock=lambda: now[0])
    admin = make_engine(url, pool_size=1)
    try:
        # Two pooled connections, both used a moment ago.
        async with engine.connect() as first, engine.connect() as second:
            pids = {await first.scalar(text("SELECT pg_backend_pid()")),
                    await second.scalar(text("SELECT pg_backend_pid()"))}
        for pid in pids:
            await _terminate(admin, pid)
        now[0] += 0.5  # not pinged: the first statement finds the connection gone
        with pytest.raises(DBAPIError) as failed:
            await _backend(engine)
        assert failed.value.connection_invalidated  # answered 503 by the services (shared.errors)
        # The pool dropped every connection from before the failure: the next ones work.
        assert not pids & {await _backend(engine), await _backend(engine)}
    finally:
        await engine.dispose()
        await admin.dispose()
        await drop_database(url)
