"""Contract use cases: draft on a conditional approval, sign, show. Each loads, lets the domain
decide, saves and emits."""

from __future__ import annotations

from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession

from services.contracts import domain, repository
from services.contracts.schemas import ContractOut
from shared.calendar import utcnow
from shared.errors import Conflict, NotFound
from shared.events import Envelope
from shared.events.contracts import EligibilityDecided
from shared.identity import Caller
from shared.ids import uuid7
from shared.outbox import emit

SOURCE = "contracts"


async def draft_on_conditional_approval(session: AsyncSession, envelope: Envelope) -> None:
    decision: EligibilityDecided = envelope.payload()  # type: ignore[assignment]
    existing = await repository.by_application(session, decision.application.application_id)
    drafted = domain.draft(existing, decision, contract_id=uuid7(), at=utcnow())
    if drafted is None:
        return
    contract, event = drafted
    await repository.add(session, contract)
    await emit(session, event, source=SOURCE, key=str(contract.application_id), cause=envelope)


async def sign(*, session: AsyncSession, caller: Caller, contract_id: UUID) -> ContractOut:
    contract = await _existing(session, contract_id, for_update=True)
    try:
        signed, event = domain.sign(contract, caller.id, utcnow())
    except domain.ContractNotSignable as refusal:
        raise Conflict(str(refusal), slug="contract-not-signable") from None
    if event is not None:
        await repository.save(session, signed)
        await emit(session, event, source=SOURCE, key=str(signed.application_id),
                   correlation_id=str(signed.application_id))
    return ContractOut.model_validate(signed)


async def get_contract(*, session: AsyncSession, contract_id: UUID) -> ContractOut:
    return ContractOut.model_validate(await _existing(session, contract_id))


async def list_contracts(*, session: AsyncSession, application_id: UUID | None, status: str | None,
                         limit: int) -> list[ContractOut]:
    contracts = await repository.list_recent(session, application_id=application_id, status=status, limit=limit)
    return [ContractOut.model_validate(c) for c in contracts]


async def _existing(session: AsyncSession, contract_id: UUID, *, for_update: bool = False) -> domain.SocialContract:
    contract = await repository.get(session, contract_id, for_update=for_update)
    if contract is None:
        raise NotFound(f"No contract {contract_id}.")
    return contract
