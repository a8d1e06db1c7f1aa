"""The consumer runner against the real broker and a real service database: a partition's
messages are handled in batches, one transaction each; a poison event costs only itself; the
partitions are handled in parallel lanes; a replayed dead letter takes effect once; a message that
is not an event is dead-lettered as where it is; the lag per partition is measured."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable

import orjson
import pytest
from aiokafka import AIOKafkaProducer
from prometheus_client import REGISTRY
from sqlalchemy import select

from services.payments.main import MIGRATIONS_DIR
from shared.consumer import ConsumerRunner, ConsumerStalled, FetchBackoff, PermanentError, handles_batches
from shared.events import Envelope
from shared.events.contracts import DEAD_LETTER_TOPIC
from shared.kafka import ensure_topics
from shared.outbox import inbox, outbox, record_event
from shared.redrive import REPLAY_HEADER
from tests.support import migrated_database

ECHO_TOPIC = "qamqor.test-echo"


@pytest.fixture
async def sessionmaker(postgres, db_prefix):  # noqa: ANN001, ANN201
    """A migrated service database with no relay: every effect stays in its outbox to count."""
    async with migrated_database(postgres, f"{db_prefix}_runner", MIGRATIONS_DIR) as sessionmaker:
        yield sessionmaker


@pytest.fixture
async def topic(broker) -> str:  # noqa: ANN001
    name = f"qamqor.test-runner-{uuid.uuid4().hex[:8]}"
    await ensure_topics(broker.bootstrap, 2, (name,))
    return name


@pytest.fixture
async def producer(broker):  # noqa: ANN001, ANN201
    producer = AIOKafkaProducer(bootstrap_servers=broker.bootstrap)
    await producer.start()
    yield producer
    await producer.stop()


def event(event_type: str = "test.happened", key: str = "family-1") -> Envelope:
    return Envelope(type=event_type, source="tests", key=key, data={"n": str(uuid.uuid4())})


async def publish(producer: AIOKafkaProducer, topic: str, envelope: Envelope | bytes, *, partition: int = 0,
                  headers: list[tuple[str, bytes]] | None = None) -> None:
    value = envelope if isinstance(envelope, bytes) else orjson.dumps(envelope.model_dump(mode="json"))
    await producer.send_and_wait(topic, value, key=b"k", partition=partition, headers=headers)


async def echo(session, envelope: Envelope) -> None:  # noqa: ANN001
    """The handler's effect: one echo row in the outbox per handling, under a new id."""
    await record_event(session, ECHO_TOPIC, Envelope(type="test.echo", source="tests", key=str(envelope.id),
                                                     data={}))


async def echoes(sessionmaker) -> dict[str, int]:  # noqa: ANN001
    async with sessionmaker() as session:
        keys = (await session.execute(select(outbox.c.key).where(outbox.c.topic == ECHO_TOPIC))).scalars()
        counts: dict[str, int] = {}
        for key in keys:
            counts[key] = counts.get(key, 0) + 1
        return counts


async def dead_letters(sessionmaker) -> list:  # noqa: ANN001
    async with sessionmaker() as session:
        return (await session.execute(select(outbox).where(outbox.c.topic == DEAD_LETTER_TOPIC))).all()


async def eventually(check: Callable[[], Awaitable[bool]], *, within: float = 20.0) -> None:
    """Polls until `check` holds; fails after `within` seconds (a deadline, not a measurement)."""
    deadline = asyncio.get_running_loop().time() + within
    while not await check():
        assert asyncio.get_running_loop().time() < deadline, "the condition did not hold in time"
        await asyncio.sleep(0.05)


class Running:
    def __init__(self, runner: ConsumerRunner) -> None:
        self.runner = runner
        self.task: asyncio.Task | None = None

    async def __aenter__(self) -> ConsumerRunner:
        await self.runner.start()
        self.task = asyncio.create_task(self.runner.run())
        return self.runner

    async def __aexit__(self, *exc: object) -> None:
        assert self.task is not None
        if self.task.done():
            self.task.result()  # a runner that stopped by itself failed: show why
        self.task.cancel()
        await asyncio.gather(self.task, return_exceptions=True)
        await self.runner.stop()


def runner(broker, topic: str, sessionmaker, handlers, **options) -> Running:  # noqa: ANN001, ANN003
    return Running(ConsumerRunner(service=f"test-{uuid.uuid4().hex[:6]}", bootstrap=broker.bootstrap, topics=(topic,),
                                  handlers=handlers, sessionmaker=sessionmaker, max_attempts=2,
                                  backoff_seconds=0.01, **options))


