"""Contract use cases: draft on a conditional approval, sign, show."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession

from services.contracts import domain, repository
from services.contracts.models import SocialContract
from shared.calendar import utcnow
from shared.errors import Conflict, NotFound
from shared.events import Envelope
from shared.events.contracts import ContractDrafted, ContractSigned, EligibilityDecided, Obligation
from shared.identity import Caller
from shared.outbox import emit

SOURCE = "contracts"


def to_out(contract: SocialContract) -> dict[str, Any]:
    return {
        "id": str(contract.id),
        "application_id": str(contract.application_id),
        "decision_id": str(contract.decision_id),
        "status": contract.status,
        "region_kato": contract.region_kato,
        "period_quarter": contract.period_quarter,
        "obligations": contract.obligations,
        "drafted_at": contract.drafted_at.isoformat() if contract.drafted_at else None,
        "signed_at": contract.signed_at.isoformat() if contract.signed_at else None,
    }


async def draft_on_conditional_approval(session: AsyncSession, envelope: Envelope) -> None:
    event: EligibilityDecided = envelope.payload()  # type: ignore[assignment]
    if not (event.eligible and event.kind == "conditional"):
        return
    application_id = event.application.application_id
    if await repository.by_application(session, application_id) is not None:
        return
    employed = {m.iin: m.employed for m in event.members}
    contract = SocialContract(
        application_id=application_id,
        decision_id=event.decision_id,
        status=domain.DRAFTED,
        region_kato=event.application.region_kato,
        period_quarter=event.period_quarter,
        obligations=domain.initial_obligations([(iin, employed.get(iin, False)) for iin in event.able_bodied_iins]),
    )
    session.add(contract)
    await session.flush()
    await emit(session, ContractDrafted(
        contract_id=contract.id, application_id=application_id, decision_id=event.decision_id,
        obligations=[Obligation(**o) for o in contract.obligations],
    ), source=SOURCE, key=str(application_id), cause=envelope)


async def sign(*, session: AsyncSession, caller: Caller, contract_id: UUID) -> dict[str, Any]:
    contract = await repository.get(session, contract_id, for_update=True)
    if contract is None:
        raise NotFound(f"No contract {contract_id}.")
    if contract.status == domain.SIGNED:
        return to_out(contract)  # signing twice is a retry, not a second signature
    if not domain.can_sign(contract.status):
        raise Conflict(f"A contract in status '{contract.status}' cannot be signed.", slug="contract-not-signable")
    contract.status = domain.SIGNED
    contract.signed_at = utcnow()
    contract.signed_by = caller.id
    await session.flush()
    await emit(session, ContractSigned(
        contract_id=contract.id, application_id=contract.application_id,
        decision_id=contract.decision_id, signed_at=contract.signed_at,
    ), source=SOURCE, key=str(contract.application_id), correlation_id=str(contract.application_id))
    return to_out(contract)


async def get_contract(*, session: AsyncSession, contract_id: UUID) -> dict[str, Any]:
    contract = await repository.get(session, contract_id)
    if contract is None:
        raise NotFound(f"No contract {contract_id}.")
    return to_out(contract)


async def list_contracts(*, session: AsyncSession, application_id: UUID | None, status: str | None, limit: int) -> list[dict[str, Any]]:
    return [to_out(c) for c in await repository.list_recent(session, application_id=application_id, status=status, limit=limit)]
