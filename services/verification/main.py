"""Verification: incomes and purchases from state registries and, with every adult's consent, the banks'
cash-flow aggregates, frozen as the evidence of each decision."""

import asyncio
from pathlib import Path

from fastapi import FastAPI

from services.verification import api, consumers, service
from services.verification.adapters import PooledExternalSystems, PooledIncomeRegistry
from services.verification.settings import VerificationSettings
from shared.service import ServiceSpec, create_service_app

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def create_app(settings: VerificationSettings | None = None) -> FastAPI:
    settings = settings or VerificationSettings()
    return create_service_app(ServiceSpec(
        name="verification",
        settings=settings,
        routers=[api.router],
        handlers=consumers.handlers,
        subscribe=consumers.SUBSCRIBE,
        resources={"income_registry": lambda app: PooledIncomeRegistry(settings),
                   # The accounts registry, the two asset registries and the banks' Open API.
                   "external_systems": lambda app: PooledExternalSystems(settings),
                   # Which external systems this process saw fail last.
                   "availability": lambda app: service.Availability(),
                   # Set when an application starts waiting in this process: the retry loop looks.
                   "waiting_changed": lambda app: asyncio.Event(),
                   # Set when bank requests are committed in this process: the dispatcher sends them.
                   "bank_requests_written": lambda app: asyncio.Event()},
        tasks={"retry of waiting applications": lambda app: consumers.retry_waiting_applications(
            sessionmaker=app.state.sessionmaker, registries=lambda: consumers.registries(app),
            policy=consumers.outage_policy(settings), availability=app.state.availability,
            wake=app.state.waiting_changed, bank_deadline_days=settings.bank_deadline_business_days,
            poll_seconds=settings.outage_poll_seconds),
            "bank request dispatcher": lambda app: consumers.send_bank_requests(
                sessionmaker=app.state.sessionmaker, registries=lambda: consumers.registries(app),
                policy=consumers.outage_policy(settings), wake=app.state.bank_requests_written,
                poll_seconds=settings.bank_poll_seconds),
            "overdue sweep": lambda app: consumers.mark_overdue_applications(
                sessionmaker=app.state.sessionmaker, poll_seconds=settings.overdue_poll_seconds)},
        description="Evidence from state registries for each application.",
    ))
