"""Verification: incomes from state registries, frozen as the evidence of each decision."""

from pathlib import Path

import httpx
from fastapi import FastAPI

from services.verification import api, consumers
from services.verification.adapters import HttpIncomeRegistry
from services.verification.settings import VerificationSettings
from shared.service import ServiceSpec, create_service_app

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


class _Registry:
    """The income registry adapter with its pooled HTTP client, for the app's lifetime."""

    def __init__(self, settings: VerificationSettings) -> None:
        self.client = httpx.AsyncClient(base_url=settings.income_registry_url,
                                        timeout=httpx.Timeout(settings.registry_timeout_seconds))

    async def __aenter__(self) -> HttpIncomeRegistry:
        return HttpIncomeRegistry(self.client)

    async def __aexit__(self, *exc: object) -> None:
        await self.client.aclose()


def create_app(settings: VerificationSettings | None = None) -> FastAPI:
    settings = settings or VerificationSettings()
    return create_service_app(ServiceSpec(
        name="verification",
        settings=settings,
        routers=[api.router],
        handlers=consumers.handlers,
        subscribe=consumers.SUBSCRIBE,
        resources={"income_registry": lambda app: _Registry(settings)},
        description="Evidence from state registries for each application.",
    ))
