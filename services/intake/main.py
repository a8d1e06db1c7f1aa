"""Intake: applications and family composition, de-duplication, idempotency."""

from pathlib import Path

from fastapi import FastAPI

from services.intake import api, consumers
from services.intake.settings import IntakeSettings
from shared.service import ServiceSpec, create_service_app

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def create_app(settings: IntakeSettings | None = None) -> FastAPI:
    return create_service_app(ServiceSpec(
        name="intake",
        settings=settings or IntakeSettings(),
        routers=[api.router],
        handlers=consumers.handlers,
        subscribe=consumers.SUBSCRIBE,
        description="Applications for targeted social assistance and their status.",
    ))
