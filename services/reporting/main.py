"""Reporting: the read model the ops dashboards use, and the dead letters operators replay."""

from pathlib import Path

from fastapi import FastAPI

from services.reporting import api, consumers
from services.reporting.settings import ReportingSettings
from shared.service import ServiceSpec, create_service_app

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def create_app(settings: ReportingSettings | None = None) -> FastAPI:
    settings = settings or ReportingSettings()
    return create_service_app(ServiceSpec(
        name="reporting",
        settings=settings,
        routers=[api.router, api.operations],
        handlers=consumers.handlers,
        subscribe=consumers.SUBSCRIBE,
        tasks={"dead letters": lambda app: consumers.follow_dead_letters(
            settings=settings, sessionmaker=app.state.sessionmaker)},
        description="Statistics for ops dashboards, projected from every event; the dead letters operators "
                    "inspect and replay.",
    ))
