"""Eligibility use cases: estimate (stateless), decide on verified evidence, decide what waited
for a parameter, show a decision, read and record parameters."""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import date, datetime
from typing import Any
from uuid import UUID

from sqlalchemy import event as orm_event
from sqlalchemy.ext.asyncio import AsyncSession

from services.eligibility import repository
from services.eligibility.adapters import ParameterCache
from services.eligibility.domain.decision import reason_mask
from services.eligibility.reassessment.bulk import reason_codes_of
from services.eligibility.reassessment import register
from services.eligibility.domain import (
    PARAMETER_KINDS,
    Case,
    Decision,
    Expenses,
    History,
    InvalidParameter,
    MissingParameter,
    ParameterSet,
    case_from_record,
    case_to_record,
    decide,
    family_of_record,
    lookup_levels,
    new_parameter_value,
    recorded_event,
    render,
    validate_case,
    value_to_json,
)
from services.eligibility.models import DecisionRecord, ParameterRecord
from services.eligibility.schemas import (
    EstimateIn,
    EstimateOut,
    ParameterIn,
    ParameterOut,
    ParametersOut,
    ParameterUsedOut,
    StoredDecisionOut,
    incomes_of,
    members_of,
    to_case,
)
from shared.access import FamilyAccess, family_access, note_data_subjects
from shared.calendar import Quarter, utcnow
from shared.consumer import PermanentError
from shared.errors import InvalidInput, NotFound, QamqorError, field_error
from shared.events import Envelope
from shared.events.contracts import (
    ContractTerminated,
    EligibilityDecided,
    EligibilityDeferred,
    MonthlyAmount,
    VerificationCompleted,
)
from shared.identity import Caller
from shared.ids import uuid7
from shared.outbox import emit

SOURCE = "eligibility"
log = logging.getLogger("qamqor.eligibility")


class MissingParameterError(QamqorError):
    status, slug, title = 422, "missing-parameter", "Parameter has no value for this date"


# ---- parameters -----------------------------------------------------------------------------

async def record_parameter(*, session: AsyncSession, cache: ParameterCache, caller: Caller,
                           body: ParameterIn) -> ParameterRecord:
    follows = None
    if body.name in PARAMETER_KINDS:
        follows = (await cache.current()).followed(body.name, body.valid_from, body.region_kato)
    try:
        value = new_parameter_value(name=body.name, region_kato=body.region_kato, valid_from=body.valid_from,
                                    valid_to=body.valid_to, value=body.value, recorded_at=utcnow(),
                                    follows=follows, confirm_large_change=body.confirm_large_change)
    except InvalidParameter as invalid:
        raise InvalidInput("The parameter value cannot be recorded.",
                           errors=[field_error(e.path, e.message) for e in invalid.errors]) from None
    record = await repository.add_parameter(session, ParameterRecord(
        id=uuid7(), name=value.name, region_kato=value.region_kato, valid_from=value.valid_from,
        valid_to=value.valid_to, value=value_to_json(value.value), recorded_by=caller.id,
        recorded_at=value.recorded_at))
    # In the same transaction: services keeping a replica (intake's adult_age) follow the value.
    await emit(session, recorded_event(value, record.id), source=SOURCE, key=value.name)
    # This process forgets its parameters as soon as the value is committed (before the caller
    # hears 201); other processes hear of it through NOTIFY.
    orm_event.listen(session.sync_session, "after_commit", lambda _: cache.invalidate(), once=True)
    await repository.announce_parameters_changed(session)
    return record


async def list_parameters(*, session: AsyncSession, cache: ParameterCache, name: str | None,
                          region_kato: str | None, on: date | None) -> ParametersOut:
    records = await repository.parameters(
        session, name=name, regions=lookup_levels(region_kato) if region_kato else None, valid_on=on)
    result = ParametersOut(parameters=[ParameterOut.model_validate(r) for r in records])
    if on is not None and name:
        effective = (await cache.current()).find(name, on, region_kato)
        result.effective = None if effective is None else ParameterUsedOut.model_validate(effective.to_dict())
    return result


# ---- deciding -------------------------------------------------------------------------------

def _explained(decision: Decision, lang: str) -> dict[str, Any]:
    body = decision.to_dict()
    body["reasons"] = [{"code": r.code, "message": render(r, lang), "params": d["params"]}
                       for r, d in zip(decision.reasons, body["reasons"])]
    return body


def _decide(case: Case, params: ParameterSet) -> Decision:
    try:
        return decide(case, params)
    except MissingParameter as exc:
        raise MissingParameterError(str(exc), errors=[field_error(f"parameters.{exc.name}", str(exc))]) from exc


def _validate(case: Case) -> None:
    problems = validate_case(case)
    if problems:
        raise InvalidInput(f"The family cannot be assessed ({len(problems)} problem(s)).",
                           errors=[field_error(p.path, p.message) for p in problems])


async def estimate(*, cache: ParameterCache, body: EstimateIn, lang: str) -> dict[str, Any]:
    """The decision the rules would make for this family today, explained in `lang` (JSON-ready)."""
    case = to_case(body)
    _validate(case)
    return _explained(_decide(case, await cache.current()), lang)


