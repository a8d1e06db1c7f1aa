"""The audit log: one record per request, written in batches off the request path.

A request appends a tuple to memory; a background task inserts what accumulated every
`flush_seconds` (or sooner when a batch fills). If the database is down the buffer keeps up to
`buffer_limit` records and then drops the oldest, counting them in a metric, so an outage of
the audit store never stops the door."""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timezone

from prometheus_client import Counter
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway import repository
from shared.wakeups import wait_for_wakeup
from shared.iin import mask_iins_in

log = logging.getLogger("qamqor.gateway.audit")
AUDIT_DROPPED = Counter("qamqor_gateway_audit_dropped_total", "Audit records dropped while the store was down")

COLUMNS = ("at", "caller_id", "caller_kind", "method", "route", "path", "service", "status", "latency_ms",
           "request_id", "client_ip")


class AuditLog:
    def __init__(self, engine: AsyncEngine, *, flush_seconds: float, batch_size: int, buffer_limit: int) -> None:
        self.engine = engine
        self.flush_seconds = flush_seconds
        self.batch_size = batch_size
        self.buffer_limit = buffer_limit
        self._pending: list[tuple] = []
        self._wake = asyncio.Event()
        self._task: asyncio.Task | None = None

    def record(self, *, at: float, caller_id: str | None, caller_kind: str | None, method: str, route: str,
               path: str, service: str | None, status: int, latency_ms: float, request_id: str,
               client_ip: str | None) -> None:
        # IINs are masked here, once; nothing unmasked is kept even in memory.
        self._pending.append((at, caller_id, caller_kind, method[:10], route[:200], mask_iins_in(path)[:500],
                              service, status, latency_ms, request_id[:128], (client_ip or "")[:64] or None))
        if len(self._pending) >= self.batch_size:
            self._wake.set()

    async def flush(self) -> int:
        if not self._pending:
            return 0
        batch, self._pending = self._pending, []
        rows = [dict(zip(COLUMNS, rec, strict=True)) for rec in batch]
        for row in rows:
            row["at"] = datetime.fromtimestamp(row["at"], timezone.utc)
        try:
            async with self.engine.begin() as conn:
                await repository.insert_audit_records(conn, rows)
        except Exception:
            # Put the batch back in front of newer records; bound the total.
            self._pending = batch + self._pending
            overflow = len(self._pending) - self.buffer_limit
            if overflow > 0:
                del self._pending[:overflow]
                AUDIT_DROPPED.inc(overflow)
            raise
        return len(batch)

    async def _run(self) -> None:
        while True:
            await wait_for_wakeup(self._wake, self.flush_seconds)
            self._wake.clear()
            try:
                await self.flush()
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001
                log.warning("audit flush failed; %d records kept for retry", len(self._pending), exc_info=True)
                await asyncio.sleep(1.0)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        try:
            await self.flush()
        except Exception:  # noqa: BLE001
            log.error("audit records lost at shutdown: %d", len(self._pending), exc_info=True)
