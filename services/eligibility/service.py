"""Eligibility use cases: estimate (stateless), decide on verified evidence, parameters."""

from __future__ import annotations

import asyncio
import logging
from datetime import date, datetime
from typing import Any
from uuid import UUID

import asyncpg
from sqlalchemy import delete, select, text
from sqlalchemy import event as orm_event
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.eligibility import repository
from services.eligibility.domain import (
    PARAMETER_KINDS,
    Decision,
    MissingParameter,
    ParameterSet,
    ParameterValue,
    decide,
    parse_parameter_value,
    render,
    validate_case,
)
from services.eligibility.domain.parameters import value_to_json
from services.eligibility.domain.rules import is_able_bodied
from services.eligibility.domain.validation import is_known_region
from services.eligibility.models import DecisionRecord, ParameterRecord, PendingDecision
from services.eligibility.schemas import EstimateIn, ParameterIn, to_case
from shared.calendar import utcnow
from shared.consumer import PermanentError
from shared.db import asyncpg_dsn
from shared.errors import InvalidInput, NotFound, QamqorError, field_error
from shared.events import Envelope
from shared.events.contracts import EligibilityDecided, EligibilityDeferred, MonthlyAmount, VerificationCompleted
from shared.identity import Caller
from shared.outbox import emit

SOURCE = "eligibility"
PARAMETERS_CHANNEL = "qamqor_parameters"
log = logging.getLogger("qamqor.eligibility")


class MissingParameterError(QamqorError):
    status, slug, title = 422, "missing-parameter", "Parameter has no value for this date"


# ---- parameters -----------------------------------------------------------------------------

def to_parameter_value(record: ParameterRecord) -> ParameterValue:
    raw = record.value
    if isinstance(raw, list):
        value: Any = tuple(raw)
    elif isinstance(raw, bool):
        value = raw
    else:
        value = parse_parameter_value(record.name, str(raw))
    return ParameterValue(name=record.name, region_kato=record.region_kato, valid_from=record.valid_from,
                          valid_to=record.valid_to, value=value, recorded_at=record.recorded_at)


class ParameterCache:
    """All parameter records, indexed in memory; reloaded when any process records a new value
    (PostgreSQL NOTIFY), so an estimate costs no database round trip."""

    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession], database_url: str) -> None:
        self.sessionmaker = sessionmaker
        self.database_url = database_url
        self._values: list[ParameterValue] | None = None
        self._current: ParameterSet | None = None
        self._lock = asyncio.Lock()
        self._listener: asyncpg.Connection | None = None
        # Set whenever parameters change, so decisions waiting for a missing value are retried.
        self.changed = asyncio.Event()

    async def __aenter__(self) -> "ParameterCache":
        try:
            self._listener = await asyncpg.connect(asyncpg_dsn(self.database_url))
            await self._listener.add_listener(PARAMETERS_CHANNEL, lambda *_: self.invalidate())
        except Exception:  # noqa: BLE001
            log.warning("LISTEN for parameter changes unavailable; reloading on every change in this process only")
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._listener is not None:
            await self._listener.close()

    def invalidate(self) -> None:
        self._values = None
        self._current = None
        self.changed.set()

    async def values(self) -> list[ParameterValue]:
        if self._values is None:
            async with self._lock:
                if self._values is None:
                    async with self.sessionmaker() as session:
                        records = await repository.all_parameters(session)
                    self._values = [to_parameter_value(r) for r in records]
        return self._values

    async def current(self) -> ParameterSet:
        if self._current is None:
            self._current = ParameterSet(await self.values())
        return self._current

    async def as_of(self, moment: datetime) -> ParameterSet:
        return ParameterSet(await self.values(), as_of=moment)


def parameter_out(record: ParameterRecord) -> dict[str, Any]:
    return {
        "id": str(record.id), "name": record.name, "region_kato": record.region_kato,
        "valid_from": record.valid_from.isoformat(),
        "valid_to": record.valid_to.isoformat() if record.valid_to else None,
        "value": record.value, "recorded_at": record.recorded_at.isoformat(), "recorded_by": record.recorded_by,
    }


