"""Eligibility: the rules engine, its parameters and its decisions."""

from pathlib import Path

from fastapi import FastAPI

import httpx

from services.eligibility import api, consumers, simulation_api
from services.eligibility.reassessments import Reassessments
from services.eligibility.adapters import ParameterCache
from services.eligibility.settings import EligibilitySettings
from shared.service import ServiceSpec, create_service_app

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def create_app(settings: EligibilitySettings | None = None) -> FastAPI:
    settings = settings or EligibilitySettings()
    return create_service_app(ServiceSpec(
        name="eligibility",
        settings=settings,
        routers=[api.router, simulation_api.router],
        handlers=consumers.handlers,
        subscribe=consumers.SUBSCRIBE,
        resources={
            "parameters": lambda app: ParameterCache(app.state.sessionmaker, settings.database_url),
            # the income registry's bulk extract (issue 12), for reassessment runs
            "income_registry": lambda app: httpx.AsyncClient(
                base_url=settings.income_registry_url, timeout=settings.registry_timeout_seconds),
            "reassessments": Reassessments,
        },
        tasks={"pending decisions": lambda app: consumers.retry_pending_decisions(
            sessionmaker=app.state.sessionmaker, cache=app.state.parameters),
            # runs started here or elsewhere, and runs a crash left unfinished (resumed at start-up)
            "reassessment runs": lambda app: app.state.reassessments.loop(),
            # the coming quarter's register read ahead, for the first simulation
            **({"simulation read-ahead": simulation_api.keep_warm} if settings.simulation_read_ahead else {})},
        description="Targeted social assistance rules: estimates, decisions, parameters.",
    ))
