"""Which events intake follows, and the use case each one runs."""

from services.intake import service
from shared.events.contracts import TOPICS

SUBSCRIBE = (TOPICS["verification"], TOPICS["eligibility"], TOPICS["contracts"], TOPICS["payments"])

HANDLERS = {
    "verification.completed": service.on_verification_completed,
    "eligibility.decided": service.on_eligibility_decided,
    "contract.drafted": service.on_contract_drafted,
    "contract.signed": service.on_contract_signed,
    "payment.scheduled": service.on_payment_scheduled,
}
