"""The outbox relay: publishes committed outbox rows to Kafka, in order, and marks them sent.

It wakes on LISTEN/NOTIFY (sent by `record_event` at commit). While its listening connection
is up nothing is missed, so it polls only as a safety net (every `listen_poll_interval`); when
the connection is lost it polls every `poll_interval` and tries to listen again. A crash between
send and mark re-sends the row on the next start: delivery is at-least-once, and consumers'
inboxes make it effectively once.
"""

from __future__ import annotations

import asyncio
import logging
import time

import asyncpg
import orjson
from aiokafka import AIOKafkaProducer
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from shared.calendar import utcnow
from shared.db import asyncpg_dsn
from shared.observability import EVENTS_PUBLISHED
from shared.wakeups import wait_for_wakeup
from shared.outbox import OUTBOX_CHANNEL, outbox

log = logging.getLogger("qamqor.relay")


class OutboxRelay:
    def __init__(
        self,
        *,
        service: str,
        database_url: str,
        sessionmaker: async_sessionmaker[AsyncSession],
        producer: AIOKafkaProducer,
        batch_size: int = 200,
        poll_interval: float = 1.0,
        listen_poll_interval: float = 30.0,
        listen_retry_interval: float = 10.0,
    ) -> None:
        self.service = service
        self.database_url = database_url
        self.sessionmaker = sessionmaker
        self.producer = producer
        self.batch_size = batch_size
        self.poll_interval = poll_interval
        self.listen_poll_interval = listen_poll_interval
        self.listen_retry_interval = listen_retry_interval
        self._wake = asyncio.Event()
        self._listener: asyncpg.Connection | None = None
        self._next_listen_attempt = 0.0

    @property
    def listening(self) -> bool:
        return self._listener is not None and not self._listener.is_closed()

    async def run(self) -> None:
        while True:
            if not self.listening and time.monotonic() >= self._next_listen_attempt:
                await self._listen()
            # Cleared before reading, so a row committed while this round reads wakes the next.
            self._wake.clear()
            try:
                sent = await self.publish_pending()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("outbox relay failed; retrying")
                await asyncio.sleep(1.0)
                continue
            if sent >= self.batch_size:
                continue  # more may be waiting
            await wait_for_wakeup(self._wake, self.listen_poll_interval if self.listening else self.poll_interval)

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
            self._next_listen_attempt = time.monotonic() + self.listen_retry_interval
            log.warning("LISTEN unavailable; polling every %.0fs", self.poll_interval, exc_info=True)

    async def close(self) -> None:
        listener, self._listener = self._listener, None
        if listener is not None and not listener.is_closed():
            await listener.close()

    async def publish_pending(self) -> int:
        """Publish one batch; returns how many rows were sent."""
        async with self.sessionmaker() as session, session.begin():
            rows = (
                await session.execute(
                    select(outbox.c.seq, outbox.c.topic, outbox.c.key, outbox.c.envelope, outbox.c.headers, outbox.c.event_type)
                    .where(outbox.c.published_at.is_(None))
                    .order_by(outbox.c.seq)
                    .limit(self.batch_size)
                    .with_for_update(skip_locked=True)
                )
            ).all()
            if not rows:
                return 0
            futures = []
            for row in rows:
                headers = [(k, str(v).encode()) for k, v in (row.headers or {}).items()]
                headers.append(("event_type", row.event_type.encode()))
                futures.append(
                    await self.producer.send(
                        row.topic, orjson.dumps(row.envelope), key=row.key.encode(), headers=headers
                    )
                )
            await asyncio.gather(*futures)
            await session.execute(
                update(outbox).where(outbox.c.seq.in_([r.seq for r in rows])).values(published_at=utcnow())
            )
            for row in rows:
                EVENTS_PUBLISHED.labels(self.service, row.topic).inc()
            return len(rows)
