"""Which events payments follows, and the use case each one runs."""

from fastapi import FastAPI

from services.payments import service
from shared.events.contracts import TOPICS
from shared.redrive import redrive_handler

# qamqor.intake: a family's withdrawal, and the reconciliation sweep's re-drive requests.
SUBSCRIBE = (TOPICS["eligibility"], TOPICS["contracts"], TOPICS["intake"])


def handlers(app: FastAPI) -> dict:
    return {
        "eligibility.decided": service.assign_on_approval,
        "eligibility.extended": service.extend_on_extension,
        "contract.signed": service.schedule_on_contract_signed,
        "contract.terminated": service.stop_on_termination,
        "application.withdrawn": service.stop_on_withdrawal,
        "reconciliation.requested": redrive_handler(service.SOURCE),
    }
