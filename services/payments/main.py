"""Payments: monthly payments of each assignment, bank orders and statuses."""

from pathlib import Path

from fastapi import FastAPI

from services.payments import api, consumers
from services.payments.settings import PaymentsSettings
from shared.service import ServiceSpec, create_service_app

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def create_app(settings: PaymentsSettings | None = None) -> FastAPI:
    return create_service_app(ServiceSpec(
        name="payments",
        settings=settings or PaymentsSettings(),
        routers=[api.router],
        handlers=consumers.handlers,
        subscribe=consumers.SUBSCRIBE,
        description="Payment schedules, bank payment orders and statuses.",
    ))
