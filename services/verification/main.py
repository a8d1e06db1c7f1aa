"""Verification: incomes from state registries, frozen as the evidence of each decision."""

from pathlib import Path

from fastapi import FastAPI

from services.verification import api, consumers
from services.verification.adapters import PooledIncomeRegistry
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
        resources={"income_registry": lambda app: PooledIncomeRegistry(settings)},
        description="Evidence from state registries for each application.",
    ))
