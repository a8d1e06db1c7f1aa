"""FDC invitations, the use cases (issue 13; docs/fdc.md; the rules in services/intake/invitations.py).

- `PreChecker`: the pre-check over HTTP. Incomes of the assessment quarter from the income
  registry (`GET /registry/v1/incomes`, the sandbox plays it), then eligibility's own rules and
  parameters through `POST /v1/eligibility/estimate`, called with the FDC caller's gateway-signed
  internal token (the FDC holds `eligibility:estimate`): intake does not import eligibility's
  engine (services never import each other) and keeps no copy of its parameters.
- `invite`: a batch, answered family by family; one bad family never fails the batch.
- `dispatch_invitation_sms` / `run_invitation_dispatcher`: the SMS of every invitation not sent
  yet, read from the database after the commit (the consent dispatcher's pattern, sms.py).
- `portal_invitations`, `funnel`: the portal notice, and the counts invited → applied → approved → paid.

Nothing here logs an IIN, a phone or a text.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import httpx
from pydantic import ValidationError
from sqlalchemy import and_, exists, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.intake import invitations, repository
from services.intake.models import Invitation, InvitedMember, StatusChange
from services.intake.settings import IntakeSettings
from services.intake.sms import HttpSmsGateway, SmsGateway, SmsRefused, SmsUnavailable
from shared.access import mask_phone
from shared.calendar import Quarter, business_date, month_label, utcnow
from shared.events.contracts import FdcInvitationIssued
from shared.identity import INTERNAL_TOKEN_HEADER
from shared.ids import uuid7
from shared.outbox import emit
from shared.tracing import traced_transport

log = logging.getLogger("qamqor.intake.fdc")


class NotChecked(Exception):
    """The pre-check could not be made now (a system down, a parameter missing): its code says why."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


class RefusedByRules(Exception):
    """Eligibility refused the family as sent (a field the rules cannot read): its field errors."""

    def __init__(self, errors: list[dict[str, str]]) -> None:
        super().__init__(f"{len(errors)} field error(s)")
        self.errors = errors


class PreChecker:
    """The income registry and eligibility's estimate, each through a pooled HTTP client, for the
    app's lifetime (an app resource: opened at start-up, closed at shutdown)."""

    def __init__(self, settings: IntakeSettings, *, registry_transport: httpx.AsyncBaseTransport | None = None,
                 eligibility_transport: httpx.AsyncBaseTransport | None = None) -> None:
        timeout = httpx.Timeout(settings.fdc_precheck_timeout_seconds)
        limits = httpx.Limits(max_connections=settings.fdc_precheck_concurrency * 2)
        self.registry = httpx.AsyncClient(base_url=settings.income_registry_url, timeout=timeout, limits=limits,
                                          transport=traced_transport("intake", "income_registry", registry_transport))
        self.eligibility = httpx.AsyncClient(base_url=settings.eligibility_url, timeout=timeout, limits=limits,
                                             transport=traced_transport("intake", "eligibility",
                                                                        eligibility_transport))

    async def incomes(self, iin: str, quarter: Quarter) -> list[dict[str, Any]]:
        months = quarter.months()
        try:
            response = await self.registry.get("/registry/v1/incomes", params={
                "iin": iin, "from": month_label(months[0]), "to": month_label(months[-1])})
            response.raise_for_status()
            return [{"iin": iin, "type": row["type"], "month": str(row["month"])[:7], "amount": str(row["amount"])}
                    for row in response.json()["incomes"]]
        # `from None`: the URL (its query holds the IIN) is not chained into tracebacks.
        except (httpx.HTTPError, KeyError, TypeError, ValueError):
            raise NotChecked("income_registry_unavailable") from None

    async def estimate(self, body: dict[str, Any], internal_token: str) -> dict[str, Any]:
        try:
            response = await self.eligibility.post("/v1/eligibility/estimate", json=body,
                                                   headers={INTERNAL_TOKEN_HEADER: internal_token})
        except httpx.HTTPError:
            raise NotChecked("eligibility_unavailable") from None
        if response.status_code == 200:
            return response.json()
        problem = _json(response)
        if response.status_code == 422:
            if str(problem.get("type", "")).endswith("/missing-parameter"):
                raise NotChecked("parameter_missing")
            raise RefusedByRules([{"field": e.get("field", "body").removeprefix("body."),
                                   "message": e.get("message", "")} for e in problem.get("errors") or ()])
        raise NotChecked("eligibility_unavailable")

    async def aclose(self) -> None:
        await self.registry.aclose()
        await self.eligibility.aclose()

    async def __aenter__(self) -> "PreChecker":
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


