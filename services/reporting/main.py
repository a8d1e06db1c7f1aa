"""Reporting: the read model the ops dashboards use."""

from pathlib import Path

from fastapi import FastAPI

from services.reporting import api, consumers
from services.reporting.settings import ReportingSettings
from shared.service import ServiceSpec, create_service_app

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def create_app(settings: ReportingSettings | None = None) -> FastAPI:
    return create_service_app(ServiceSpec(
        name="reporting",
        settings=settings or ReportingSettings(),
        routers=[api.router],
        handlers=consumers.handlers,
        subscribe=consumers.SUBSCRIBE,
        description="Statistics for ops dashboards, projected from every event.",
    ))