def _as_text(raw: Any) -> str:
    """A JSON value as the parameter parser reads it (a CSV cell's text)."""
    if isinstance(raw, list):
        return " ".join(map(str, raw))
    if isinstance(raw, bool):
        return str(raw).lower()
    return str(raw)


async def record_parameter(*, session: AsyncSession, cache: ParameterCache, caller: Caller,
                           body: ParameterIn) -> dict[str, Any]:
    errors = []
    if body.name not in PARAMETER_KINDS:
        errors.append(field_error("name", f"unknown parameter; one of {', '.join(PARAMETER_KINDS)}"))
    if body.region_kato is not None and not is_known_region(body.region_kato):
        errors.append(field_error("region_kato", "unknown region: a 9-digit KATO code of one of the 20 regions"))
    if body.valid_to is not None and body.valid_to < body.valid_from:
        errors.append(field_error("valid_to", "must not be before valid_from"))
    stored: Any = None
    if not errors:
        try:
            typed = parse_parameter_value(body.name, _as_text(body.value))
            ParameterValue(name=body.name, region_kato=body.region_kato, valid_from=body.valid_from,
                           valid_to=body.valid_to, value=typed, recorded_at=utcnow())
            stored = value_to_json(typed)
        except ValueError as exc:
            errors.append(field_error("value", str(exc)))
    if errors:
        raise InvalidInput("The parameter value cannot be recorded.", errors=errors)
    record = ParameterRecord(name=body.name, region_kato=body.region_kato, valid_from=body.valid_from,
                             valid_to=body.valid_to, value=stored, recorded_by=caller.id, recorded_at=utcnow())
    session.add(record)
    await session.flush()
    # This process forgets its parameters as soon as the value is committed (before the caller
    # hears 201); other processes hear of it through NOTIFY.
    orm_event.listen(session.sync_session, "after_commit", lambda _: cache.invalidate(), once=True)
    await session.execute(text(f"SELECT pg_notify('{PARAMETERS_CHANNEL}', '')"))
    return parameter_out(record)


async def list_parameters(*, session: AsyncSession, cache: ParameterCache, name: str | None,
                          region_kato: str | None, on: date | None) -> dict[str, Any]:
    query = select(ParameterRecord).order_by(ParameterRecord.name, ParameterRecord.region_kato,
                                             ParameterRecord.valid_from, ParameterRecord.recorded_at)
    if name:
        query = query.where(ParameterRecord.name == name)
    if region_kato:
        query = query.where(ParameterRecord.region_kato.in_([region_kato, region_kato[:2] + "0000000"])
                            | ParameterRecord.region_kato.is_(None))
    records = list((await session.execute(query)).scalars())
    if on is not None:
        records = [r for r in records if r.valid_from <= on and (r.valid_to is None or on <= r.valid_to)]
    result: dict[str, Any] = {"parameters": [parameter_out(r) for r in records]}
    if on is not None and name:
        params = await cache.current()
        effective = params.find(name, on, region_kato)
        result["effective"] = effective.to_dict() if effective else None
    return result


# ---- deciding -------------------------------------------------------------------------------

def _explained(decision: Decision, lang: str) -> dict[str, Any]:
    body = decision.to_dict()
    body["reasons"] = [{"code": r.code, "message": render(r, lang), "params": d["params"]}
                       for r, d in zip(decision.reasons, body["reasons"])]
    return body


def _decide(case, params: ParameterSet) -> Decision:  # noqa: ANN001
    try:
        return decide(case, params)
    except MissingParameter as exc:
        raise MissingParameterError(str(exc), errors=[field_error(f"parameters.{exc.name}", str(exc))]) from exc


def _validate(case) -> None:  # noqa: ANN001
    problems = validate_case(case)
    if problems:
        raise InvalidInput(f"The family cannot be assessed ({len(problems)} problem(s)).",
                           errors=[field_error(p.path, p.message) for p in problems])


async def estimate(*, cache: ParameterCache, body: EstimateIn, lang: str) -> dict[str, Any]:
    case = to_case(body)
    _validate(case)
    return _explained(_decide(case, await cache.current()), lang)


