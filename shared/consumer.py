"""The consumer runner: every event handled at most once in effect.

For each message: insert its id into the inbox and run the handler in ONE transaction; commit
the Kafka offset only after that transaction commits. A redelivered event finds its id in the
inbox and has no second effect. A failing handler is retried with backoff; after the last
attempt the event goes to the dead-letter topic (through the outbox, with the error) and is
marked in the inbox, so the partition is not blocked for ever.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

import orjson
from aiokafka import AIOKafkaConsumer, ConsumerRecord
from aiokafka.errors import CommitFailedError, KafkaError
from pydantic import ValidationError
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from shared.events import Envelope
from shared.events.contracts import DEAD_LETTER_TOPIC
from shared.observability import EVENTS_CONSUMED, request_id_var
from shared.outbox import inbox, record_event

log = logging.getLogger("qamqor.consumer")

Handler = Callable[[AsyncSession, Envelope], Awaitable[None]]


class PermanentError(Exception):
    """A handler failure that retrying cannot fix: goes straight to the dead-letter topic."""


class ConsumerRunner:
    def __init__(
        self,
        *,
        service: str,
        bootstrap: str,
        topics: tuple[str, ...],
        handlers: dict[str, Handler],
        sessionmaker: async_sessionmaker[AsyncSession],
        max_attempts: int = 5,
        backoff_seconds: float = 0.2,
        instance_id: str | None = None,
    ) -> None:
        self.service = service
        self.bootstrap = bootstrap
        self.topics = topics
        self.handlers = handlers
        self.sessionmaker = sessionmaker
        self.max_attempts = max_attempts
        self.backoff_seconds = backoff_seconds
        self.instance_id = instance_id
        self.consumer: AIOKafkaConsumer | None = None

    async def start(self) -> None:
        self.consumer = AIOKafkaConsumer(
            *self.topics,
            bootstrap_servers=self.bootstrap,
            group_id=f"qamqor-{self.service}",
            client_id=f"qamqor-{self.service}",
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_poll_records=200,
            # Static membership (KIP-345): a process restarted after a crash takes its place
            # in the group at once instead of waiting for the dead member's session to expire.
            group_instance_id=self.instance_id,
            session_timeout_ms=10_000,
            heartbeat_interval_ms=2_000,
        )
        await self.consumer.start()

    async def stop(self) -> None:
        if self.consumer is not None:
            await self.consumer.stop()

    async def run(self) -> None:
        assert self.consumer is not None, "start() first"
        consumer = self.consumer
        while True:
            batches = await consumer.getmany(timeout_ms=500, max_records=200)
            for tp, messages in batches.items():
                last_done = None
                for message in messages:
                    if not await self.process(message):
                        consumer.seek(tp, message.offset)  # could not even dead-letter: try again later
                        break
                    last_done = message.offset
                if last_done is not None:
                    try:
                        await consumer.commit({tp: last_done + 1})
                    except (CommitFailedError, KafkaError):
                        # Partition moved to another member; it will redeliver and the inbox
                        # makes the repeat harmless.
                        log.warning("offset commit failed for %s", tp, exc_info=True)

    async def process(self, message: ConsumerRecord) -> bool:
        """Handle one message; True when it is done with (handled, duplicate, ignored or
        dead-lettered) and its offset may be committed."""
        try:
            envelope = Envelope.model_validate(orjson.loads(message.value))
        except (ValidationError, orjson.JSONDecodeError) as exc:
            log.error("undecodable message at %s/%s@%s", message.topic, message.partition, message.offset)
            return await self._dead_letter_raw(message, repr(exc))
        handler = self.handlers.get(envelope.type)
        if handler is None:
            return True
        carried = next((v.decode("latin-1") for k, v in (message.headers or ()) if k == "x-request-id"), None)
        token = request_id_var.set(carried or envelope.correlation_id or str(envelope.id))
        try:
            for attempt in range(1, self.max_attempts + 1):
                try:
                    outcome = await self._handle_once(message, envelope, handler)
                    EVENTS_CONSUMED.labels(self.service, envelope.type, outcome).inc()
                    return True
                except (PermanentError, ValidationError) as exc:
                    return await self._dead_letter(message, envelope, repr(exc))
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # noqa: BLE001 - every failure is retried, then dead-lettered
                    if attempt == self.max_attempts:
                        log.exception("handler failed %d times; dead-lettering", attempt,
                                      extra={"event_id": envelope.id, "event_type": envelope.type})
                        return await self._dead_letter(message, envelope, repr(exc))
                    delay = min(self.backoff_seconds * 2 ** (attempt - 1), 10.0)
                    log.warning("handler failed (attempt %d), retrying in %.1fs: %r", attempt, delay, exc,
                                extra={"event_id": envelope.id, "event_type": envelope.type})
                    await asyncio.sleep(delay)
            return False
        finally:
            request_id_var.reset(token)

    async def _handle_once(self, message: ConsumerRecord, envelope: Envelope, handler: Handler) -> str:
        async with self.sessionmaker() as session, session.begin():
            first_time = await self._mark_inbox(session, message, envelope, "handled")
            if not first_time:
                log.info("duplicate delivery ignored", extra={"event_id": envelope.id, "event_type": envelope.type})
                return "duplicate"
            await handler(session, envelope)
        return "handled"

    @staticmethod
    async def _mark_inbox(session: AsyncSession, message: ConsumerRecord, envelope: Envelope, outcome: str) -> bool:
        result = await session.execute(
            insert(inbox)
            .values(
                event_id=envelope.id,
                event_type=envelope.type,
                source=envelope.source,
                key=envelope.key,
                topic=message.topic,
                partition=message.partition,
                offset=message.offset,
                outcome=outcome,
            )
            .on_conflict_do_nothing(index_elements=[inbox.c.event_id])
            .returning(inbox.c.event_id)
        )
        return result.first() is not None

    async def _dead_letter(self, message: ConsumerRecord, envelope: Envelope, error: str) -> bool:
        try:
            async with self.sessionmaker() as session, session.begin():
                if not await self._mark_inbox(session, message, envelope, "dead_lettered"):
                    return True
                await record_event(
                    session, DEAD_LETTER_TOPIC, envelope,
                    headers={"error": error[:2000], "failed_in": self.service,
                             "original_topic": message.topic},
                )
            EVENTS_CONSUMED.labels(self.service, envelope.type, "dead_lettered").inc()
            return True
        except Exception:  # noqa: BLE001
            log.exception("could not dead-letter event %s", envelope.id)
            await asyncio.sleep(1.0)
            return False

    async def _dead_letter_raw(self, message: ConsumerRecord, error: str) -> bool:
        # An undecodable message has no envelope id; it is logged and skipped.
        EVENTS_CONSUMED.labels(self.service, "undecodable", "dead_lettered").inc()
        return True