# ---- the batch ----------------------------------------------------------------------------------

@dataclass(slots=True)
class Answer:
    index: int
    reference: str | None
    outcome: str
    invitation_id: UUID | None = None
    reasons: tuple[str, ...] = ()
    errors: tuple[dict[str, str], ...] = ()
    monthly_estimate: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"index": self.index, "reference": self.reference, "outcome": self.outcome,
                "invitation_id": str(self.invitation_id) if self.invitation_id else None,
                "reasons": list(self.reasons), "errors": list(self.errors),
                "monthly_estimate": self.monthly_estimate}


def read_family(index: int, raw: Any) -> tuple[Any, Answer | None]:
    """The family as the rules read it, or its `invalid` answer naming each field."""
    from services.intake.fdc_schemas import FamilyIn  # pydantic stays out of the rules module

    reference = raw.get("reference") if isinstance(raw, dict) and isinstance(raw.get("reference"), str) else None
    try:
        return FamilyIn.model_validate(raw), None
    except ValidationError as error:
        errors = tuple({"field": _path(index, error_item["loc"]), "message": error_item["msg"]}
                       for error_item in error.errors(include_url=False, include_input=False))
        return None, Answer(index, reference[:64] if reference else None, invitations.INVALID, errors=errors)


def _path(index: int, loc: tuple[Any, ...]) -> str:
    out = f"families[{index}]"
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out


async def invite(*, session: AsyncSession, sessionmaker: async_sessionmaker[AsyncSession] | None = None,
                 checker: PreChecker, settings: IntakeSettings, caller_id: str, internal_token: str,
                 families: list[Any], now: datetime | None = None) -> dict[str, Any]:
    """Every family's answer, in the order sent. Invitations are written in `session` (committed
    by the route); their SMS leave after the commit (the dispatcher)."""
    now = now or utcnow()
    today = business_date(now)
    quarter = invitations.invitation_quarter(today)
    assessed = quarter.previous()
    answers: list[Answer | None] = [None] * len(families)
    read: list[tuple[int, Any]] = []
    for index, raw in enumerate(families):
        family, invalid = read_family(index, raw)
        if invalid is not None:
            answers[index] = invalid
        else:
            read.append((index, family))

    # Who is on an active application, or on an invitation of this quarter, at the start.
    everyone = sorted({m.iin for _, family in read for m in family.members})
    active = await repository.active_iins(session, everyone) if everyone else set()
    invited_rows = (await session.execute(select(InvitedMember.iin).where(
        InvitedMember.quarter == str(quarter), InvitedMember.iin.in_(everyone)))).scalars() if everyone else []
    invited = set(invited_rows)
    candidates: list[tuple[int, Any]] = []
    claimed: set[str] = set()  # members of earlier families of this batch that reach the pre-check
    for index, family in read:
        iins = [m.iin for m in family.members]
        if invitations.first_overlap(iins, active):
            answers[index] = Answer(index, family.reference, invitations.ALREADY_APPLYING_OR_RECEIVING)
        elif invitations.first_overlap(iins, invited | claimed):
            answers[index] = Answer(index, family.reference, invitations.ALREADY_INVITED)
        else:
            claimed.update(iins)
            candidates.append((index, family))

    gate = asyncio.Semaphore(settings.fdc_precheck_concurrency)

    async def check(index: int, family: Any) -> tuple[int, Any, invitations.PreCheck | Answer]:
        async with gate:
            try:
                incomes = [row for m in family.members for row in await checker.incomes(m.iin, assessed)]
                decision = await checker.estimate({
                    "region_kato": family.region_kato, "application_date": today.isoformat(),
                    "members": [{"iin": m.iin, "birth_date": m.birth_date.isoformat(), "sex": m.sex,
                                 "relation": m.relation} for m in family.members],
                    "incomes": incomes}, internal_token)
            except NotChecked as not_checked:
                return index, family, Answer(index, family.reference, invitations.NOT_CHECKED,
                                             reasons=(not_checked.code,))
            except RefusedByRules as refused:
                return index, family, Answer(index, family.reference, invitations.INVALID, errors=tuple(
                    {"field": f"families[{index}].{e['field']}", "message": e["message"]} for e in refused.errors))
            return index, family, invitations.pre_check(decision)

    deadline = invitations.conversion_deadline(today, settings.invitation_window_days)
    for index, family, result in await asyncio.gather(*(check(i, f) for i, f in candidates)):
        if isinstance(result, Answer):
            answers[index] = result
        elif result.outcome == invitations.NOT_LIKELY_ELIGIBLE:
            answers[index] = Answer(index, family.reference, invitations.NOT_LIKELY_ELIGIBLE, reasons=result.reasons)
        else:
            invitation_id = await _store(session, family=family, quarter=quarter, assessed=assessed,
                                         caller_id=caller_id, now=now, deadline=deadline,
                                         monthly=result.monthly_amount)
            answers[index] = (Answer(index, family.reference, invitations.ALREADY_INVITED) if invitation_id is None
                              else Answer(index, family.reference, invitations.INVITED, invitation_id=invitation_id,
                                          monthly_estimate=result.monthly_amount))
    done = [a for a in answers if a is not None]
    counts = {outcome: sum(1 for a in done if a.outcome == outcome) for outcome in invitations.OUTCOMES}
    log.info("FDC batch of %d families by %s: %s", len(families), caller_id,
             ", ".join(f"{k} {v}" for k, v in counts.items() if v))
    return {"quarter": str(quarter), "assessment_quarter": str(assessed), "counts": counts,
            "families": [a.to_dict() for a in done]}


