"""Rebuild reporting's projections from the topics (`qamqor reporting rebuild`, docs/operations.md).

1. In one transaction: every projection table is emptied, and the inbox forgets the events of the
   topics (the dead letters and the dead-letter topic's inbox rows stay: an operator's replays are
   not a projection).
2. Every topic is read from its first offset to the end it had when the rebuild started, by a
   consumer of no group (explicit offsets: the service's own group and its committed offsets are
   left alone), and each event is projected by the service's own handlers through the consumer's
   batch path (an inbox row per event, one transaction per batch).

The projections are commutative and idempotent, so a reporting service running meanwhile may go
on projecting new events: an event it handles first is a duplicate for the rebuild, and the other
way round; the figures come out the same. Between steps 1 and 2 the dashboard shows the figures
rebuilt so far."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from aiokafka import AIOKafkaConsumer, TopicPartition
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.reporting import consumers, repository
from shared.consumer import ConsumerRunner

log = logging.getLogger("qamqor.reporting.rebuild")


@dataclass
class Rebuilt:
    messages: int = 0
    per_topic: dict[str, int] = field(default_factory=dict)
    skipped: int = 0  # messages that are not events (dead-lettered when first read)


async def rebuild(*, bootstrap: str, sessionmaker: async_sessionmaker[AsyncSession],
                  topics: tuple[str, ...] = consumers.SUBSCRIBE, batch_size: int = 500,
                  echo: Callable[[str], None] = lambda _: None) -> Rebuilt:
    async with sessionmaker() as session, session.begin():
        await repository.truncate_projections(session, topics)
    echo(f"projections emptied; reading {len(topics)} topic(s) from the beginning")

    runner = ConsumerRunner(service="reporting", bootstrap=bootstrap, topics=topics, handlers=consumers.handlers(),
                            sessionmaker=sessionmaker, batch_size=batch_size)
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False,
                                client_id="qamqor-reporting-rebuild", auto_offset_reset="earliest",
                                max_poll_records=batch_size)
    await consumer.start()
    done = Rebuilt(per_topic=dict.fromkeys(topics, 0))
    try:
        partitions = [TopicPartition(topic, p) for topic in topics
                      for p in sorted(await _partitions(consumer, topic))]
        if not partitions:
            return done
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        waiting = {tp for tp in partitions if ends[tp] > 0}
        total = sum(ends.values())
        while waiting:
            batches = await consumer.getmany(*waiting, timeout_ms=1000, max_records=batch_size)
            for tp, messages in batches.items():
                messages = [m for m in messages if m.offset < ends[tp]]
                events = [m for m in messages if runner.decode(m).undecodable is None]
                done.skipped += len(messages) - len(events)
                while events:
                    last = await runner.handle_batch(events)
                    if last is not None:
                        events = [m for m in events if m.offset > last]
                    if events:
                        # Not every event could be kept (the database away): those after the
                        # last one done are handled again.
                        await asyncio.sleep(1.0)
                done.messages += len(messages)
                done.per_topic[tp.topic] += len(messages)
                if messages and messages[-1].offset + 1 >= ends[tp]:
                    waiting.discard(tp)
            for tp in list(waiting):
                if await consumer.position(tp) >= ends[tp]:
                    waiting.discard(tp)
            echo(f"  {done.messages}/{total} messages read")
    finally:
        await consumer.stop()
    return done


async def _partitions(consumer: AIOKafkaConsumer, topic: str) -> set[int]:
    """The topic's partitions (none when the topic does not exist yet)."""
    if topic not in await consumer.topics():  # fetches the cluster's metadata
        return set()
    return set(consumer.partitions_for_topic(topic) or ())
