"""Contracts: social contracts for families with able-bodied members."""

from pathlib import Path

from fastapi import FastAPI

from services.contracts import api, consumers
from services.contracts.settings import ContractsSettings
from shared.service import ServiceSpec, create_service_app

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def create_app(settings: ContractsSettings | None = None) -> FastAPI:
    return create_service_app(ServiceSpec(
        name="contracts",
        settings=settings or ContractsSettings(),
        routers=[api.router],
        handlers=consumers.handlers,
        subscribe=consumers.SUBSCRIBE,
        description="Social contracts: obligations, signing, progress.",
    ))