def case_from_evidence(event: VerificationCompleted) -> Case:
    """The family verified evidence describes, as the rules read it."""
    application = event.application
    try:
        return Case(
            region_kato=application.region_kato,
            application_date=application.application_date,
            extension=application.extension,
            members=members_of(event.members),
            incomes=incomes_of(event.incomes),
            expenses=expenses_of(event),
        )
    except ValueError as exc:  # a month that is not YYYY-MM
        raise PermanentError(f"evidence cannot be read: {exc}") from None


def expenses_of(event: VerificationCompleted) -> Expenses | None:
    """The family's expenses as the rules read them (E1–E4); None when they were not checked."""
    facts = event.expenses
    if facts is None:
        return None
    return Expenses(consent=facts.consent, home_or_car_purchase=bool(facts.purchases),
                    non_mortgage_loans=facts.non_mortgage_loans, account_spending=facts.account_spending,
                    deposits=facts.savings_deposits)


async def decide_on_evidence(*, session: AsyncSession, envelope: Envelope, cache: ParameterCache) -> None:
    event: VerificationCompleted = envelope.payload()  # type: ignore[assignment]
    application = event.application
    if await repository.has_decision(session, application.application_id):
        return
    case = await _with_history(session, case_from_evidence(event))
    problems = validate_case(case)
    if problems:
        raise PermanentError(f"evidence fails validation: {[p.path for p in problems]}")
    decided_at = utcnow()
    try:
        decision = decide(case, await cache.current())
    except MissingParameter as exc:
        # Never decide on a stale value: the application waits, visibly, until the value is
        # recorded; `decide_pending` then decides it.
        await _defer(session, envelope, event, str(exc))
        return
    record = await repository.add_decision(session, DecisionRecord(
        application_id=application.application_id, evidence_id=event.evidence_id, decided_at=decided_at,
        rules_version=decision.rules_version, case_input=case_to_record(case), result=decision.to_dict(),
    ))
    await repository.remove_pending(session, application.application_id)
    if decision.eligible:
        await _register(session, event, decision, record.id, decided_at)
    await emit(session, EligibilityDecided(
        application=application,
        decision_id=record.id,
        eligible=decision.eligible,
        kind=decision.kind,
        assessment_quarter=decision.assessment_quarter,
        period_quarter=decision.period_quarter,
        poverty_line=decision.poverty_line,
        per_capita_income=decision.per_capita_income,
        members=event.members,
        monthly=[MonthlyAmount(month=m.month, tsa=m.tsa, child_supplement=m.child_supplement, total=m.total)
                 for m in decision.monthly],
        reasons=list(decision.reason_codes),
        rules_version=decision.rules_version,
        able_bodied_iins=list(decision.able_bodied_iins),
    ), source=SOURCE, key=str(application.application_id), cause=envelope)


async def _register(session: AsyncSession, event: VerificationCompleted, decision: Decision, decision_id: UUID,
                    decided_at: datetime) -> None:
    """An approved family enters the register of current assignments (issue 12), in the decision's
    transaction: the family's key is the application's id."""
    application = event.application
    row = register.assignment_values(
        family_id=application.application_id, period_quarter=decision.period_quarter,
        application_id=application.application_id, decision_id=decision_id, run_id=None,
        extension=application.extension, decided_at=decided_at, application_date=application.application_date,
        region_kato=application.region_kato, settlement=application.settlement, eligible=True, kind=decision.kind,
        poverty_line=decision.poverty_line, per_capita_income=decision.per_capita_income,
        reasons=reason_mask(decision.reason_codes), rules_version=decision.rules_version,
        months=[m.month for m in decision.monthly], tsa=[m.tsa for m in decision.monthly],
        child_supplement=[m.child_supplement for m in decision.monthly], total=[m.total for m in decision.monthly],
        member_count=len(event.members), composition=register.composition_of(event.members),
        contract_state="drafting" if decision.kind == "conditional" else "none")
    await register.add_assignment(session, row, register.member_values(application.application_id, event.members))


async def _with_history(session: AsyncSession, case: Case) -> Case:
    """The case with its ban history (art. 128): the latest termination, on or before the
    application date, of a social contract that bound any member of the family."""
    terminated_on = await repository.latest_termination(session, [m.iin for m in case.members],
                                                        on_or_before=case.application_date)
    if terminated_on is None:
        return case
    return replace(case, history=History(contract_terminated_on=terminated_on))


async def record_termination(session: AsyncSession, envelope: Envelope) -> None:
    """Contracts terminated a family's social contract: every member is barred from a new
    assignment until `terminated_on` plus `ban_months` (the rules apply it when deciding)."""
    event: ContractTerminated = envelope.payload()  # type: ignore[assignment]
    await repository.add_termination(session, contract_id=event.contract_id, iins=event.member_iins,
                                     terminated_on=event.terminated_on, reason=event.reason)


# What the register keeps of a family's social contract (issue 12): a conditional family is
# extended only with its contract in force (`signed`, carried over).
_CONTRACT_STATES = {"contract.drafted": "drafted", "contract.signed": "signed", "contract.lapsed": "lapsed",
                    "contract.terminated": "terminated", "contract.completed": "completed"}