async def test_a_partitions_events_are_handled_in_one_transaction_per_batch(broker, topic, sessionmaker, producer):
    events = [event() for _ in range(40)]
    for envelope in events:
        await publish(producer, topic, envelope)
    sessions: set[int] = set()

    async def noting_the_transaction(session, envelope: Envelope) -> None:  # noqa: ANN001
        sessions.add(id(session))
        await echo(session, envelope)

    async with runner(broker, topic, sessionmaker, {"test.happened": noting_the_transaction}):
        await eventually(lambda: _all_echoed(sessionmaker, events))
    assert await echoes(sessionmaker) == {str(e.id): 1 for e in events}
    # 40 events waiting when the consumer started come in one or a few polls, not 40 transactions
    assert len(sessions) < len(events) // 4


async def _all_echoed(sessionmaker, events: list[Envelope]) -> bool:  # noqa: ANN001
    return set(await echoes(sessionmaker)) >= {str(e.id) for e in events}


def bulk_handlers(order: list[uuid.UUID], calls: list[list[uuid.UUID]], *, batch_fails: bool = False) -> dict:
    """`test.bulk` has a batch form, `test.happened` has not; both echo each event and note the
    order in which events take effect, and the batch form notes each list it is handed."""
    async def plain(session, envelope: Envelope) -> None:  # noqa: ANN001
        order.append(envelope.id)
        await echo(session, envelope)

    async def together(session, envelopes: list[Envelope]) -> None:  # noqa: ANN001
        calls.append([e.id for e in envelopes])
        if batch_fails:
            raise RuntimeError("the batch form fails")
        for envelope in envelopes:
            await plain(session, envelope)

    @handles_batches(together)
    async def one(session, envelope: Envelope) -> None:  # noqa: ANN001
        await plain(session, envelope)

    return {"test.bulk": one, "test.happened": plain}


async def test_consecutive_events_of_a_batch_capable_handler_are_handed_over_as_one_list(broker, topic, sessionmaker,
                                                                                         producer):
    bulk = [event("test.bulk") for _ in range(30)]
    plain = [event() for _ in range(3)]
    # a burst, an event without a batch form, the burst goes on (one event delivered twice), another one
    published = [*bulk[:12], plain[0], *bulk[12:20], bulk[15], *bulk[20:], plain[1], plain[2]]
    for envelope in published:
        await publish(producer, topic, envelope)
    order: list[uuid.UUID] = []
    calls: list[list[uuid.UUID]] = []
    async with runner(broker, topic, sessionmaker, bulk_handlers(order, calls)):
        await eventually(lambda: _all_echoed(sessionmaker, bulk + plain))
    assert await echoes(sessionmaker) == {str(e.id): 1 for e in bulk + plain}
    # In the partition's order, each event once; no list reaches across the event without a batch form.
    assert order == [e.id for e in [*bulk[:12], plain[0], *bulk[12:], *plain[1:]]]
    assert [i for call in calls for i in call] == [e.id for e in bulk]
    assert not any(bulk[11].id in call and bulk[12].id in call for call in calls)
    # 30 events waiting when the consumer started come in a few lists, not 30.
    assert len(calls) < 10 and max(len(call) for call in calls) > 1
    async with sessionmaker() as session:
        marked = set((await session.execute(select(inbox.c.event_id))).scalars())
    assert marked >= {e.id for e in bulk + plain}


async def test_a_failing_batch_form_leaves_the_events_to_the_handler_one_by_one(broker, topic, sessionmaker,
                                                                                producer):
    bulk = [event("test.bulk") for _ in range(10)]
    for envelope in bulk:
        await publish(producer, topic, envelope)
    order: list[uuid.UUID] = []
    calls: list[list[uuid.UUID]] = []
    async with runner(broker, topic, sessionmaker, bulk_handlers(order, calls, batch_fails=True)):
        await eventually(lambda: _all_echoed(sessionmaker, bulk))
    assert calls, "the batch form was tried"
    assert await echoes(sessionmaker) == {str(e.id): 1 for e in bulk}
    assert order == [e.id for e in bulk]
    assert await dead_letters(sessionmaker) == []


