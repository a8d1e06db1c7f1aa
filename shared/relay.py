"""The outbox relay: publishes committed outbox rows to Kafka, in order, and marks them sent.

It wakes on LISTEN/NOTIFY (sent by `record_event` at commit). While its listening connection
is up nothing is missed, so it polls only as a safety net (every `listen_poll_interval`); when
the connection is lost it polls every `poll_interval` and tries to listen again. A crash between
send and mark re-sends the row on the next start: delivery is at-least-once, and consumers'
inboxes make it effectively once.

A batch that cannot be published (the broker is away, or the producer is in a state it cannot
leave — an idempotent producer that lost track of its sequence numbers after an outage answers
every later send with OutOfOrderSequenceNumber) is not retried with the same producer: the relay
notes the failure on the rows (`attempts`, `last_error`), waits a bounded, growing time, builds a
new producer and tries again. So it heals by itself when the broker returns, and resends each row
at most once per attempt instead of flooding the topic.

A broker can lose writes it had acknowledged (the local broker its last second on a SIGKILL;
Apache Kafka on an unclean leader election). A consumer that had read such an event before the loss
is fine; one that had not never will. So the relay watches the broker (a connection attempt every
`probe_interval`), and when it comes back after being away — or answers with
OutOfOrderSequenceNumber / UnknownProducerId, which says it lost its producers' state — the rows
published in the `loss_window` seconds before are published again. The inboxes drop the copies of
what was not lost.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

import asyncpg
from aiokafka import AIOKafkaProducer
from aiokafka.errors import OutOfOrderSequenceNumber, UnknownProducerId
from sqlalchemy import Text, cast, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from shared.backoff import retry_delay
from shared.calendar import utcnow
from shared.db import asyncpg_dsn
from shared.kafka import broker_reachable
from shared.observability import EVENTS_PUBLISHED, OUTBOX_OLDEST_UNSENT, OUTBOX_PUBLISH_FAILURES
from shared.outbox import OUTBOX_CHANNEL, outbox
from shared.wakeups import wait_for_wakeup

log = logging.getLogger("qamqor.relay")


class PublishFailed(Exception):
    """A batch could not be published; `seqs` are its rows."""

    def __init__(self, seqs: list[int], cause: BaseException) -> None:
        super().__init__(f"{type(cause).__name__}: {cause}")
        self.seqs = seqs
        self.cause = cause


class OutboxRelay:
    def __init__(
        self,
        *,
        service: str,
        database_url: str,
        sessionmaker: async_sessionmaker[AsyncSession],
        producer_factory: Callable[[], AIOKafkaProducer],
        batch_size: int = 1000,
        publish_timeout: float = 15.0,
        poll_interval: float = 1.0,
        listen_poll_interval: float = 30.0,
        listen_retry_interval: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], object] = asyncio.sleep,
        bootstrap: str | None = None,
        loss_window: float = 5.0,
        probe_interval: float = 1.0,
        reachable: Callable[[str], Awaitable[bool]] = broker_reachable,
    ) -> None:
        self.service = service
        self.database_url = database_url
        self.sessionmaker = sessionmaker
        self.producer_factory = producer_factory
        self.producer: AIOKafkaProducer | None = None
        self.batch_size = batch_size
        # While the broker is away a producer neither delivers nor fails a send; the relay gives
        # a batch this long, then releases its rows and tries again with a new producer.
        self.publish_timeout = publish_timeout
        self.poll_interval = poll_interval
        self.listen_poll_interval = listen_poll_interval
        self.listen_retry_interval = listen_retry_interval
        self.clock = clock
        self.sleep = sleep
        self._wake = asyncio.Event()
        self._listener: asyncpg.Connection | None = None
        self._next_listen_attempt = 0.0
        self.failures = 0  # consecutive failed batches
        self.producers_built = 0
        # The last moment the relay was known not to be stuck: it published, or had nothing to.
        self.last_progress = clock()
        self._idle = False  # waiting for a wake-up with the outbox drained
        # The broker's watch (None: not watched): the last time it was seen, whether it is away,
        # and the span of publication times to publish again.
        self.bootstrap = bootstrap
        self.loss_window = timedelta(seconds=loss_window)
        self.probe_interval = probe_interval
        self.reachable = reachable
        self._seen_at: datetime | None = None
        self._away = False
        self._publish_again: tuple[datetime, datetime] | None = None
        self.republished = 0

    @property
    def listening(self) -> bool:
        return self._listener is not None and not self._listener.is_closed()

    def stalled_for(self) -> float:
        """Seconds since the relay last made progress (0 while it keeps up, or waits with
        nothing left to publish)."""
        return 0.0 if self._idle else self.clock() - self.last_progress

    async def run(self) -> None:
        watch = asyncio.create_task(self.watch_broker()) if self.bootstrap else None
        try:
            while True:
                if not self.listening and self.clock() >= self._next_listen_attempt:
                    await self._listen()
                # Cleared before reading, so a row committed while this round reads wakes the next.
                self._wake.clear()
                try:
                    if self._publish_again is not None:
                        await self.publish_again(*self._publish_again)
                        self._publish_again = None
                    sent = await self.publish_pending()
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # noqa: BLE001 - every failure is waited out, then retried
                    await self._failed(exc)
                    continue
                self.failures = 0
                self.last_progress = self.clock()
                if sent >= self.batch_size:
                    continue  # more may be waiting
                self._idle = True
                try:
                    await wait_for_wakeup(self._wake, self.listen_poll_interval if self.listening else self.poll_interval)
                finally:
                    self._idle = False
        finally:
            if watch is not None:
                watch.cancel()
                await asyncio.gather(watch, return_exceptions=True)
            await self._drop_producer()
            await self.close()

    async def watch_broker(self) -> None:
        """Try a connection to the broker every `probe_interval`; when it answers again after
        being away, what was published in the `loss_window` before it was last seen goes out again."""
        while True:
            if await self.reachable(self.bootstrap):  # type: ignore[arg-type]
                if self._away and self._seen_at is not None:
                    self._lost_since(self._seen_at, "the broker is back after being away")
                self._away = False
                self._seen_at = utcnow()
            else:
                self._away = True
            await self.sleep(self.probe_interval)

    def _lost_since(self, seen_at: datetime, why: str) -> None:
        start = seen_at - self.loss_window
        if self._publish_again is not None:
            start = min(start, self._publish_again[0])
        self._publish_again = (start, utcnow())
        log.warning("%s: what was published since %s is published again (a broker may lose its last "
                    "acknowledged writes)", why, start.isoformat())
        self._wake.set()

    async def publish_again(self, start: datetime, end: datetime) -> int:
        """Mark the rows published between `start` and `end` unsent: the next rounds send them
        again, in their order."""
        async with self.sessionmaker() as session, session.begin():
            result = await session.execute(update(outbox).where(outbox.c.published_at.between(start, end))
                                           .values(published_at=None))
        self.republished += result.rowcount
        if result.rowcount:
            log.warning("%d outbox rows published again", result.rowcount)
        return result.rowcount

    async def _failed(self, exc: Exception) -> None:
        self.failures += 1
        OUTBOX_PUBLISH_FAILURES.labels(self.service).inc()
        delay = retry_delay(self.failures)
        cause = exc.cause if isinstance(exc, PublishFailed) else exc
        if isinstance(cause, OutOfOrderSequenceNumber | UnknownProducerId):
            # The broker lost its producers' state: it restarted, and may have lost writes too.
            self._lost_since(self._seen_at or utcnow(), "the broker lost the producer's state")
        log.warning("outbox batch not published (%s, failure %d in a row); new producer in %.1fs",
                    f"{type(cause).__name__}: {cause}"[:300], self.failures, delay)
        if isinstance(exc, PublishFailed):
            try:
                await self._note_failure(exc.seqs, f"{type(cause).__name__}: {cause}")
            except Exception:  # noqa: BLE001 - the database may be the thing that is away
                log.warning("could not note the failure on the outbox rows", exc_info=True)
        await self._drop_producer()
        await self.sleep(delay)

    async def _note_failure(self, seqs: list[int], error: str) -> None:
        async with self.sessionmaker() as session, session.begin():
            await session.execute(update(outbox).where(outbox.c.seq.in_(seqs))
                                  .values(attempts=outbox.c.attempts + 1, last_error=error[:2000]))

    async def _ready_producer(self) -> AIOKafkaProducer:
        if self.producer is None:
            producer = self.producer_factory()
            try:
                await producer.start()
            except BaseException:
                await producer.stop()
                raise
            self.producer = producer
            self.producers_built += 1
        return self.producer

    async def _drop_producer(self) -> None:
        producer, self.producer = self.producer, None
        if producer is not None:
            try:
                # A producer with sends the broker never answered would wait for them on stop.
                async with asyncio.timeout(5.0):
                    await producer.stop()
            except Exception:  # noqa: BLE001 - it is being thrown away
                log.debug("stopping a failed producer did not end cleanly", exc_info=True)

    async def _listen(self) -> None:
        await self.close()
        listener = None
        try:
            listener = await asyncpg.connect(asyncpg_dsn(self.database_url), timeout=5)
            await listener.add_listener(OUTBOX_CHANNEL, lambda *_: self._wake.set())
            # A lost connection wakes the relay at once: it polls again and listens anew.
            listener.add_termination_listener(lambda *_: self._wake.set())
            self._listener = listener
        except Exception:  # noqa: BLE001
            if listener is not None:
                listener.terminate()
            self._next_listen_attempt = self.clock() + self.listen_retry_interval
            log.warning("LISTEN unavailable; polling every %.0fs", self.poll_interval, exc_info=True)

    async def close(self) -> None:
        listener, self._listener = self._listener, None
        if listener is not None and not listener.is_closed():
            await listener.close()

    async def publish_pending(self) -> int:
        """Publish one batch; returns how many rows were sent. Raises PublishFailed (the rows
        stay unsent, their lock released) when the broker does not take them."""
        async with self.sessionmaker() as session, session.begin():
            rows = (
                await session.execute(
                    # the envelope as PostgreSQL's JSON text, sent as it is: decoding it into
                    # Python objects and encoding them again cost the relay most of its time
                    select(outbox.c.seq, outbox.c.topic, outbox.c.key, cast(outbox.c.envelope, Text).label("envelope"),
                           outbox.c.headers, outbox.c.event_type, outbox.c.created_at)
                    .where(outbox.c.published_at.is_(None))
                    .order_by(outbox.c.seq)
                    .limit(self.batch_size)
                    .with_for_update(skip_locked=True)
                )
            ).all()
            if not rows:
                OUTBOX_OLDEST_UNSENT.labels(self.service).set(0)
                return 0
            OUTBOX_OLDEST_UNSENT.labels(self.service).set((utcnow() - rows[0].created_at).total_seconds())
            try:
                async with asyncio.timeout(self.publish_timeout):
                    producer = await self._ready_producer()
                    futures = []
                    for row in rows:
                        headers = [(k, str(v).encode()) for k, v in (row.headers or {}).items()]
                        headers.append(("event_type", row.event_type.encode()))
                        futures.append(await producer.send(
                            row.topic, row.envelope.encode(), key=row.key.encode(), headers=headers))
                    await asyncio.gather(*futures)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - TimeoutError included
                raise PublishFailed([r.seq for r in rows], exc) from exc
            await session.execute(
                update(outbox).where(outbox.c.seq.in_([r.seq for r in rows])).values(published_at=utcnow())
            )
            for row in rows:
                EVENTS_PUBLISHED.labels(self.service, row.topic).inc()
            return len(rows)
