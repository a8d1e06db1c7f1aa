"""Contracts: social contracts for families with able-bodied members."""

from pathlib import Path

from fastapi import FastAPI

from services.contracts import api, consumers, service
from services.contracts.settings import ContractsSettings
from shared.service import ServiceSpec, create_service_app

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def create_app(settings: ContractsSettings | None = None) -> FastAPI:
    settings = settings or ContractsSettings()
    return create_service_app(ServiceSpec(
        name="contracts",
        settings=settings,
        routers=[api.router],
        handlers=consumers.handlers,
        subscribe=consumers.SUBSCRIBE,
        tasks={"lapse and completion sweep": lambda app: service.run_sweep(
            sessionmaker=app.state.sessionmaker, interval=settings.sweep_interval_seconds)},
        description="Social contracts: obligations, signing, measures, breaches, termination.",
    ))
