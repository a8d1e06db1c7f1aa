"""Which events eligibility follows, and the use case each one runs."""

from fastapi import FastAPI

from services.eligibility import service
from shared.events.contracts import TOPICS

SUBSCRIBE = (TOPICS["verification"],)


def handlers(app: FastAPI) -> dict:
    async def on_verification_completed(session, envelope):  # noqa: ANN001
        await service.decide_on_evidence(session, envelope, cache=app.state.parameters)

    return {"verification.completed": on_verification_completed}
