"""Kafka plumbing: topics and a producer configured for exactly-once-per-partition order."""

from __future__ import annotations

import asyncio
import logging

from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from shared.events.contracts import DEAD_LETTER_TOPIC, TOPICS

log = logging.getLogger("qamqor.kafka")

ALL_TOPICS = tuple(TOPICS.values()) + (DEAD_LETTER_TOPIC,)


async def ensure_topics(bootstrap: str, partitions: int, topics: tuple[str, ...] = ALL_TOPICS) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [NewTopic(t, num_partitions=partitions, replication_factor=1) for t in topics if t not in existing]
        if missing:
            try:
                await admin.create_topics(missing)
            except TopicAlreadyExistsError:
                pass  # another process created it between list and create
            log.info("created topics %s", [t.name for t in missing])
    finally:
        await admin.close()


async def broker_reachable(bootstrap: str) -> bool:
    """Whether the first bootstrap address accepts a connection (within a second)."""
    host, _, port = bootstrap.split(",")[0].rpartition(":")
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(host, int(port)), timeout=1.0)
        writer.close()
        return True
    except (OSError, asyncio.TimeoutError):
        return False


def make_producer(bootstrap: str, client_id: str) -> AIOKafkaProducer:
    # Idempotent producer with acks=all: a retried send is not duplicated in the log and the
    # order of one key's events is kept.
    return AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        client_id=client_id,
        enable_idempotence=True,
        acks="all",
        linger_ms=2,
        request_timeout_ms=10_000,
    )