def able_bodied_iins(case, params: ParameterSet) -> list[str]:  # noqa: ANN001
    d = case.application_date
    male = int(params.get("retirement_age_male", d, case.region_kato).value)
    female = int(params.get("retirement_age_female", d, case.region_kato).value)
    return [m.iin for m in case.members if is_able_bodied(m, d, male, female)]


async def decide_on_evidence(session: AsyncSession, envelope: Envelope, *, cache: ParameterCache) -> None:
    event: VerificationCompleted = envelope.payload()  # type: ignore[assignment]
    application = event.application
    if await repository.decision_for_application(session, application.application_id) is not None:
        return
    body = EstimateIn(
        region_kato=application.region_kato,
        application_date=application.application_date,
        extension=application.extension,
        members=[m.model_dump() for m in event.members],
        incomes=[i.model_dump() for i in event.incomes],
    )
    case = to_case(body)
    problems = validate_case(case)
    if problems:
        raise PermanentError(f"evidence fails validation: {[p.path for p in problems]}")
    decided_at = utcnow()
    params = await cache.current()
    try:
        decision = decide(case, params)
        able = able_bodied_iins(case, params)
    except MissingParameter as exc:
        # Never decide on a stale value: the application waits, visibly, until the value is
        # recorded; `retry_pending_decisions` then decides it.
        await _defer(session, envelope, event, str(exc))
        return
    record = DecisionRecord(
        application_id=application.application_id, evidence_id=event.evidence_id, decided_at=decided_at,
        rules_version=decision.rules_version, case_input=body.model_dump(mode="json"),
        result=decision.to_dict(),
    )
    session.add(record)
    await session.flush()
    await session.execute(delete(PendingDecision).where(PendingDecision.application_id == application.application_id))
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
        able_bodied_iins=able,
    ), source=SOURCE, key=str(application.application_id), cause=envelope)


async def _defer(session: AsyncSession, envelope: Envelope, event: VerificationCompleted, reason: str) -> None:
    inserted = (await session.execute(
        insert(PendingDecision)
        .values(application_id=event.application.application_id,
                evidence_event=envelope.model_dump(mode="json"), reason=reason[:500])
        .on_conflict_do_nothing()
        .returning(PendingDecision.application_id)
    )).first()
    if inserted is None:
        return  # already waiting (and already announced)
    log.warning("decision deferred: %s", reason, extra={"key": envelope.key})
    await emit(session, EligibilityDeferred(application=event.application, reason="MISSING_PARAMETER", detail=reason),
               source=SOURCE, key=envelope.key, cause=envelope)


async def retry_pending_decisions(sessionmaker: async_sessionmaker[AsyncSession], cache: ParameterCache, *,
                                  interval: float = 60.0) -> None:
    """Runs for the life of the process: whenever parameters change (and at least every
    `interval` seconds), try again to decide the applications that were waiting."""
    while True:
        try:
            await asyncio.wait_for(cache.changed.wait(), timeout=interval)
        except asyncio.TimeoutError:
            pass
        cache.changed.clear()
        async with sessionmaker() as session, session.begin():
            waiting = (await session.execute(
                select(PendingDecision).order_by(PendingDecision.deferred_at).limit(500)
                .with_for_update(skip_locked=True))).scalars().all()
            for row in waiting:
                await decide_on_evidence(session, Envelope.model_validate(row.evidence_event), cache=cache)


async def get_decision(*, session: AsyncSession, cache: ParameterCache, decision_id: UUID, lang: str,
                       recompute: bool) -> dict[str, Any]:
    record = await repository.decision(session, decision_id)
    if record is None:
        raise NotFound(f"No decision {decision_id}.")
    result = {
        "id": str(record.id), "application_id": str(record.application_id),
        "evidence_id": str(record.evidence_id), "decided_at": record.decided_at.isoformat(),
        "input": record.case_input, "decision": record.result,
    }
    # Messages in the caller's language, rendered from the stored reasons.
    if recompute:
        case = to_case(EstimateIn.model_validate(record.case_input))
        again = decide(case, await cache.as_of(record.decided_at))
        result["recomputed"] = _explained(again, lang)
        result["recomputed_identical"] = again.to_dict() == record.result
    return result
