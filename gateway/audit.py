"""The gateway's two records, both written in batches off the request path:

- the audit log: one record per request (who called what, with what outcome);
- the data-access record: one row per person whose data an answer carried (who read whose data,
  when and why) — Kazakhstan's law on personal data expects it. A service names those people in
  the `x-qamqor-data-subjects` answer header (`shared.access`); the gateway strips the header,
  and keeps each person only as an HMAC of the IIN (searchable, not readable) and masked.

A request appends a row to memory; a background task inserts what accumulated every
`flush_seconds` (or sooner when a batch fills). If the database is down the buffer keeps up to
`buffer_limit` rows and then drops the oldest, counting them in a metric, so an outage of the
store never stops the door."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timezone
from typing import Any

from prometheus_client import Counter
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from gateway import repository
from shared.iin import is_valid_iin, mask_iin, mask_iins_in
from shared.wakeups import wait_for_wakeup

log = logging.getLogger("qamqor.gateway.audit")
AUDIT_DROPPED = Counter("qamqor_gateway_audit_dropped_total", "Audit records dropped while the store was down")
DATA_ACCESS_DROPPED = Counter("qamqor_gateway_data_access_dropped_total",
                              "Data-access records dropped while the store was down")

# Why each kind of caller reads people's data: the purpose the record states for every read.
# A caller may add its own reason for one request in the X-Qamqor-Purpose header.
PURPOSES: dict[str, str] = {
    "portal": "citizen self-service: the citizen's own application and family",
    "fdc": "proactive notification of families likely to be eligible",
    "bank": "payment processing",
    "sms_gateway": "notifying the applicant",
    "ops": "monitoring of the programme",
    "case_worker": "case management in the assigned regions",
    "admin": "administration",
}
PURPOSE_HEADER = "x-qamqor-purpose"
MAX_STATED_PURPOSE = 200


class BatchedWriter:
    """Rows kept in memory and inserted in batches by a background task."""

    def __init__(self, engine: AsyncEngine, insert: Callable[[AsyncConnection, list[dict[str, Any]]], Awaitable[None]],
                 *, name: str, dropped: Counter, flush_seconds: float, batch_size: int, buffer_limit: int) -> None:
        self.engine = engine
        self._insert = insert
        self.name = name
        self._dropped = dropped
        self.flush_seconds = flush_seconds
        self.batch_size = batch_size
        self.buffer_limit = buffer_limit
        self._pending: list[dict[str, Any]] = []
        self._wake = asyncio.Event()
        self._task: asyncio.Task | None = None

    def append(self, row: dict[str, Any]) -> None:
        self._pending.append(row)
        if len(self._pending) >= self.batch_size:
            self._wake.set()

    async def flush(self) -> int:
        if not self._pending:
            return 0
        batch, self._pending = self._pending, []
        try:
            async with self.engine.begin() as conn:
                await self._insert(conn, batch)
        except Exception:
            # Put the batch back in front of newer rows; bound the total.
            self._pending = batch + self._pending
            overflow = len(self._pending) - self.buffer_limit
            if overflow > 0:
                del self._pending[:overflow]
                self._dropped.inc(overflow)
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
                log.warning("%s flush failed; %d rows kept for retry", self.name, len(self._pending), exc_info=True)
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
            log.error("%s rows lost at shutdown: %d", self.name, len(self._pending), exc_info=True)


def _when(at: float) -> datetime:
    return datetime.fromtimestamp(at, timezone.utc)


def masked_citizen(iin: str | None) -> str | None:
    return mask_iin(iin) if iin else None


class AuditLog(BatchedWriter):
    def __init__(self, engine: AsyncEngine, *, flush_seconds: float, batch_size: int, buffer_limit: int) -> None:
        super().__init__(engine, repository.insert_audit_records, name="audit", dropped=AUDIT_DROPPED,
                         flush_seconds=flush_seconds, batch_size=batch_size, buffer_limit=buffer_limit)

    def record(self, *, at: float, caller_id: str | None, caller_kind: str | None, method: str, route: str,
               path: str, service: str | None, status: int, latency_ms: float, request_id: str,
               client_ip: str | None, citizen_iin: str | None = None) -> None:
        # IINs are masked here, once; nothing unmasked is kept even in memory.
        self.append({
            "at": _when(at), "caller_id": caller_id, "caller_kind": caller_kind,
            "acting_for": masked_citizen(citizen_iin), "method": method[:10], "route": route[:200],
            "path": mask_iins_in(path)[:500], "service": service, "status": status, "latency_ms": latency_ms,
            "request_id": request_id[:128], "client_ip": (client_ip or "")[:64] or None,
        })


class SubjectIndex:
    """The IIN → HMAC that the data-access record is kept and searched under. The key is derived
    from the gateway master key, so the table alone does not tell whose data was read."""

    def __init__(self, key: bytes) -> None:
        self._key = key

    def of(self, iin: str) -> str:
        return hmac.new(self._key, iin.encode("ascii", "replace"), hashlib.sha256).hexdigest()


def data_subjects(header: bytes | str) -> list[str]:
    """The IINs a service named in the data-subjects header, each once; anything else dropped."""
    text = header.decode("latin-1") if isinstance(header, bytes) else header
    return [iin for iin in dict.fromkeys(part.strip() for part in text.split(",")) if is_valid_iin(iin)]


class DataAccessLog(BatchedWriter):
    def __init__(self, engine: AsyncEngine, index: SubjectIndex, *, flush_seconds: float, batch_size: int,
                 buffer_limit: int) -> None:
        super().__init__(engine, repository.insert_data_access_records, name="data-access",
                         dropped=DATA_ACCESS_DROPPED, flush_seconds=flush_seconds, batch_size=batch_size,
                         buffer_limit=buffer_limit)
        self.index = index

    def record(self, *, at: float, caller_id: str, caller_kind: str, citizen_iin: str | None, method: str,
               route: str, status: int, request_id: str, stated_purpose: str | None, subjects: list[str]) -> None:
        """One row per person; only the HMAC and the masked IIN are kept, even in memory."""
        common = {
            "at": _when(at), "caller_id": caller_id, "caller_kind": caller_kind,
            "acting_for": masked_citizen(citizen_iin), "method": method[:10], "route": route[:200],
            "status": status, "request_id": request_id[:128],
            "purpose": PURPOSES.get(caller_kind, "unstated")[:200], "stated_purpose": stated_purpose,
        }
        for iin in subjects:
            self.append(common | {"subject_hmac": self.index.of(iin), "subject_masked": mask_iin(iin)})
