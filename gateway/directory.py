"""The in-memory view of callers and signing keys that every request reads.

Correctness with several gateway instances: each change commits together with a pg_notify; each
instance LISTENs and reloads the changed caller at once, and reloads everything every few
seconds in case a notification was lost (listener reconnecting). Reloads are serialised, so an
older full snapshot can never overwrite a newer single-caller reload.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

import asyncpg
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gateway import repository
from gateway.crypto import MasterKey
from gateway.models import CALLERS_CHANNEL, KEYS_CHANNEL
from gateway.callers import CallerRecord
from gateway.tokens import KeyRing
from shared.db import asyncpg_dsn

log = logging.getLogger("qamqor.gateway.directory")


class RegistryUnreachable(Exception):
    """The callers' table cannot be read (the database is away): not the caller's fault."""


class CallerDirectory:
    def __init__(
        self, *, sessionmaker: async_sessionmaker[AsyncSession], database_url: str, master_key: MasterKey,
        keyring: KeyRing, refresh_seconds: float,
    ) -> None:
        self.sessionmaker = sessionmaker
        self.database_url = database_url
        self.master_key = master_key
        self.keyring = keyring
        self.refresh_seconds = refresh_seconds
        self._callers: dict[str, CallerRecord] = {}
        self._lock = asyncio.Lock()
        self._listener: asyncpg.Connection | None = None
        self._tasks: set[asyncio.Task] = set()
        self._refresher: asyncio.Task | None = None
        self.on_change: list[Callable[[str], None]] = []

    # -- reads (hot path) --

    def get(self, caller_id: str) -> CallerRecord | None:
        return self._callers.get(caller_id)

    async def lookup(self, caller_id: str) -> CallerRecord | None:
        """From memory, or from the database for a caller this instance has not seen yet."""
        record = self._callers.get(caller_id)
        if record is None:
            record = await self.reload_one(caller_id)
        return record

    async def find(self, caller_id: str) -> CallerRecord | None:
        """`lookup`, with the database's failure logged and raised as RegistryUnreachable (a 503 for
        whoever asks, never a 500)."""
        record = self._callers.get(caller_id)
        if record is not None:
            return record
        try:
            return await self.reload_one(caller_id)
        except Exception:  # noqa: BLE001 — the registry is unreachable: not the caller's fault
            log.warning("caller registry unavailable", exc_info=True)
            raise RegistryUnreachable from None

    # -- reloads --

    async def reload_all(self) -> None:
        async with self._lock:
            async with self.sessionmaker() as session:
                rows = await repository.list_callers(session)
            self._callers = {row.id: CallerRecord.from_row(row, self.master_key) for row in rows}

    async def reload_one(self, caller_id: str) -> CallerRecord | None:
        async with self._lock:
            async with self.sessionmaker() as session:
                row = await repository.get_caller(session, caller_id)
            if row is None:
                self._callers.pop(caller_id, None)
                return None
            record = CallerRecord.from_row(row, self.master_key)
            self._callers[caller_id] = record
        for hook in self.on_change:
            hook(caller_id)
        return record

    async def reload_keys(self) -> None:
        await self.keyring.load(self.sessionmaker)

    # -- lifecycle --

    async def start(self) -> None:
        await self._listen()
        await self.reload_all()
        await self.reload_keys()
        self._refresher = asyncio.create_task(self._refresh_forever())

    async def stop(self) -> None:
        if self._refresher is not None:
            self._refresher.cancel()
            await asyncio.gather(self._refresher, return_exceptions=True)
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._listener is not None and not self._listener.is_closed():
            await self._listener.close()

    @property
    def listening(self) -> bool:
        return self._listener is not None and not self._listener.is_closed()

    async def _listen(self) -> None:
        try:
            conn = await asyncpg.connect(asyncpg_dsn(self.database_url), timeout=5)
            await conn.add_listener(CALLERS_CHANNEL, self._notified)
            await conn.add_listener(KEYS_CHANNEL, self._notified)
            self._listener = conn
        except (TimeoutError, OSError, asyncpg.PostgresError):
            log.warning("caller change notifications unavailable; relying on periodic refresh", exc_info=True)
            self._listener = None

    def _notified(self, _conn: object, _pid: int, channel: str, payload: str) -> None:
        work = self.reload_one(payload) if channel == CALLERS_CHANNEL else self.reload_keys()
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _refresh_forever(self) -> None:
        while True:
            await asyncio.sleep(self.refresh_seconds)
            try:
                if not self.listening:
                    await self._listen()
                await self.reload_all()
                await self.reload_keys()
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 — the database may be down; keep serving from memory
                log.warning("caller refresh failed", exc_info=True)
