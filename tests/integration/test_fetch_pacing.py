"""An idle consumer rests on the real broker: after an empty fetch the consumer's fetcher pauses
before the next one and sends nothing meanwhile; a fetch that brings records is followed by no
pause; and a consumer can be stopped while it rests.

noida-db answers an empty fetch at once. Without pacing aiokafka's fetcher sends the next fetch at
once, thousands a second, so these tests bound the number of fetches instead of time: a consumer
that sends more than a few dozen fetches without pausing fails them.
"""

from __future__ import annotations

import asyncio
import uuid

from aiokafka import AIOKafkaProducer

from shared.consumer import ConsumerRunner, FetchBackoff
from shared.kafka import ensure_topics

TOO_MANY_FETCHES = 30


class Pacer:
    """Stands in for asyncio.sleep in the consumer's fetch pacing: notes each pause in the log
    and holds the fetcher there until the test lets it go."""

    def __init__(self, log: list[tuple[str, object]]) -> None:
        self.log = log
        self.resting = asyncio.Event()
        self._go = asyncio.Event()

    async def sleep(self, seconds: float) -> None:
        self.log.append(("pause", seconds))
        self._go.clear()
        self.resting.set()
        try:
            await self._go.wait()
        finally:
            self.resting.clear()

    def release(self) -> None:
        self._go.set()


class Fetches:
    """Counts the fetch requests the consumer sends and notes in the log whether each brought records."""

    def __init__(self, client, log: list[tuple[str, object]]) -> None:  # noqa: ANN001 - aiokafka's client
        self.log = log
        self.count = 0
        self.too_many = asyncio.Event()
        self.brought_records = asyncio.Event()
        send = client.send

        async def counting_send(node_id, request, *args, **kwargs):  # noqa: ANN001, ANN202
            response = await send(node_id, request, *args, **kwargs)
            if type(request).__name__.startswith("FetchRequest"):
                self.count += 1
                records = any(partition[-1] for _, partitions in response.topics for partition in partitions)
                self.log.append(("fetch", records))
                if records:
                    self.brought_records.set()
                if self.count > TOO_MANY_FETCHES:
                    self.too_many.set()
            return response

        client.send = counting_send


async def first_of(*events: asyncio.Event) -> None:
    waits = [asyncio.ensure_future(event.wait()) for event in events]
    _, pending = await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
    for wait in pending:
        wait.cancel()


async def resting_consumer(broker, topic: str) -> tuple[ConsumerRunner, Pacer, Fetches, list]:  # noqa: ANN001
    await ensure_topics(broker.bootstrap, 2, (topic,))
    log: list[tuple[str, object]] = []
    pacer = Pacer(log)
    runner = ConsumerRunner(
        service=f"test-pacing-{uuid.uuid4().hex[:8]}", bootstrap=broker.bootstrap, topics=(topic,), handlers={},
        sessionmaker=None,  # type: ignore[arg-type] - nothing is handled here
        # A clock that stands still: every pause is `first`, whatever the machine's speed.
        fetch_backoff=lambda: FetchBackoff(first=0.001, clock=lambda: 0.0),
        idle_sleep=pacer.sleep,
    )
    await runner.start()
    fetches = Fetches(runner.consumer._client, log)
    await first_of(pacer.resting, fetches.too_many)
    assert not fetches.too_many.is_set(), f"{fetches.count} fetches sent without a pause"
    return runner, pacer, fetches, log


async def test_an_idle_consumer_sends_no_fetch_while_it_rests_and_pauses_after_each_empty_fetch(broker) -> None:
    runner, pacer, fetches, log = await resting_consumer(broker, f"pacing-idle-{uuid.uuid4().hex[:8]}")
    try:
        for _ in range(5):
            sent = fetches.count
            for _ in range(200):
                await asyncio.sleep(0)  # give the fetcher every chance to send
            assert fetches.count == sent, "a fetch was sent while the consumer rested"
            pacer.release()
            await first_of(pacer.resting, fetches.too_many)
            assert not fetches.too_many.is_set()
            assert fetches.count == sent + 1  # exactly one fetch between two rests
        after_first_fetch = log[log.index(("fetch", False)):]
        # Every empty fetch was followed by a pause, and every pause followed an empty fetch.
        assert after_first_fetch == [("fetch", False), ("pause", 0.001)] * (len(after_first_fetch) // 2)
    finally:
        await runner.stop()  # while resting: the fetcher's cancellation ends the pause quietly


async def test_a_fetch_that_brings_records_is_followed_by_no_pause(broker) -> None:
    topic = f"pacing-busy-{uuid.uuid4().hex[:8]}"
    runner, pacer, fetches, log = await resting_consumer(broker, topic)
    producer = AIOKafkaProducer(bootstrap_servers=broker.bootstrap)
    await producer.start()
    try:
        await producer.send_and_wait(topic, b"event while resting", key=b"k")
        pacer.release()
        await first_of(fetches.brought_records, fetches.too_many)
        assert fetches.brought_records.is_set(), f"{fetches.count} fetches without the record"
        records = await runner.consumer.getmany(timeout_ms=0)
        assert [m.value for messages in records.values() for m in messages] == [b"event while resting"]
        # The record's fetch was not followed by a pause; the consumer rests again only once a
        # later fetch came back empty.
        await first_of(pacer.resting, fetches.too_many)
        assert not fetches.too_many.is_set()
        with_records = log.index(("fetch", True))
        assert log[with_records + 1] == ("fetch", False)
        assert log[-2:] == [("fetch", False), ("pause", 0.001)]
    finally:
        await producer.stop()
        await runner.stop()