async def test_what_was_fetched_past_a_batch_is_not_fetched_again(broker, topic, sessionmaker, producer):
    """A partition at work is left out of the next polls rather than paused: aiokafka drops what it
    had fetched for a paused partition, so every batch cost a fetch of everything after it."""
    events = [event() for _ in range(100)]
    for envelope in events:
        await publish(producer, topic, envelope)
    fetches_with_records = []

    class Counting(FetchBackoff):
        def pause_after(self, *, had_records: bool) -> float:
            if had_records:
                fetches_with_records.append(1)
            return super().pause_after(had_records=had_records)

    async with runner(broker, topic, sessionmaker, {"test.happened": echo}, batch_size=5, fetch_backoff=Counting):
        await eventually(lambda: _all_echoed(sessionmaker, events))
    assert await echoes(sessionmaker) == {str(e.id): 1 for e in events}
    # 20 batches of 5 out of what one or a few fetches brought (one fetch per batch before).
    assert len(fetches_with_records) < 10


async def test_a_poison_event_is_dead_lettered_and_costs_the_rest_of_its_batch_nothing(broker, topic, sessionmaker,
                                                                                       producer):
    before, poison, after = [event() for _ in range(5)], event("test.poison"), [event() for _ in range(5)]
    for envelope in [*before, poison, *after]:
        await publish(producer, topic, envelope)

    async def refuse(session, envelope: Envelope) -> None:  # noqa: ANN001
        raise PermanentError("this event can never be handled")

    async with runner(broker, topic, sessionmaker, {"test.happened": echo, "test.poison": refuse}):
        await eventually(lambda: _all_echoed(sessionmaker, before + after))
        await eventually(lambda: _has_dead_letters(sessionmaker, 1))
    assert await echoes(sessionmaker) == {str(e.id): 1 for e in before + after}
    [letter] = await dead_letters(sessionmaker)
    assert letter.event_id == poison.id and letter.headers["original_topic"] == topic
    assert letter.headers["error"].startswith("PermanentError")
    async with sessionmaker() as session:
        outcome = (await session.execute(select(inbox.c.outcome).where(inbox.c.event_id == poison.id))).scalar_one()
    assert outcome == "dead_lettered"


async def _has_dead_letters(sessionmaker, count: int) -> bool:  # noqa: ANN001
    return len(await dead_letters(sessionmaker)) >= count


async def test_a_replayed_dead_letter_takes_effect_once_and_a_handled_event_is_not_replayed(broker, topic,
                                                                                           sessionmaker, producer):
    broken, fine = event(), event()
    fixed = asyncio.Event()

    async def fails_until_fixed(session, envelope: Envelope) -> None:  # noqa: ANN001
        if envelope.id == broken.id and not fixed.is_set():
            raise PermanentError("a bug, fixed later")
        await echo(session, envelope)

    replay = [(REPLAY_HEADER, b"replay-1")]
    async with runner(broker, topic, sessionmaker, {"test.happened": fails_until_fixed}):
        await publish(producer, topic, broken)
        await publish(producer, topic, fine)
        await eventually(lambda: _has_dead_letters(sessionmaker, 1))
        await eventually(lambda: _all_echoed(sessionmaker, [fine]))
        fixed.set()
        await publish(producer, topic, broken)  # delivered again without the header: still a duplicate
        await publish(producer, topic, broken, headers=replay)  # the operator's replay
        await publish(producer, topic, broken, headers=replay)  # replayed twice
        await publish(producer, topic, fine, headers=replay)  # a replay of an event handled long ago
        marker = event()
        await publish(producer, topic, marker)
        await eventually(lambda: _all_echoed(sessionmaker, [marker]))
    assert await echoes(sessionmaker) == {str(broken.id): 1, str(fine.id): 1, str(marker.id): 1}
    async with sessionmaker() as session:
        outcome = (await session.execute(select(inbox.c.outcome).where(inbox.c.event_id == broken.id))).scalar_one()
    assert outcome == "handled"


async def test_a_message_that_is_not_an_event_is_dead_lettered_as_where_it_is(broker, topic, sessionmaker, producer):
    await publish(producer, topic, b'{"not": "an envelope", "iin": "900101300123"}', partition=1)
    good = event()
    await publish(producer, topic, good, partition=1)
    async with runner(broker, topic, sessionmaker, {"test.happened": echo}):
        await eventually(lambda: _all_echoed(sessionmaker, [good]))
        await eventually(lambda: _has_dead_letters(sessionmaker, 1))
    [letter] = await dead_letters(sessionmaker)
    assert letter.event_type == "undecodable"
    assert letter.envelope["data"] == {"topic": topic, "partition": 1, "offset": 0}
    assert "900101300123" not in orjson.dumps(letter.envelope).decode() + orjson.dumps(letter.headers).decode()
    assert letter.headers["error"].startswith("ValidationError")


