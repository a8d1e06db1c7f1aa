"""Which events reporting follows: all of them, into its projections (applications, consent,
contracts, payments, FDC invitations, reassessment runs' extensions); and the dead-letter topic, into the dead letters an
operator lists and replays.

The dead-letter topic is read by its own consumer (group `qamqor-reporting-dead-letters`), not
by the service's event consumer: its messages are other services' failures, each carrying an
original event that reporting may itself have handled already, so they are neither dispatched by
event type nor de-duplicated by event id, but kept by their position on the topic."""

from __future__ import annotations

import asyncio
import logging
import time

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import CommitFailedError, KafkaError
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.reporting import domain, service
from services.reporting.settings import ReportingSettings
from shared.consumer import FetchBackoff, pace_fetches
from shared.events.contracts import DEAD_LETTER_TOPIC, TOPICS
from shared.kafka import ensure_topics

log = logging.getLogger("qamqor.reporting")

SUBSCRIBE = tuple(TOPICS.values())
DEAD_LETTER_GROUP = "qamqor-reporting-dead-letters"


def handlers(app: FastAPI | None = None) -> dict:
    """Every event type reporting projects, and its handler (`qamqor reporting rebuild` uses the
    same ones)."""
    return {event_type: service.project for event_type in domain.STAGE_OF_EVENT} | {
        "reconciliation.requested": service.project_redrive,
        **{f"consent.{outcome}": service.project_consent
           for outcome in ("requested", "granted", "refused", "expired", "withdrawn")},
        **{f"contract.{outcome}": service.project_contract for outcome in ("lapsed", "terminated", "completed")},
        "eligibility.extended": service.project_extension,
        "payment.settled": service.project_payment,
        "payment.failed": service.project_payment,
        "fdc.invitation.issued": service.project_invitation,
        "fdc.invitation.converted": service.project_invitation,
    }


async def follow_dead_letters(*, settings: ReportingSettings, sessionmaker: async_sessionmaker[AsyncSession],
                              refresh_seconds: float = 30.0) -> None:
    """Runs for the life of the process (restarted by the service after a failure: what was not
    committed is read again, and kept once). Each poll's messages are kept in one transaction,
    then their offsets committed; the dead-letter depth at /metrics is refreshed after each and
    every `refresh_seconds` (a replay by another process changes it too)."""
    await ensure_topics(settings.kafka_bootstrap, settings.kafka_partitions, (DEAD_LETTER_TOPIC,))
    consumer = AIOKafkaConsumer(
        DEAD_LETTER_TOPIC, bootstrap_servers=settings.kafka_bootstrap, group_id=DEAD_LETTER_GROUP,
        client_id=DEAD_LETTER_GROUP, enable_auto_commit=False, auto_offset_reset="earliest", max_poll_records=200)
    try:
        # Started inside the `try`: a service stopped while the consumer is still joining its
        # group must leave the group too (else the next member waits out the ghost's session).
        await consumer.start()
        # Dead letters are rare and nobody waits for them by the millisecond: an idle fetch at most a second.
        pace_fetches(consumer, lambda: FetchBackoff(cap=1.0))
        refreshed = float("-inf")
        while True:
            batches = await consumer.getmany(timeout_ms=1000, max_records=200)
            messages = [message for batch in batches.values() for message in batch]
            if not messages and time.monotonic() - refreshed < refresh_seconds:
                continue
            async with sessionmaker() as session, session.begin():
                await service.record_dead_letters(session, (domain.read_dead_letter(
                    message.value, {k: v.decode("utf-8", "replace") for k, v in message.headers or ()},
                    topic=message.topic, partition=message.partition, offset=message.offset) for message in messages))
                await service.count_dead_letters(session)
            refreshed = time.monotonic()
            if messages:
                try:
                    await consumer.commit({TopicPartition(tp.topic, tp.partition): batch[-1].offset + 1
                                           for tp, batch in batches.items() if batch})
                except (CommitFailedError, KafkaError):
                    # Partitions moved to another member: it reads them again, and keeps each once.
                    log.warning("dead-letter offset commit failed", exc_info=True)
    finally:
        try:
            async with asyncio.timeout(10.0):
                await consumer.stop()
        except TimeoutError:
            log.warning("the dead-letter consumer did not stop within 10 s")
