"""Which events intake follows, and the use case each one runs."""

from fastapi import FastAPI

from services.intake import service
from shared.events.contracts import TOPICS

SUBSCRIBE = (TOPICS["verification"], TOPICS["eligibility"], TOPICS["contracts"], TOPICS["payments"])


def handlers(app: FastAPI) -> dict:
    return {event_type: service.follow_flow for event_type in (
        "verification.waiting", "verification.overdue", "verification.completed", "eligibility.decided", "eligibility.deferred", "eligibility.extended",
        "contract.drafted", "contract.signed", "contract.lapsed", "contract.terminated", "contract.completed",
        "payment.scheduled",
    )} | {"parameter.recorded": service.record_parameter}