async def test_partitions_are_handled_in_parallel_lanes(broker, topic, sessionmaker, producer):
    slow, quick = event(key="a"), event(key="b")
    started, release = asyncio.Event(), asyncio.Event()

    async def slow_on_partition_zero(session, envelope: Envelope) -> None:  # noqa: ANN001
        if envelope.id == slow.id:
            started.set()
            await release.wait()
        await echo(session, envelope)

    async with runner(broker, topic, sessionmaker, {"test.happened": slow_on_partition_zero}):
        await publish(producer, topic, slow, partition=0)
        async with asyncio.timeout(20):
            await started.wait()
        await publish(producer, topic, quick, partition=1)
        # the event on partition 1 is handled while partition 0's lane still waits
        await eventually(lambda: _all_echoed(sessionmaker, [quick]))
        assert str(slow.id) not in await echoes(sessionmaker)
        release.set()
        await eventually(lambda: _all_echoed(sessionmaker, [slow]))


async def test_the_lag_of_each_partition_is_measured(broker, topic, sessionmaker, producer):
    events = [event() for _ in range(3)]
    for envelope in events:
        await publish(producer, topic, envelope, partition=1)
    async with runner(broker, topic, sessionmaker, {"test.happened": echo}) as consumer:
        await eventually(lambda: _all_echoed(sessionmaker, events))

        async def caught_up() -> bool:
            return REGISTRY.get_sample_value("qamqor_consumer_lag", {
                "service": consumer.service, "topic": topic, "partition": "1"}) == 0

        await publish(producer, topic, event(), partition=1)
        await eventually(caught_up)


async def test_a_database_outage_is_waited_out_and_never_dead_letters_a_good_event(broker, topic, sessionmaker,
                                                                                  producer):
    """PostgreSQL restarting refuses connections for a while; the runner (2 attempts per event
    here) must not take that for the event's fault — least of all when the database is back just
    in time for the dead letter to be written."""
    refusals = {"left": 3}  # the batch's transaction, then the event's first two

    def restarting():  # noqa: ANN202 - refuses the first transactions, as a restarting server would
        if refusals["left"] > 0:
            refusals["left"] -= 1
            raise ConnectionRefusedError(111, "Connection refused")
        return sessionmaker()

    good = event()
    await publish(producer, topic, good)
    async with runner(broker, topic, restarting, {"test.happened": echo}):
        await eventually(lambda: _all_echoed(sessionmaker, [good]))
    assert refusals["left"] == 0
    assert await echoes(sessionmaker) == {str(good.id): 1}
    assert await dead_letters(sessionmaker) == []


async def test_events_behind_a_committed_offset_the_broker_reused_are_still_handled(broker, topic, sessionmaker,
                                                                                    producer):
    """A broker that lost writes it had acknowledged hands their offsets to new events; a group
    whose committed offset is past them must still see them (and what it had seen stays once)."""
    from aiokafka import AIOKafkaConsumer, TopicPartition

    seen = [event() for _ in range(3)]
    for envelope in seen:
        await publish(producer, topic, envelope)
    group_runner = runner(broker, topic, sessionmaker, {"test.happened": echo})
    service = group_runner.runner.service
    async with group_runner:
        await eventually(lambda: _all_echoed(sessionmaker, seen))
    # New events at offsets 3..7, with the group's offset already at 8 (as if 3..7 had been
    # consumed before the broker lost them).
    reused = [event() for _ in range(5)]
    for envelope in reused:
        await publish(producer, topic, envelope)
    for envelope in [event() for _ in range(1)]:
        await publish(producer, topic, envelope)
    committer = AIOKafkaConsumer(bootstrap_servers=broker.bootstrap, group_id=f"qamqor-{service}",
                                 enable_auto_commit=False)
    await committer.start()
    try:
        tp = TopicPartition(topic, 0)
        committer.assign([tp])
        await committer.commit({tp: 8})
    finally:
        await committer.stop()
    async with Running(ConsumerRunner(service=service, bootstrap=broker.bootstrap, topics=(topic,),
                                      handlers={"test.happened": echo}, sessionmaker=sessionmaker,
                                      max_attempts=2, backoff_seconds=0.01)):
        await eventually(lambda: _all_echoed(sessionmaker, reused))
    counts = await echoes(sessionmaker)
    assert all(counts[str(e.id)] == 1 for e in [*seen, *reused])  # read again, handled once


