"""The relay is woken once per transaction that writes events (PostgreSQL delivers one
notification for identical ones anyway), and still woken when the first event's savepoint was
rolled back: the notification went with it, so the next event sends it again."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest
from sqlalchemy import event, select

from shared.db import asyncpg_dsn, drop_database, ensure_database, make_engine, make_sessionmaker
from shared.outbox import OUTBOX_CHANNEL, outbox, plumbing_metadata, record_event
from tests.support import decided_event, eventually


@pytest.fixture
async def database(postgres, db_prefix):
    url = postgres.url(f"{db_prefix}_outbox_notify")
    await drop_database(url)
    await ensure_database(url)
    engine = make_engine(url)
    async with engine.begin() as conn:
        await conn.run_sync(plumbing_metadata.create_all)
    listener = await asyncpg.connect(asyncpg_dsn(url))
    notified: list[str] = []
    await listener.add_listener(OUTBOX_CHANNEL, lambda *args: notified.append(args[2]))
    notifies: list[str] = []
    event.listen(engine.sync_engine, "before_cursor_execute",
                 lambda conn, cursor, statement, *rest: notifies.append(statement) if "pg_notify" in statement else None)
    try:
        yield make_sessionmaker(engine), notified, notifies
    finally:
        await listener.close()
        await engine.dispose()
        await drop_database(url)


async def test_one_notification_per_transaction_of_events(database) -> None:
    sessionmaker, notified, notifies = database
    async with sessionmaker() as session, session.begin():
        for _ in range(3):
            await record_event(session, "topic", decided_event())
    assert len(notifies) == 1
    assert await eventually(lambda: asyncio.sleep(0, notified == [OUTBOX_CHANNEL]))
    async with sessionmaker() as session, session.begin():  # the next transaction notifies again
        await record_event(session, "topic", decided_event())
    assert len(notifies) == 2
    assert await eventually(lambda: asyncio.sleep(0, len(notified) == 2))
    async with sessionmaker() as session:
        assert len((await session.execute(select(outbox.c.seq))).all()) == 4


async def test_an_event_after_a_rolled_back_savepoint_still_wakes_the_relay(database) -> None:
    sessionmaker, notified, notifies = database
    kept = decided_event()
    async with sessionmaker() as session, session.begin():
        savepoint = await session.begin_nested()
        await record_event(session, "topic", decided_event())
        await savepoint.rollback()  # the event and its notification are gone
        await record_event(session, "topic", kept)
    assert len(notifies) == 2
    assert await eventually(lambda: asyncio.sleep(0, notified == [OUTBOX_CHANNEL]))
    async with sessionmaker() as session:
        assert (await session.execute(select(outbox.c.event_id))).scalars().all() == [kept.id]