async def follow_contract(session: AsyncSession, envelope: Envelope) -> None:
    """Contracts reported on a family's contract: the register's rows of its application follow
    (a signed contract is never taken back by a late `drafted`). A termination also records the ban."""
    state = _CONTRACT_STATES[envelope.type]
    if envelope.type == "contract.terminated":
        await record_termination(session, envelope)
    application_id = UUID(str(envelope.data["application_id"]))
    await register.follow_contract(session, application_id, state)


async def end_on_withdrawal(session: AsyncSession, envelope: Envelope) -> None:
    """The family withdrew its application: its assignments end (a run does not extend it)."""
    await register.end_assignments(session, UUID(str(envelope.data["application_id"])), reason="withdrawn")


async def _defer(session: AsyncSession, envelope: Envelope, event: VerificationCompleted, reason: str) -> None:
    first_time = await repository.add_pending(session, application_id=event.application.application_id,
                                              evidence_event=envelope.model_dump(mode="json"), reason=reason)
    if not first_time:
        return  # already waiting (and already announced)
    log.warning("decision deferred: %s", reason, extra={"key": envelope.key})
    await emit(session, EligibilityDeferred(application=event.application, reason="MISSING_PARAMETER", detail=reason),
               source=SOURCE, key=envelope.key, cause=envelope)


async def decide_pending(*, session: AsyncSession, cache: ParameterCache) -> None:
    """Try again to decide the applications that waited for a parameter value."""
    for row in await repository.lock_pending(session):
        await decide_on_evidence(session=session, envelope=Envelope.model_validate(row.evidence_event), cache=cache)


def _decision_readers(caller: Caller) -> FamilyAccess:
    """A citizen reads their families' decisions, a case worker their regions'; ops reads only
    masked lists and statistics, and a decision holds each member's incomes."""
    return family_access(caller, unmaskable="A decision holds each member's incomes")


async def _extension_decision(session: AsyncSession, access: FamilyAccess, decision_id: UUID) -> StoredDecisionOut:
    """A reassessment run's decision, as the register keeps it (issue 12): its figures and reason
    codes; its input is the family and the run (the incomes were the registry's extract, not kept).
    Not recomputable here."""
    found = await register.extension_decision(session, decision_id)
    if found is None or not access.may_see([m["iin"] for m in found[1]], found[0]["region_kato"]):
        raise NotFound(f"No decision {decision_id}.")
    row, members = found
    note_data_subjects([m["iin"] for m in members])
    months = list(row["months"])
    quarter = row["period_quarter"]
    return StoredDecisionOut.model_validate({
        "id": row["decision_id"], "application_id": row["application_id"], "evidence_id": row["run_id"],
        "decided_at": row["decided_at"],
        "input": {"format": "extension", "run_id": str(row["run_id"]), "region_kato": row["region_kato"],
                  "application_date": row["application_date"].isoformat(), "extension": True,
                  "members": [m | {"birth_date": m["birth_date"].isoformat()} for m in members],
                  "incomes": "the income registry's extract of the assessment quarter (not kept)"},
        "decision": {
            "eligible": row["eligible"], "kind": row["kind"] or "unconditional",
            "assessment_quarter": str(Quarter.parse(quarter).previous()),
            "period": {"quarter": quarter, "months": months},
            "poverty_line": str(row["poverty_line"]), "per_capita_income": str(row["per_capita_income"]),
            "members": row["member_count"],
            "monthly": [{"month": m, "tsa": t, "child_supplement": c, "total": x}
                        for m, t, c, x in zip(months, row["tsa"], row["child_supplement"], row["total"])],
            "large_family_allowance": [],
            "reasons": [{"code": code, "params": {}} for code in reason_codes_of(row["reasons"])],
            "ignored_incomes": [], "parameters": [], "rules_version": row["rules_version"]},
    })


async def get_decision(*, session: AsyncSession, cache: ParameterCache, caller: Caller, decision_id: UUID,
                       lang: str, recompute: bool) -> StoredDecisionOut:
    access = _decision_readers(caller)
    record = await repository.decision(session, decision_id)
    if record is None:
        return await _extension_decision(session, access, decision_id)
    members, region_kato = family_of_record(record.case_input) if record is not None else ((), "")
    # A decision of a family the caller may not see answers as if there were none.
    if record is None or not access.may_see(members, region_kato):
        raise NotFound(f"No decision {decision_id}.")
    note_data_subjects(members)
    shown = StoredDecisionOut.model_validate({
        "id": record.id, "application_id": record.application_id, "evidence_id": record.evidence_id,
        "decided_at": record.decided_at, "input": record.case_input, "decision": record.result,
    })
    if recompute:
        # The stored record in whatever format it was written, with the parameters known then.
        again = decide(case_from_record(record.case_input), await cache.as_of(record.decided_at))
        # Messages in the caller's language, rendered from the recomputed reasons.
        shown.recomputed = EstimateOut.model_validate(_explained(again, lang))
        shown.recomputed_identical = again.to_dict() == record.result
    return shown
