"""Which events payments follows, and the use case each one runs."""

from fastapi import FastAPI

from services.payments import service
from shared.events.contracts import TOPICS

SUBSCRIBE = (TOPICS["eligibility"], TOPICS["contracts"])


def handlers(app: FastAPI) -> dict:
    return {
        "eligibility.decided": service.assign_on_approval,
        "contract.signed": service.schedule_on_contract_signed,
    }
