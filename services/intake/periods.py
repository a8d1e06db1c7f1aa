"""The period-end sweep: an assigned application holds its members for its assignment period only.

Targeted social assistance is assigned quarter by quarter. Once the last month of an approved
application's period is over (a business date in Almaty), the application ends (`ended`) and its
members are free to apply again. One active application per person is enforced by the database
(the partial unique index on active members), so "no longer active" is a status change written to
that index's rows, not a condition computed at read time: the index keeps deciding between two
simultaneous submissions. Two writers end applications:

- this sweep, every `period_end_interval_seconds`, ends in batches every assigned application whose
  period quarter is before the current one; driven by the database alone (the statuses and
  decisions), so a restart loses nothing, and a row another process holds is skipped (it is
  being ended there);
- the check at the door (service._create) ends a member's application whose period is over, in
  the submission's transaction, so a family never waits for the next sweep to apply again.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.intake import service
from shared.calendar import utcnow

log = logging.getLogger("qamqor.intake.periods")


async def sweep_once(*, sessionmaker: async_sessionmaker[AsyncSession], now: datetime, batch: int = 500) -> int:
    """End every assigned application whose period is over at `now`, a batch per transaction;
    how many were ended."""
    total = 0
    while True:
        async with sessionmaker() as session, session.begin():
            ended = await service.end_assignment_periods(session, now=now, limit=batch)
        total += ended
        if ended < batch:
            return total


async def run_period_sweep(*, sessionmaker: async_sessionmaker[AsyncSession], interval: float,
                           clock: Callable[[], datetime] = utcnow) -> None:
    """For the life of the process: a sweep every `interval` seconds."""
    while True:
        ended = await sweep_once(sessionmaker=sessionmaker, now=clock())
        if ended:
            log.info("%d application(s) ended with their assignment period", ended)
        await asyncio.sleep(interval)
