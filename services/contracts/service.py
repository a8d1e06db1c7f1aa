"""Contract use cases: draft on a conditional approval, sign, record measures and breaches,
terminate, and the sweep that lapses and completes contracts; show. Each loads, lets the domain
decide, saves and emits in the same transaction."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.contracts import domain, repository
from services.contracts.schemas import (
    BreachIn,
    ContractOut,
    ContractText,
    MeasureIn,
    MeasureUpdate,
    OutcomeCount,
    OutcomesOut,
    TerminationIn,
)
from shared.access import CITIZEN, REGIONS, FamilyAccess, family_access, note_data_subjects
from shared.calendar import utcnow
from shared.consumer import handles_batches
from shared.errors import Conflict, Forbidden, InvalidInput, NotFound, field_error
from shared.events import Envelope
from shared.events.contracts import EligibilityDecided, ParameterRecorded
from shared.identity import Caller
from shared.ids import uuid7
from shared.outbox import emit

SOURCE = "contracts"
log = logging.getLogger("qamqor.contracts")


async def draft_on_conditional_approval(session: AsyncSession, envelope: Envelope, *,
                                        sign_business_days: int = domain.DEFAULT_SIGN_BUSINESS_DAYS) -> None:
    """`sign_business_days`: the service's setting, applied only while the replica of the policy
    parameter has no value for the day (logged: the parameter should be recorded)."""
    decision: EligibilityDecided = envelope.payload()  # type: ignore[assignment]
    existing = await repository.by_application(session, decision.application.application_id)
    at = utcnow()
    if existing is None:
        region = decision.application.region_kato
        policy = domain.sign_business_days(
            await repository.parameter_values(session, domain.SIGN_DEADLINE_PARAMETER), region,
            domain.almaty_date(at))
        if policy is None:
            log.warning("no value of %s for region %s on %s: the service's setting (%d) applies",
                        domain.SIGN_DEADLINE_PARAMETER, region, domain.almaty_date(at), sign_business_days)
        sign_business_days = policy or sign_business_days
    drafted = domain.draft(existing, decision, contract_id=uuid7(), at=at, sign_business_days=sign_business_days)
    if drafted is None:
        return
    contract, event = drafted
    await repository.add(session, contract)
    await emit(session, event, source=SOURCE, key=str(contract.application_id), cause=envelope)


async def carry_over_on_extensions(session: AsyncSession, envelopes: list[Envelope]) -> None:
    """`carry_over_on_extension` for a batch of extensions (a reassessment run's burst): the
    contracts read and locked in one query, the carried ones written in one statement. Events of
    one application take effect in their order, on what the one before left."""
    extensions = [extension for envelope in envelopes
                  if (extension := envelope.payload()).eligible and extension.contract_carried_over]  # type: ignore[attr-defined]
    if not extensions:
        return
    contracts = await repository.by_applications(session, list({e.application_id for e in extensions}))
    carried: dict[UUID, domain.SocialContract] = {}
    for extension in extensions:
        contract = domain.carry_over(contracts.get(extension.application_id), extension.period_quarter)
        if contract is not None:
            contracts[extension.application_id] = carried[contract.id] = contract
    await repository.carry_overs(session, list(carried.values()))


@handles_batches(carry_over_on_extensions)
async def carry_over_on_extension(session: AsyncSession, envelope: Envelope) -> None:
    """A reassessment run extended a conditional family with its contract in force (issue 12): the
    contract runs on to the end of the new quarter (`domain.carry_over`); no new one is drafted."""
    await carry_over_on_extensions(session, [envelope])  # one extension: the batch form's steps


async def record_parameter(session: AsyncSession, envelope: Envelope) -> None:
    """Eligibility recorded a parameter value: keep it if contracts applies that parameter."""
    event: ParameterRecorded = envelope.payload()  # type: ignore[assignment]
    if event.name != domain.SIGN_DEADLINE_PARAMETER:
        return
    await repository.add_parameter_value(session, event.parameter_id, domain.ParameterValue(
        name=event.name, region_kato=event.region_kato, valid_from=event.valid_from, valid_to=event.valid_to,
        value=tuple(event.value) if isinstance(event.value, list) else event.value, recorded_at=event.recorded_at))


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
    shown = ContractOut.model_validate(contract)
    return shown.model_copy(update={"text": ContractText(**domain.contract_text(contract))})


def _case_worker(caller: Caller) -> FamilyAccess:
    """Measures, breaches and terminations are a case worker's, for the regions assigned to it."""
    access = family_access(caller)
    if access.view != REGIONS:
        raise Forbidden("Measures, breaches and terminations are recorded by a case worker of the family's region.",
                        slug="case-worker-required", title="A case worker is required")
    return access


def _refused(refusal: domain.Refused) -> InvalidInput:
    return InvalidInput(f"{refusal.field}: {refusal}", errors=[field_error(refusal.field, str(refusal))])


async def _emit(session: AsyncSession, contract: domain.SocialContract, event) -> None:  # noqa: ANN001
    await emit(session, event, source=SOURCE, key=str(contract.application_id),
               correlation_id=str(contract.application_id))


async def add_measure(*, session: AsyncSession, caller: Caller, contract_id: UUID, body: MeasureIn) -> ContractOut:
    contract = await _existing(session, _case_worker(caller), contract_id, for_update=True)
    try:
        changed, _ = domain.add_measure(contract, measure_id=uuid7(), member_iin=body.member_iin,
                                        measure=body.measure, note=body.note, at=utcnow(), by=caller.id)
    except domain.ContractNotActive as refusal:
        raise Conflict(str(refusal), slug="contract-not-active") from None
    except domain.Refused as refusal:
        raise _refused(refusal) from None
    await repository.save(session, changed)
    return _shown(changed)


async def update_measure(*, session: AsyncSession, caller: Caller, contract_id: UUID, measure_id: UUID,
                         body: MeasureUpdate, now: datetime | None = None) -> ContractOut:
    contract = await _existing(session, _case_worker(caller), contract_id, for_update=True)
    try:
        changed, _, terminated = domain.update_measure(
            contract, measure_id, status=body.status, note=body.note, on=body.on, outcome=body.outcome,
            at=now or utcnow(), by=caller.id, breach_id=uuid7())
    except domain.MeasureNotFound:
        raise NotFound(f"The contract has no measure {measure_id}.") from None
    except (domain.ContractNotActive, domain.MeasureClosed) as refusal:
        raise Conflict(str(refusal), slug="contract-not-active" if isinstance(refusal, domain.ContractNotActive)
                       else "measure-closed") from None
    except domain.Refused as refusal:
        raise _refused(refusal) from None
    await repository.save(session, changed)
    if terminated is not None:
        await _emit(session, changed, terminated)
    return _shown(changed)


async def record_breach(*, session: AsyncSession, caller: Caller, contract_id: UUID, body: BreachIn) -> ContractOut:
    contract = await _existing(session, _case_worker(caller), contract_id, for_update=True)
    try:
        changed, _, terminated = domain.record_breach(
            contract, breach_id=uuid7(), member_iin=body.member_iin, kind=body.kind, occurred_on=body.occurred_on,
            evidence=body.evidence, at=utcnow(), by=caller.id)
    except domain.ContractNotActive as refusal:
        raise Conflict(str(refusal), slug="contract-not-active") from None
    except domain.Refused as refusal:
        raise _refused(refusal) from None
    await repository.save(session, changed)
    if terminated is not None:
        await _emit(session, changed, terminated)
    return _shown(changed)


async def terminate(*, session: AsyncSession, caller: Caller, contract_id: UUID, body: TerminationIn) -> ContractOut:
    contract = await _existing(session, _case_worker(caller), contract_id, for_update=True)
    try:
        changed, terminated = domain.terminate(contract, breach_id=body.breach_id, terminated_on=body.terminated_on,
                                               at=utcnow())
    except (domain.ContractNotActive, domain.AlreadyTerminated) as refusal:
        raise Conflict(str(refusal), slug="contract-not-active") from None
    except domain.Refused as refusal:
        raise _refused(refusal) from None
    if terminated is not None:
        await repository.save(session, changed)
        await _emit(session, changed, terminated)
    return _shown(changed)


async def outcomes(*, session: AsyncSession, region: str | None, period_quarter: str | None) -> OutcomesOut:
    """Figures for the dashboard: no person's data, only counts."""
    per_measure: dict[str, OutcomeCount] = {m: OutcomeCount(measure=m) for m in domain.MEASURES}
    per_outcome = {o: 0 for o in domain.OUTCOMES}
    for measure, status, outcome, count in await repository.outcome_counts(
            session, region_prefix=region, period_quarter=period_quarter):
        row = per_measure.setdefault(measure, OutcomeCount(measure=measure))
        setattr(row, status, getattr(row, status, 0) + count)
        if status == domain.MEASURE_COMPLETED and outcome in per_outcome:
            per_outcome[outcome] += count
    return OutcomesOut(region=region, period_quarter=period_quarter, outcomes=per_outcome,
                       measures=list(per_measure.values()))


async def sweep(*, session: AsyncSession, now: datetime) -> int:
    """Ends the contracts that are due at `now`: lapses the unsigned past their deadline,
    completes the signed past their period. Each change and its event in this transaction."""
    ended = 0
    for contract in await repository.due(session, now=now):
        result = domain.lapse(contract, now) or domain.complete(contract, now)
        if result is None:
            continue
        changed, event = result
        await repository.save(session, changed)
        await _emit(session, changed, event)
        ended += 1
    return ended


async def run_sweep(*, sessionmaker: async_sessionmaker[AsyncSession], interval: float,
                    clock: Callable[[], datetime] = utcnow) -> None:
    """For the life of the process: a sweep every `interval` seconds."""
    while True:
        async with sessionmaker() as session, session.begin():
            ended = await sweep(session=session, now=clock())
        if ended:
            log.info("%d contract(s) lapsed or completed", ended)
        await asyncio.sleep(interval)


async def _existing(session: AsyncSession, access: FamilyAccess, contract_id: UUID, *,
                    for_update: bool = False) -> domain.SocialContract:
    contract = await repository.get(session, contract_id, for_update=for_update)
    # A contract of a family the caller may not see answers as if there were none.
    if contract is None or not access.may_see(contract.member_iins, contract.region_kato):
        raise NotFound(f"No contract {contract_id}.")
    return contract
