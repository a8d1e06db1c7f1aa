"""Every query of contracts: social contracts in and out as the domain's `SocialContract`."""

from __future__ import annotations

from uuid import UUID

from sqlalchemy import false, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql import Select

from services.contracts import domain
from services.contracts.models import SocialContract as ContractRow
from shared.access import CITIZEN, REGIONS, FamilyAccess
from shared.events.contracts import Obligation


def _contract(row: ContractRow) -> domain.SocialContract:
    return domain.SocialContract(
        id=row.id, application_id=row.application_id, decision_id=row.decision_id, status=row.status,
        region_kato=row.region_kato, period_quarter=row.period_quarter,
        obligations=tuple(Obligation.model_validate(o) for o in row.obligations),
        drafted_at=row.drafted_at, applicant_iin=row.applicant_iin, member_iins=tuple(row.member_iins),
        signed_at=row.signed_at, signed_by=row.signed_by, signed_via=row.signed_via,
    )


def _write(row: ContractRow, contract: domain.SocialContract) -> None:
    row.id = contract.id
    row.application_id = contract.application_id
    row.decision_id = contract.decision_id
    row.status = contract.status
    row.region_kato = contract.region_kato
    row.period_quarter = contract.period_quarter
    row.obligations = [o.model_dump(mode="json") for o in contract.obligations]
    row.drafted_at = contract.drafted_at
    row.applicant_iin = contract.applicant_iin
    row.member_iins = list(contract.member_iins)
    row.signed_at = contract.signed_at
    row.signed_by = contract.signed_by
    row.signed_via = contract.signed_via


async def get(session: AsyncSession, contract_id: UUID, *, for_update: bool = False) -> domain.SocialContract | None:
    query = select(ContractRow).where(ContractRow.id == contract_id)
    if for_update:
        query = query.with_for_update()
    row = (await session.execute(query)).scalar_one_or_none()
    return _contract(row) if row else None


async def by_application(session: AsyncSession, application_id: UUID) -> domain.SocialContract | None:
    row = (await session.execute(
        select(ContractRow).where(ContractRow.application_id == application_id))).scalar_one_or_none()
    return _contract(row) if row else None


def _visible_to(query: Select, access: FamilyAccess) -> Select:
    """Only the contracts of the families `access` shows (none for a view that reads no contract)."""
    if access.view == CITIZEN:
        return query.where(ContractRow.member_iins.contains([access.citizen_iin]))
    if access.view == REGIONS:
        return query.where(func.left(ContractRow.region_kato, 2).in_(sorted(access.regions)))
    return query.where(false())


async def list_recent(session: AsyncSession, *, access: FamilyAccess, application_id: UUID | None,
                      status: str | None, limit: int) -> list[domain.SocialContract]:
    query = _visible_to(select(ContractRow).order_by(ContractRow.id.desc()).limit(limit), access)
    if application_id:
        query = query.where(ContractRow.application_id == application_id)
    if status:
        query = query.where(ContractRow.status == status)
    return [_contract(row) for row in (await session.execute(query)).scalars()]


async def add(session: AsyncSession, contract: domain.SocialContract) -> None:
    row = ContractRow()
    _write(row, contract)
    session.add(row)
    await session.flush()


async def save(session: AsyncSession, contract: domain.SocialContract) -> None:
    # The row is in the session already (it was loaded to be changed): no second query.
    _write(await session.get_one(ContractRow, contract.id), contract)
    await session.flush()
