"""The relay heals by itself (issue 9): whatever the broker did, it never keeps resending with a
producer that cannot recover, it notes each failure on the rows, and it drains the outbox once
the broker is back — without a restart of the service and without flooding the topic."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import uuid
from pathlib import Path

import orjson
from aiokafka import AIOKafkaConsumer
from aiokafka.errors import OutOfOrderSequenceNumber
from sqlalchemy import func, select

from qamqor_cli.infra import free_port, start_broker
from shared.db import drop_database, ensure_database, make_engine, make_sessionmaker
from shared.kafka import ensure_topics, make_producer
from shared.outbox import outbox, plumbing_metadata, record_event
from shared.relay import OutboxRelay, retry_delay
from tests.support import decided_event, eventually


@contextlib.asynccontextmanager
async def outbox_database(postgres, db_prefix, name):  # noqa: ANN001, ANN201
    url = postgres.url(f"{db_prefix}_{name}")
    await drop_database(url)
    await ensure_database(url)
    engine = make_engine(url)
    async with engine.begin() as conn:
        await conn.run_sync(plumbing_metadata.create_all)
    try:
        yield url, make_sessionmaker(engine)
    finally:
        await engine.dispose()
        await drop_database(url)


async def _commit(sessionmaker, topic: str, count: int) -> None:  # noqa: ANN001
    for _ in range(count):
        async with sessionmaker() as session, session.begin():
            await record_event(session, topic, decided_event())


async def _unsent(sessionmaker) -> int:  # noqa: ANN001
    async with sessionmaker() as session:
        return await session.scalar(select(func.count()).select_from(outbox).where(outbox.c.published_at.is_(None)))


async def _messages(bootstrap: str, topic: str, expected: int) -> int:
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=None, auto_offset_reset="earliest",
                                enable_auto_commit=False)
    await consumer.start()
    try:
        seen = 0
        while True:
            batch = await consumer.getmany(timeout_ms=1000)
            if not batch:
                return seen  # a second with nothing more: the log's end
            seen += sum(len(messages) for messages in batch.values())
    finally:
        await consumer.stop()


def test_the_backoff_grows_and_is_bounded() -> None:
    assert [retry_delay(n, jitter=lambda: 1.0) for n in (1, 2, 3, 4, 5, 6, 10)] == [0.5, 1, 2, 4, 8, 10, 10]
    assert [retry_delay(n, jitter=lambda: 0.0) for n in (1, 2, 6)] == [0.25, 0.5, 5]


async def test_a_producer_that_cannot_recover_is_replaced(postgres, db_prefix, broker) -> None:
    """An idempotent producer that has lost its sequence numbers answers every send with
    OutOfOrderSequenceNumber; the relay notes the failure on the rows and builds a new one."""
    topic = f"heal-{uuid.uuid4().hex[:8]}"
    await ensure_topics(broker.bootstrap, 2, (topic,))
    built: list[object] = []

    def producer_factory():  # noqa: ANN202
        producer = make_producer(broker.bootstrap, "test-heal")
        if not built:  # the first producer is broken for good
            async def broken_send(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
                raise OutOfOrderSequenceNumber("the broker expected another sequence number")
            producer.send = broken_send  # type: ignore[method-assign]
        built.append(producer)
        return producer

    waits: list[float] = []

    async def no_wait(seconds: float) -> None:
        waits.append(seconds)

    async with outbox_database(postgres, db_prefix, "relay_heal") as (url, sessionmaker):
        await _commit(sessionmaker, topic, 5)
        relay = OutboxRelay(service="test", database_url=url, sessionmaker=sessionmaker,
                            producer_factory=producer_factory, sleep=no_wait)
        running = asyncio.create_task(relay.run())
        try:
            assert await eventually(lambda: asyncio.sleep(0, relay.producers_built == 2 and relay.failures == 0))
            assert await eventually(lambda: _zero(_unsent(sessionmaker)))
        finally:
            running.cancel()
            await asyncio.gather(running, return_exceptions=True)
        async with sessionmaker() as session:
            rows = (await session.execute(select(outbox.c.attempts, outbox.c.last_error))).all()
        assert {row.attempts for row in rows} == {1}
        assert all(row.last_error.startswith("OutOfOrderSequenceNumber") for row in rows)
        assert len(waits) == 1
    assert await _messages(broker.bootstrap, topic, 5) == 5


async def _zero(count) -> bool:  # noqa: ANN001
    return await count == 0


async def test_the_outbox_drains_when_a_stopped_broker_returns(postgres, db_prefix, tmp_path: Path) -> None:
    """The broker is stopped (SIGTERM) while events keep being committed, then started again:
    every event is published once, with no restart of the relay and no flood of copies."""
    port = free_port()
    broker = start_broker(tmp_path / "kafka", port, tmp_path / "kafka.log")
    topic = f"outage-{uuid.uuid4().hex[:8]}"
    try:
        await ensure_topics(broker.bootstrap, 4, (topic,))
        async with outbox_database(postgres, db_prefix, "relay_outage") as (url, sessionmaker):
            relay = OutboxRelay(service="test", database_url=url, sessionmaker=sessionmaker,
                                producer_factory=lambda: make_producer(broker.bootstrap, "test-outage"),
                                publish_timeout=3.0)
            running = asyncio.create_task(relay.run())
            try:
                await _commit(sessionmaker, topic, 20)
                assert await eventually(lambda: _zero(_unsent(sessionmaker)))
                broker.process.send_signal(signal.SIGTERM)
                await asyncio.to_thread(broker.process.wait)
                await _commit(sessionmaker, topic, 30)  # accepted while the broker is away
                assert await eventually(lambda: asyncio.sleep(0, relay.failures >= 2), timeout=60)
                assert await _unsent(sessionmaker) == 30
                broker = start_broker(tmp_path / "kafka", port, tmp_path / "kafka.log")
                assert await eventually(lambda: _zero(_unsent(sessionmaker)), timeout=60)
                assert relay.failures == 0
            finally:
                running.cancel()
                await asyncio.gather(running, return_exceptions=True)
        # Each row is sent once per attempt: a few copies may exist (the inbox absorbs them), never hundreds.
        published = await _messages(broker.bootstrap, topic, 50)
        assert 50 <= published <= 50 + 30
    finally:
        broker.stop()


async def test_what_a_killed_broker_may_have_lost_is_published_again(postgres, db_prefix, tmp_path: Path) -> None:
    """A broker SIGKILLed may lose writes it had acknowledged (the local broker its last second):
    the relay sees it away and back, and publishes again what it had published shortly before,
    so every event is on the topic afterwards (consumers' inboxes drop the copies)."""
    port = free_port()
    broker = start_broker(tmp_path / "kafka", port, tmp_path / "kafka.log")
    topic = f"lost-{uuid.uuid4().hex[:8]}"
    try:
        await ensure_topics(broker.bootstrap, 4, (topic,))
        async with outbox_database(postgres, db_prefix, "relay_lost") as (url, sessionmaker):
            relay = OutboxRelay(service="test", database_url=url, sessionmaker=sessionmaker,
                                producer_factory=lambda: make_producer(broker.bootstrap, "test-lost"),
                                publish_timeout=3.0, bootstrap=broker.bootstrap, loss_window=60.0,
                                probe_interval=0.1)
            running = asyncio.create_task(relay.run())
            try:
                await _commit(sessionmaker, topic, 20)
                assert await eventually(lambda: _zero(_unsent(sessionmaker)))
                async with sessionmaker() as session:
                    ids = set((await session.execute(select(outbox.c.envelope["id"].astext))).scalars())
                assert await eventually(lambda: asyncio.sleep(0, relay._seen_at is not None))  # noqa: SLF001
                broker.process.send_signal(signal.SIGKILL)
                await asyncio.to_thread(broker.process.wait)
                assert await eventually(lambda: asyncio.sleep(0, relay._away))  # noqa: SLF001 - seen away
                broker = start_broker(tmp_path / "kafka", port, tmp_path / "kafka.log")
                assert await eventually(lambda: asyncio.sleep(0, relay.republished >= 20), timeout=60)
                assert await eventually(lambda: _zero(_unsent(sessionmaker)), timeout=60)
            finally:
                running.cancel()
                await asyncio.gather(running, return_exceptions=True)
        assert await _ids_on(broker.bootstrap, topic) >= ids
    finally:
        broker.stop()


async def _ids_on(bootstrap: str, topic: str) -> set[str]:
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=None, auto_offset_reset="earliest",
                                enable_auto_commit=False)
    await consumer.start()
    try:
        ids: set[str] = set()
        while batch := await consumer.getmany(timeout_ms=1000):
            ids |= {orjson.loads(m.value)["id"] for messages in batch.values() for m in messages}
        return ids
    finally:
        await consumer.stop()


