"""Which events contracts follows, and the use case each one runs."""

from fastapi import FastAPI

from services.contracts import service
from shared.events.contracts import TOPICS
from shared.redrive import redrive_handler

# qamqor.eligibility: decisions, and the parameter values contracts keeps a replica of
# (`contract_sign_business_days`); qamqor.intake: the reconciliation sweep's re-drive requests.
SUBSCRIBE = (TOPICS["eligibility"], TOPICS["intake"])


def handlers(app: FastAPI) -> dict:
    async def draft(session, envelope):  # noqa: ANN001
        await service.draft_on_conditional_approval(
            session, envelope, sign_business_days=app.state.settings.sign_business_days)

    return {"eligibility.decided": draft,
            "eligibility.extended": service.carry_over_on_extension,
            "parameter.recorded": service.record_parameter,
            "reconciliation.requested": redrive_handler(service.SOURCE)}
