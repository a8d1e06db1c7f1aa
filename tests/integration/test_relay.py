"""The outbox relay publishes on notification, not on a timer: with its polls set to an hour, a
committed event is still published, and so is one committed after the relay's listening
connection was cut (the relay notices the loss and listens again)."""

from __future__ import annotations

import asyncio
import contextlib
import uuid

import asyncpg
from sqlalchemy import select

from shared.db import asyncpg_dsn, drop_database, ensure_database, make_engine, make_sessionmaker
from shared.kafka import ensure_topics, make_producer
from shared.outbox import outbox, plumbing_metadata, record_event
from shared.relay import OutboxRelay
from tests.support import decided_event, eventually

AN_HOUR = 3600.0


async def test_the_relay_publishes_on_notification_and_listens_again_after_losing_its_connection(
        postgres, db_prefix, broker) -> None:
    url = postgres.url(f"{db_prefix}_relay")
    await drop_database(url)
    await ensure_database(url)
    engine = make_engine(url)
    async with engine.begin() as conn:
        await conn.run_sync(plumbing_metadata.create_all)
    sessionmaker = make_sessionmaker(engine)
    topic = f"relay-{uuid.uuid4().hex[:8]}"
    await ensure_topics(broker.bootstrap, 1, (topic,))
    relay = OutboxRelay(service="test", database_url=url, sessionmaker=sessionmaker,
                        producer_factory=lambda: make_producer(broker.bootstrap, "test-relay"),
                        poll_interval=AN_HOUR, listen_poll_interval=AN_HOUR, listen_retry_interval=0.0)
    running = asyncio.create_task(relay.run())

    async def commit_event() -> uuid.UUID:
        envelope = decided_event()
        async with sessionmaker() as session, session.begin():
            await record_event(session, topic, envelope)
        return envelope.id

    async def published(event_id: uuid.UUID) -> bool:
        async with sessionmaker() as session:
            sent_at = (await session.execute(
                select(outbox.c.published_at).where(outbox.c.event_id == event_id))).scalar_one()
        return sent_at is not None

    try:
        await eventually(lambda: asyncio.sleep(0, relay.listening))
        first = await commit_event()
        assert await eventually(lambda: published(first))

        cut = relay._listener.get_server_pid()
        admin = await asyncpg.connect(asyncpg_dsn(postgres.url("postgres")))
        try:
            assert await admin.fetchval("SELECT pg_terminate_backend($1)", cut)
        finally:
            await admin.close()
        await eventually(lambda: asyncio.sleep(0, relay.listening and relay._listener.get_server_pid() != cut))

        second = await commit_event()
        assert await eventually(lambda: published(second))
    finally:
        running.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await running
        await engine.dispose()
        await drop_database(url)