async def _store(session: AsyncSession, *, family: Any, quarter: Quarter, assessed: Quarter, caller_id: str,
                 now: datetime, deadline: Any, monthly: int | None) -> UUID | None:
    """The invitation and its members, and its `fdc.invitation.issued` event (reporting's funnel:
    counts, no person's data) in the same savepoint; None when another batch invited a member
    meanwhile (the primary key of fdc_invited_members decides)."""
    invitation_id = uuid7()
    iins = [m.iin for m in family.members]
    applicant = next(m.iin for m in family.members if m.relation == "applicant")
    try:
        async with session.begin_nested():
            await session.execute(insert(Invitation).values(
                id=invitation_id, reference=family.reference, quarter=str(quarter), assessment_quarter=str(assessed),
                region_kato=family.region_kato, settlement=family.settlement, category=family.category,
                channel=invitations.CHANNEL_SMS, phone=family.phone, applicant_iin=applicant, member_iins=iins,
                monthly_estimate=monthly, status=invitations.STATUS_INVITED, invited_by=caller_id, created_at=now,
                expires_on=deadline))
            await session.execute(insert(InvitedMember), [
                {"quarter": str(quarter), "iin": iin, "invitation_id": invitation_id} for iin in iins])
            await emit(session, FdcInvitationIssued(
                invitation_id=invitation_id, quarter=str(quarter), region_kato=family.region_kato,
                settlement=family.settlement, channel=invitations.CHANNEL_SMS, category=family.category,
                members=len(iins), invited_at=now, apply_by=deadline), source="intake", key=str(invitation_id))
    except IntegrityError:
        return None
    return invitation_id


# ---- the SMS ------------------------------------------------------------------------------------

