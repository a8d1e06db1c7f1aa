"""Which events intake follows, and the use case each one runs."""

from fastapi import FastAPI

from services.intake import service
from shared.events.contracts import TOPICS

SUBSCRIBE = (TOPICS["verification"], TOPICS["eligibility"], TOPICS["contracts"], TOPICS["payments"])


def handlers(app: FastAPI) -> dict:
    return {
        "verification.completed": service.on_verification_completed,
        "eligibility.decided": service.on_eligibility_decided,
        "eligibility.deferred": service.on_eligibility_deferred,
        "contract.drafted": service.on_contract_drafted,
        "contract.signed": service.on_contract_signed,
        "payment.scheduled": service.on_payment_scheduled,
    }