async def test_a_relay_that_cannot_publish_is_stalled_and_an_idle_one_is_not(postgres, db_prefix, broker) -> None:
    """Liveness (`/health`) fails after `relay_stall_seconds` without progress while rows wait;
    a relay that waits with its outbox drained is not stalled, however long it waits."""
    topic = f"stall-{uuid.uuid4().hex[:8]}"
    await ensure_topics(broker.bootstrap, 1, (topic,))
    now = [1000.0]
    broken = [True]

    def producer_factory():  # noqa: ANN202
        producer = make_producer(broker.bootstrap, "test-stall")
        if broken[0]:
            async def refused(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
                raise OutOfOrderSequenceNumber("the broker expected another sequence number")
            producer.send = refused  # type: ignore[method-assign]
        return producer

    async def advance(seconds: float) -> None:  # the relay's back-off moves the clock, not time
        now[0] += seconds
        await asyncio.sleep(0)

    async with outbox_database(postgres, db_prefix, "relay_stall") as (url, sessionmaker):
        relay = OutboxRelay(service="test", database_url=url, sessionmaker=sessionmaker,
                            producer_factory=producer_factory, clock=lambda: now[0], sleep=advance)
        running = asyncio.create_task(relay.run())
        try:
            async def an_hour_later_still_fine() -> bool:  # idle: nothing to send
                now[0] += 3600
                return relay.stalled_for() == 0.0

            assert await eventually(an_hour_later_still_fine)
            await _commit(sessionmaker, topic, 3)
            assert await eventually(lambda: asyncio.sleep(0, relay.stalled_for() > 600))
            broken[0] = False
            assert await eventually(lambda: _zero(_unsent(sessionmaker)))
            assert await eventually(lambda: asyncio.sleep(0, relay.stalled_for() == 0.0))
        finally:
            running.cancel()
            await asyncio.gather(running, return_exceptions=True)
