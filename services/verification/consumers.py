"""Which events verification follows, and the use case each one runs."""

from fastapi import FastAPI

from services.verification import service
from shared.events.contracts import TOPICS

SUBSCRIBE = (TOPICS["intake"],)


def handlers(app: FastAPI) -> dict:
    async def on_application_submitted(session, envelope):  # noqa: ANN001
        await service.gather_evidence(session, envelope, registry=app.state.income_registry)

    return {"application.submitted": on_application_submitted}
