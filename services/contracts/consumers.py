"""Which events contracts follows, and the use case each one runs."""

from fastapi import FastAPI

from services.contracts import service
from shared.events.contracts import TOPICS

SUBSCRIBE = (TOPICS["eligibility"],)


def handlers(app: FastAPI) -> dict:
    return {"eligibility.decided": service.draft_on_conditional_approval}
