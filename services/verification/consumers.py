"""Which events verification follows, and the use case each one runs; and the loop that retries
the applications waiting for an external system that is down."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime, timedelta

from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.verification import domain, service
from services.verification.settings import VerificationSettings
from shared.calendar import utcnow
from shared.events.contracts import TOPICS
from shared.redrive import redrive_handler
from shared.wakeups import wait_for_wakeup

SUBSCRIBE = (TOPICS["intake"],)


def outage_policy(settings: VerificationSettings) -> domain.OutagePolicy:
    return domain.OutagePolicy(first_retry=timedelta(seconds=settings.outage_first_retry_seconds),
                               max_retry=timedelta(seconds=settings.outage_max_retry_seconds),
                               give_up_after=timedelta(seconds=settings.outage_give_up_after_seconds))


def registries(app: FastAPI) -> service.Registries:
    """The external systems of this process (app resources, opened with the app)."""
    systems = app.state.external_systems
    return service.Registries(income=app.state.income_registry, accounts=systems.accounts,
                              real_estate=systems.real_estate, vehicles=systems.vehicles, banks=systems.banks,
                              callback_url=systems.callback_url,
                              requests_written=app.state.bank_requests_written.set)


CONSENT_EVENTS = ("consent.requested", "consent.granted", "consent.refused", "consent.expired", "consent.withdrawn")


def handlers(app: FastAPI) -> dict:
    settings: VerificationSettings = app.state.settings
    policy = outage_policy(settings)

    async def on_application_submitted(session, envelope):  # noqa: ANN001
        await service.gather_evidence(session, envelope, registries=registries(app), policy=policy,
                                      availability=app.state.availability,
                                      bank_deadline_days=settings.bank_deadline_business_days,
                                      on_waiting=app.state.waiting_changed.set)

    async def on_consent(session, envelope):  # noqa: ANN001
        await service.follow_consent(session, envelope, registries=registries(app), policy=policy,
                                     availability=app.state.availability,
                                     bank_deadline_days=settings.bank_deadline_business_days,
                                     on_waiting=app.state.waiting_changed.set)

    return {"application.submitted": on_application_submitted,
            **{event_type: on_consent for event_type in CONSENT_EVENTS},
            "reconciliation.requested": redrive_handler(service.SOURCE)}


async def retry_waiting_applications(*, sessionmaker: async_sessionmaker[AsyncSession],
                                     registries: Callable[[], service.Registries],
                                     policy: domain.OutagePolicy, availability: service.Availability,
                                     wake: asyncio.Event, poll_seconds: float, bank_deadline_days: int = 1,
                                     clock: Callable[[], datetime] = utcnow) -> None:
    """Runs for the life of the process, driven by the waiting applications' table (so a restart
    loses nothing): tries each one when it is due, sleeps until the next is due (at most
    `poll_seconds`) or an application starts waiting in this process."""
    while True:
        wake.clear()
        tried, next_due = await service.retry_waiting(sessionmaker=sessionmaker, registries=registries(),
                                                      policy=policy, availability=availability, now=clock(),
                                                      bank_deadline_days=bank_deadline_days)
        if next_due is None:
            pause = poll_seconds
        else:
            pause = min(poll_seconds, max(0.0, (next_due - clock()).total_seconds()))
            if not tried:
                pause = max(pause, 0.1)  # due, but another process is trying them: do not spin
        if pause > 0:
            await wait_for_wakeup(wake, pause)


async def mark_overdue_applications(*, sessionmaker: async_sessionmaker[AsyncSession], poll_seconds: float,
                                    clock: Callable[[], datetime] = utcnow) -> None:
    """Runs for the life of the process, driven by the checks' table (a restart loses nothing):
    announces each application whose bank has not answered by the deadline."""
    while True:
        await service.mark_overdue(sessionmaker=sessionmaker, now=clock())
        await asyncio.sleep(poll_seconds)


async def send_bank_requests(*, sessionmaker: async_sessionmaker[AsyncSession], registries: Callable[[], service.Registries],
                             policy: domain.OutagePolicy, wake: asyncio.Event, poll_seconds: float,
                             clock: Callable[[], datetime] = utcnow) -> None:
    """The bank request dispatcher, for the life of the process, driven by the requests' table
    (a restart loses nothing): sends each request once it is committed (woken by this process, or
    found by its poll when another process wrote it), and again while the bank is down."""
    while True:
        wake.clear()
        systems = registries()
        sent, next_due = await service.send_bank_requests(sessionmaker=sessionmaker, banks=systems.banks,
                                                          callback_url=systems.callback_url, policy=policy,
                                                          now=clock())
        pause = poll_seconds if next_due is None else min(poll_seconds, max(0.0, (next_due - clock()).total_seconds()))
        if next_due is not None and not sent:
            pause = max(pause, 0.1)  # due, but being sent elsewhere: do not spin
        if pause > 0:
            await wait_for_wakeup(wake, pause)
