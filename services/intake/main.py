"""Intake: applications and family composition, de-duplication, idempotency."""

from pathlib import Path

from fastapi import FastAPI

from services.intake import api, consumers, reconciliation
from services.intake.settings import IntakeSettings
from shared.service import ServiceSpec, create_service_app

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def create_app(settings: IntakeSettings | None = None) -> FastAPI:
    settings = settings or IntakeSettings()
    return create_service_app(ServiceSpec(
        name="intake",
        settings=settings,
        routers=[api.router],
        handlers=consumers.handlers,
        subscribe=consumers.SUBSCRIBE,
        tasks={"reconciliation sweep": lambda app: reconciliation.run_sweeps(
            sessionmaker=app.state.sessionmaker, policy=reconciliation.ReconciliationPolicy.of(settings),
            interval=settings.reconciliation_interval_seconds)},
        description="Applications for targeted social assistance and their status.",
    ))
