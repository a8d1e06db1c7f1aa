"""Intake: applications and family composition, de-duplication, idempotency."""

from pathlib import Path
from typing import Any

from fastapi import FastAPI

from services.intake import api, consumers
from services.intake.settings import IntakeSettings
from shared.errors import PROBLEM_JSON
from shared.service import ServiceSpec, create_service_app

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def create_app(settings: IntakeSettings | None = None) -> FastAPI:
    app = create_service_app(ServiceSpec(
        name="intake",
        settings=settings or IntakeSettings(),
        routers=[api.router],
        handlers=consumers.handlers,
        subscribe=consumers.SUBSCRIBE,
        description="Applications for targeted social assistance and their status.",
    ))
    _document_problems_as_problem_json(app)
    return app


def _document_problems_as_problem_json(app: FastAPI) -> None:
    """FastAPI documents a route's `responses=` model under the route's own media type
    (application/json); every error answer is application/problem+json."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        document = generate()  # FastAPI keeps it: the move below happens once
        for operations in document.get("paths", {}).values():
            for operation in operations.values():
                for status, response in operation.get("responses", {}).items():
                    content = response.get("content", {})
                    if status[:1] in ("4", "5") and "application/json" in content:
                        content.setdefault(PROBLEM_JSON, {}).update(content.pop("application/json"))
        return document

    app.openapi = openapi  # type: ignore[method-assign]
