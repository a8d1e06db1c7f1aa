"""Every query of contracts: social contracts in and out as the domain's `SocialContract`."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from uuid import UUID

from sqlalchemy import false, func, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql import Select

from services.contracts import domain
from services.contracts.models import ParameterReplica
from services.contracts.models import SocialContract as ContractRow
from shared.access import CITIZEN, REGIONS, FamilyAccess
from shared.parameter_replica_store import keep_replica_value, replica_values
from shared.events.contracts import Obligation


def _note(note: dict[str, Any]) -> domain.Note:
    return domain.Note(on=date.fromisoformat(note["on"]), status=note["status"], note=note["note"],
                       at=datetime.fromisoformat(note["at"]), by=note["by"])


def _measure(measure: dict[str, Any]) -> domain.Measure:
    return domain.Measure(id=UUID(measure["id"]), member_iin=measure["member_iin"], measure=measure["measure"],
                          status=measure["status"], outcome=measure.get("outcome"),
                          notes=tuple(_note(n) for n in measure["notes"]))


def _breach(breach: dict[str, Any]) -> domain.Breach:
    return domain.Breach(id=UUID(breach["id"]), member_iin=breach["member_iin"], kind=breach["kind"],
                         occurred_on=date.fromisoformat(breach["occurred_on"]), evidence=breach["evidence"],
                         recorded_at=datetime.fromisoformat(breach["recorded_at"]),
                         recorded_by=breach["recorded_by"],
                         measure_id=UUID(breach["measure_id"]) if breach.get("measure_id") else None)


def _measure_json(measure: domain.Measure) -> dict[str, Any]:
    return {"id": str(measure.id), "member_iin": measure.member_iin, "measure": measure.measure,
            "status": measure.status, "outcome": measure.outcome,
            "notes": [{"on": n.on.isoformat(), "status": n.status, "note": n.note, "at": n.at.isoformat(),
                       "by": n.by} for n in measure.notes]}


def _breach_json(breach: domain.Breach) -> dict[str, Any]:
    return {"id": str(breach.id), "member_iin": breach.member_iin, "kind": breach.kind,
            "occurred_on": breach.occurred_on.isoformat(), "evidence": breach.evidence,
            "recorded_at": breach.recorded_at.isoformat(), "recorded_by": breach.recorded_by,
            "measure_id": str(breach.measure_id) if breach.measure_id else None}


def _contract(row: ContractRow) -> domain.SocialContract:
    return domain.SocialContract(
        id=row.id, application_id=row.application_id, decision_id=row.decision_id, status=row.status,
        region_kato=row.region_kato, period_quarter=row.period_quarter,
        obligations=tuple(Obligation.model_validate(o) for o in row.obligations),
        drafted_at=row.drafted_at, applicant_iin=row.applicant_iin, member_iins=tuple(row.member_iins),
        signed_at=row.signed_at, signed_by=row.signed_by, signed_via=row.signed_via,
        sign_by=row.sign_by, ends_on=row.ends_on, measures=tuple(_measure(m) for m in row.measures or ()),
        breaches=tuple(_breach(b) for b in row.breaches or ()), lapsed_at=row.lapsed_at,
        terminated_on=row.terminated_on, termination_breach_id=row.termination_breach_id,
        termination_reason=row.termination_reason, completed_on=row.completed_on,
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
    row.sign_by = contract.sign_by
    row.ends_on = contract.ends_on
    row.measures = [_measure_json(m) for m in contract.measures]
    row.breaches = [_breach_json(b) for b in contract.breaches]
    row.lapsed_at = contract.lapsed_at
    row.terminated_on = contract.terminated_on
    row.termination_breach_id = contract.termination_breach_id
    row.termination_reason = contract.termination_reason
    row.completed_on = contract.completed_on


async def get(session: AsyncSession, contract_id: UUID, *, for_update: bool = False) -> domain.SocialContract | None:
    query = select(ContractRow).where(ContractRow.id == contract_id).execution_options(populate_existing=True)
    if for_update:
        query = query.with_for_update()
    row = (await session.execute(query)).scalar_one_or_none()
    return _contract(row) if row else None


async def by_applications(session: AsyncSession, application_ids: list[UUID]) -> dict[UUID, domain.SocialContract]:
    """The contracts of many applications, locked, by application id: a batch of extensions
    reads them in one query. Loaded afresh, as `carry_overs` may have changed them meanwhile."""
    rows = await session.execute(
        select(ContractRow).where(ContractRow.application_id.in_(application_ids)).order_by(ContractRow.id)
        .with_for_update().execution_options(populate_existing=True))
    return {row.application_id: _contract(row) for row in rows.scalars()}


async def carry_overs(session: AsyncSession, contracts: list[domain.SocialContract]) -> None:
    """Write what `domain.carry_over` changes — the quarter and the end — for many contracts, as
    one UPDATE executed with every row."""
    if contracts:
        await session.execute(update(ContractRow), [
            {"id": c.id, "period_quarter": c.period_quarter, "ends_on": c.ends_on} for c in contracts])


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


async def due(session: AsyncSession, *, now: datetime, limit: int = 100) -> list[domain.SocialContract]:
    """Contracts the sweep has to end, locked (others' sweeps skip them): drafted ones past their
    signing deadline, and signed ones whose period ended before today in Almaty."""
    today = domain.almaty_date(now)
    query = (select(ContractRow)
             .where(((ContractRow.status == domain.DRAFTED) & (ContractRow.sign_by <= now))
                    | ((ContractRow.status == domain.SIGNED) & (ContractRow.ends_on < today)))
             .order_by(ContractRow.id).limit(limit).with_for_update(skip_locked=True))
    return [_contract(row) for row in (await session.execute(query)).scalars()]


async def outcome_counts(session: AsyncSession, *, region_prefix: str | None,
                         period_quarter: str | None) -> list[tuple[str, str, str | None, int]]:
    """(measure, status, outcome, count) over every measure recorded, for the dashboard."""
    conditions = ["true"]
    params: dict[str, Any] = {}
    if region_prefix:
        conditions.append("left(c.region_kato, 2) = :region")
        params["region"] = region_prefix
    if period_quarter:
        conditions.append("c.period_quarter = :quarter")
        params["quarter"] = period_quarter
    rows = await session.execute(text(
        "SELECT m->>'measure', m->>'status', m->>'outcome', count(*) "
        "FROM social_contracts c CROSS JOIN LATERAL jsonb_array_elements(c.measures) AS m "
        f"WHERE {' AND '.join(conditions)} GROUP BY 1, 2, 3"), params)
    return [(measure, status, outcome, count) for measure, status, outcome, count in rows]


# ---- the replica of the policy parameters contracts applies ------------------------------------

async def parameter_values(session: AsyncSession, name: str) -> list[domain.ParameterValue]:
    return await replica_values(session, ParameterReplica.__table__, name)


async def add_parameter_value(session: AsyncSession, parameter_id: UUID, value: domain.ParameterValue) -> None:
    await keep_replica_value(session, ParameterReplica.__table__, parameter_id, value)
