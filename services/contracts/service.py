"""Contract use cases: draft on a conditional approval, sign, show. Each loads, lets the domain
decide, saves and emits."""

from __future__ import annotations

from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession

from services.contracts import domain, repository
from services.contracts.schemas import ContractOut
from shared.access import CITIZEN, FamilyAccess, family_access, note_data_subjects
from shared.calendar import utcnow
from shared.errors import Conflict, Forbidden, NotFound
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


def _contract_readers(caller: Caller) -> FamilyAccess:
    """A citizen reads their families' contracts, a case worker their regions'; ops reads only
    masked lists and statistics, and a contract names each member's obligations."""
    return family_access(caller, unmaskable="A social contract names each member's obligations")


def _signer(caller: Caller) -> FamilyAccess:
    access = family_access(caller)
    if access.view != CITIZEN:
        raise Forbidden("A social contract is signed by the family's applicant, through a portal acting for "
                        "them (a citizen-bound token).", slug="citizen-token-required",
                        title="A citizen-bound token is required")
    return access


async def sign(*, session: AsyncSession, caller: Caller, contract_id: UUID) -> ContractOut:
    access = _signer(caller)
    contract = await _existing(session, access, contract_id, for_update=True)
    try:
        signed, event = domain.sign(contract, access.citizen_iin, caller.id, utcnow())  # type: ignore[arg-type]
    except domain.NotTheApplicant as refusal:
        raise Forbidden(str(refusal), slug="applicant-signs", title="Only the applicant signs") from None
    except domain.ContractNotSignable as refusal:
        raise Conflict(str(refusal), slug="contract-not-signable") from None
    if event is not None:
        await repository.save(session, signed)
        await emit(session, event, source=SOURCE, key=str(signed.application_id),
                   correlation_id=str(signed.application_id))
    return _shown(signed)


async def get_contract(*, session: AsyncSession, caller: Caller, contract_id: UUID) -> ContractOut:
    return _shown(await _existing(session, _contract_readers(caller), contract_id))


async def list_contracts(*, session: AsyncSession, caller: Caller, application_id: UUID | None,
                         status: str | None, limit: int) -> list[ContractOut]:
    contracts = await repository.list_recent(session, access=_contract_readers(caller),
                                             application_id=application_id, status=status, limit=limit)
    return [_shown(c) for c in contracts]


def _shown(contract: domain.SocialContract) -> ContractOut:
    note_data_subjects(contract.member_iins)
    return ContractOut.model_validate(contract)


async def _existing(session: AsyncSession, access: FamilyAccess, contract_id: UUID, *,
                    for_update: bool = False) -> domain.SocialContract:
    contract = await repository.get(session, contract_id, for_update=for_update)
    # A contract of a family the caller may not see answers as if there were none.
    if contract is None or not access.may_see(contract.member_iins, contract.region_kato):
        raise NotFound(f"No contract {contract_id}.")
    return contract