async def test_a_client_hung_without_its_coordinator_is_given_up_and_a_new_one_consumes(broker, topic, sessionmaker,
                                                                                      producer):
    """After a broker crash aiokafka can hang for good looking up its group coordinator (seen in
    the failure suite's broker-kill scenario): the runner must stop rather than sit there, its
    stop must not hang on the lost client, and a new runner of the group (the supervisor's next
    one, in the same static membership as services run: it takes the lost client's place at once)
    consumes what arrived meanwhile."""
    first = [event() for _ in range(2)]
    for envelope in first:
        await publish(producer, topic, envelope)
    service = f"test-{uuid.uuid4().hex[:6]}"

    def a_runner() -> ConsumerRunner:
        return ConsumerRunner(service=service, bootstrap=broker.bootstrap, topics=(topic,),
                              handlers={"test.happened": echo}, sessionmaker=sessionmaker, max_attempts=2,
                              backoff_seconds=0.01, stall_seconds=0.3, instance_id=f"{service}@host")

    stalled = a_runner()
    await stalled.start()
    running = asyncio.create_task(stalled.run())
    try:
        await eventually(lambda: _all_echoed(sessionmaker, first))
        coordinator = stalled.consumer._coordinator  # noqa: SLF001 - the hang is inside aiokafka

        async def hangs() -> None:
            await asyncio.Event().wait()

        coordinator.ensure_coordinator_known = hangs
        coordinator.coordinator_dead()
        later = [event() for _ in range(2)]
        for envelope in later:
            await publish(producer, topic, envelope)
        with pytest.raises(ConsumerStalled, match="no group coordinator"):
            await asyncio.wait_for(running, timeout=30)
    finally:
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)
        await stalled.stop(timeout=1)
    async with Running(a_runner()):
        await eventually(lambda: _all_echoed(sessionmaker, later))
    assert await echoes(sessionmaker) == {str(e.id): 1 for e in [*first, *later]}


async def test_offsets_are_committed_together_at_most_every_interval_and_when_the_consumer_stops(
        broker, topic, sessionmaker, producer):  # noqa: ANN001
    """The offsets of batches committed in the database are committed to Kafka together, at most
    every `commit_interval` on the runner's clock (one OffsetCommit per batch cost CPU and held
    the partition's next fetch), and what is still pending when the consumer stops is committed
    before it leaves. In between, a crash would deliver them again: the inbox makes that harmless."""
    from aiokafka import TopicPartition
    from aiokafka.admin import AIOKafkaAdminClient

    now = [1000.0]
    tp = TopicPartition(topic, 0)
    running = runner(broker, topic, sessionmaker, {"test.happened": echo}, clock=lambda: now[0], commit_interval=1.0)
    first, second, third = ([event() for _ in range(3)] for _ in range(3))

    async def committed() -> int | None:
        return await running.runner.consumer.committed(tp)  # type: ignore[union-attr]

    async def pending(offset: int) -> bool:
        return running.runner._pending.get(tp) == offset

    async with running:
        for envelope in first:
            await publish(producer, topic, envelope)
        await eventually(lambda: _all_echoed(sessionmaker, first))

        async def some_committed() -> bool:
            return (await committed() or 0) > 0

        await eventually(some_committed)  # the first commit is due at once; the next one a second later
        before = await committed()
        for envelope in second:
            await publish(producer, topic, envelope)
        await eventually(lambda: pending(6))
        assert await committed() == before < 6  # handled and committed in the database, not yet to Kafka
        now[0] += 1.0

        async def second_committed() -> bool:
            return await committed() == 6

        await eventually(second_committed)
        for envelope in third:
            await publish(producer, topic, envelope)
        await eventually(lambda: pending(9))
    admin = AIOKafkaAdminClient(bootstrap_servers=broker.bootstrap)
    await admin.start()
    try:
        offsets = await admin.list_consumer_group_offsets(f"qamqor-{running.runner.service}")
    finally:
        await admin.close()
    assert offsets[tp].offset == 9
    assert await echoes(sessionmaker) == {str(e.id): 1 for e in first + second + third}
