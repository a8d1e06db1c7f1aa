"""The outbox relay: publishes committed outbox rows to Kafka, in order, and marks them sent.

It wakes on LISTEN/NOTIFY (sent by `record_event` at commit) and also polls, so a missed
notification only delays publication. A crash between send and mark re-sends the row on the
next start: delivery is at-least-once, and consumers' inboxes make it effectively once.
"""

from __future__ import annotations

import asyncio
import logging

import asyncpg
import orjson
from aiokafka import AIOKafkaProducer
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from shared.calendar import utcnow
from shared.db import asyncpg_dsn
from shared.observability import EVENTS_PUBLISHED
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
    ) -> None:
        self.service = service
        self.database_url = database_url
        self.sessionmaker = sessionmaker
        self.producer = producer
        self.batch_size = batch_size
        self.poll_interval = poll_interval
        self._wake = asyncio.Event()
        self._listener: asyncpg.Connection | None = None

    async def run(self) -> None:
        await self._listen()
        while True:
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
            self._wake.clear()
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=self.poll_interval)
            except asyncio.TimeoutError:
                pass

    async def _listen(self) -> None:
        try:
            self._listener = await asyncpg.connect(asyncpg_dsn(self.database_url))
            await self._listener.add_listener(OUTBOX_CHANNEL, lambda *_: self._wake.set())
        except Exception:
            log.warning("LISTEN unavailable; relying on polling", exc_info=True)

    async def close(self) -> None:
        if self._listener is not None:
            await self._listener.close()

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