async def dispatch_invitation_sms(*, sessionmaker: async_sessionmaker[AsyncSession], gateway: SmsGateway,
                                  sender: str, link: str, clock: Callable[[], datetime] = utcnow,
                                  limit: int = 50) -> int:
    """One round: the SMS of every invitation not sent yet; returns how many the gateway took.
    Raises SmsUnavailable while the gateway is down (the rest wait). A refused SMS (a 4xx) is
    marked refused and not sent again; the portal notice stands."""
    async with sessionmaker() as session, session.begin():
        waiting = (await session.execute(
            select(Invitation.id, Invitation.phone, Invitation.expires_on)
            .where(Invitation.sms_sent_at.is_(None), Invitation.sms_refused_at.is_(None))
            .order_by(Invitation.created_at).limit(limit))).all()
    taken = 0
    for invitation_id, phone, expires_on in waiting:
        values: dict[str, Any]
        try:
            message_id = await gateway.send(
                to=phone, text=invitations.sms_text(sender=sender, link=link, deadline=expires_on),
                reference=str(invitation_id))
            values = {"sms_sent_at": clock(), "sms_message_id": message_id}
            taken += 1
        except SmsRefused as refusal:
            log.warning("invitation SMS to %s refused: %s", mask_phone(phone), refusal,
                        extra={"invitation_id": str(invitation_id)})
            values = {"sms_refused_at": clock()}
        async with sessionmaker() as session, session.begin():
            await session.execute(update(Invitation).where(Invitation.id == invitation_id).values(**values))
    if taken:
        log.info("%d invitation SMS taken by the SMS gateway", taken)
    return taken


async def run_invitation_dispatcher(*, sessionmaker: async_sessionmaker[AsyncSession], settings: IntakeSettings,
                                    clock: Callable[[], datetime] = utcnow) -> None:
    """For the life of the process: a round every `sms_poll_interval_seconds`, backing off while
    the gateway is down."""
    gateway = HttpSmsGateway(settings.model_copy(update={"sms_sender": settings.fdc_sms_sender}))
    delay = interval = settings.sms_poll_interval_seconds
    try:
        while True:
            try:
                taken = await dispatch_invitation_sms(sessionmaker=sessionmaker, gateway=gateway,
                                                      sender=settings.fdc_sms_sender,
                                                      link=settings.invitation_link, clock=clock)
                delay = interval
            except SmsUnavailable as unavailable:
                log.warning("invitation SMS not sent: %s; trying again in %.0fs", unavailable, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, settings.sms_retry_max_seconds)
                continue
            if taken < 50:
                await asyncio.sleep(interval)
    finally:
        await gateway.aclose()


# ---- the portal notice and the funnel -----------------------------------------------------------

async def portal_invitations(*, session: AsyncSession, iin: str, link: str) -> list[dict[str, Any]]:
    """The invitations naming the citizen, the latest first, with the notice to show them."""
    rows = (await session.execute(
        select(Invitation).join(InvitedMember, InvitedMember.invitation_id == Invitation.id)
        .where(InvitedMember.iin == iin).order_by(Invitation.created_at.desc()))).scalars().all()
    return [{"id": str(row.id), "quarter": row.quarter, "status": row.status, "invited_at": row.created_at,
             "apply_by": row.expires_on, "link": link, "monthly_estimate": row.monthly_estimate,
             "application_id": str(row.application_id) if row.application_id else None,
             "notice": invitations.notice(link=link, deadline=row.expires_on, monthly_amount=row.monthly_estimate)}
            for row in rows]


def _reached(statuses: frozenset[str]) -> Any:
    return exists().where(and_(StatusChange.application_id == Invitation.application_id,
                               StatusChange.status.in_(sorted(statuses))))


async def funnel(*, session: AsyncSession, quarter: str, region: str | None) -> list[dict[str, Any]]:
    """Counts per region (first two KATO digits) and channel of the invitations of `quarter`."""
    prefix = func.substr(Invitation.region_kato, 1, 2)
    query = (select(prefix, Invitation.channel, func.count(),
                    func.count(Invitation.application_id),
                    func.count().filter(_reached(invitations.APPROVED_STATUSES)),
                    func.count().filter(_reached(invitations.PAID_STATUSES)))
             .where(Invitation.quarter == quarter).group_by(prefix, Invitation.channel).order_by(prefix, Invitation.channel))
    if region is not None:
        query = query.where(prefix == region[:2])
    return [{"region": f"{code}0000000", "channel": channel, "invited": invited, "applied": applied,
             "approved": approved, "paid": paid}
            for code, channel, invited, applied, approved, paid in (await session.execute(query)).all()]
