"""Eligibility's link to the outside: the parameter cache that listens to PostgreSQL."""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime

import asyncpg
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.eligibility import repository
from services.eligibility.domain import ParameterSet, ParameterValue, value_from_json
from services.eligibility.models import ParameterRecord
from shared.db import asyncpg_dsn

log = logging.getLogger("qamqor.eligibility")


def to_parameter_value(record: ParameterRecord) -> ParameterValue:
    return ParameterValue(name=record.name, region_kato=record.region_kato, valid_from=record.valid_from,
                          valid_to=record.valid_to, value=value_from_json(record.name, record.value),
                          recorded_at=record.recorded_at)


class ParameterCache:
    """All parameter records, indexed in memory; reloaded when any process records a new value
    (PostgreSQL NOTIFY), so an estimate costs no database round trip."""

    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession], database_url: str) -> None:
        self.sessionmaker = sessionmaker
        self.database_url = database_url
        self._values: list[ParameterValue] | None = None
        self._current: ParameterSet | None = None
        self._lock = asyncio.Lock()
        self._listener: asyncpg.Connection | None = None
        # Set whenever parameters change, so decisions waiting for a missing value are retried.
        self.changed = asyncio.Event()

    async def __aenter__(self) -> "ParameterCache":
        try:
            self._listener = await asyncpg.connect(asyncpg_dsn(self.database_url))
            await self._listener.add_listener(repository.PARAMETERS_CHANNEL, lambda *_: self.invalidate())
        except Exception:  # noqa: BLE001
            log.warning("LISTEN for parameter changes unavailable; reloading on every change in this process only")
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._listener is not None:
            await self._listener.close()

    def invalidate(self) -> None:
        self._values = None
        self._current = None
        self.changed.set()

    async def values(self) -> list[ParameterValue]:
        if self._values is None:
            async with self._lock:
                if self._values is None:
                    async with self.sessionmaker() as session:
                        records = await repository.all_parameters(session)
                    self._values = [to_parameter_value(r) for r in records]
        return self._values

    async def current(self) -> ParameterSet:
        if self._current is None:
            self._current = ParameterSet(await self.values())
        return self._current

    async def as_of(self, moment: datetime) -> ParameterSet:
        return ParameterSet(await self.values(), as_of=moment)
