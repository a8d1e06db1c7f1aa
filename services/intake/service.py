"""Intake use cases: submit an application, show it to whoever may see it, tell an FDC where a
person's assistance stands, keep the reference data, follow the application along the event
flow. Each loads, lets the domain decide, saves and emits.

Who sees what (shared.access): the citizen the portal acts for — their own families, in full;
a case worker — the families of their regions, phones masked; ops — every family, masked. Every
answer that carries people's data unmasked names them (`note_data_subjects`), so the gateway
records the read.
"""

from __future__ import annotations

import logging
import secrets
from datetime import date, datetime, timedelta
from typing import Any
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession

from services.intake import consent, conversion, domain, repository
from services.intake.schemas import (
    ApplicationIn, ApplicationOut, BankIn, BankOut, BusinessDayOut, ConsentAnswerOut, DecreeIn, DecreeOut,
    SmsInboundIn, TsaStatusOut,
)
from shared.access import CITIZEN, REGIONS, FamilyAccess, family_access, mask_phone, note_data_subjects
from shared.business_days import DecreedDay
from shared.calendar import Quarter, business_date, utcnow
from shared.consumer import handles_batches
from shared.errors import Conflict, Forbidden, InvalidInput, NotFound, QamqorError, field_error
from shared.events import Envelope
from shared.events.contracts import ParameterRecorded
from shared.identity import Caller
from shared.idempotency import run_once
from shared.ids import uuid7
from shared.outbox import emit

SOURCE = "intake"
log = logging.getLogger("qamqor.intake")


# ---- applications -----------------------------------------------------------------------------

def applying_citizen(caller: Caller) -> str:
    """The citizen an application may be submitted for: only the portal submits, acting for a
    citizen (else 403 citizen-token-required)."""
    if caller.kind != "portal":
        raise Forbidden("Applications are submitted by the portal, acting for the citizen who applies.",
                        slug="portal-only", title="Only the portal submits applications")
    access = family_access(caller)
    assert access.citizen_iin is not None
    return access.citizen_iin


async def submit(*, session: AsyncSession, caller: Caller, citizen: str, idempotency_key: str,
                 body: ApplicationIn) -> tuple[int, dict[str, Any]]:
    """(status, JSON body): the answer is stored with the Idempotency-Key, so a retry gets the
    very same one. `citizen`: the citizen the portal acts for, who must be the family's applicant."""
    form = body.to_form()
    try:
        domain.refuse_unless_applicant(form.members, citizen)
    except domain.NotTheApplicant as refusal:
        raise Forbidden(str(refusal), slug="not-the-applicant", title="Not the family's applicant",
                        errors=_field_errors(refusal)) from None

    async def create() -> tuple[int, dict[str, Any]]:
        application, consents = await _create(session=session, caller=caller, form=form)
        return 201, _present(application, FamilyAccess(CITIZEN, citizen_iin=citizen),
                             consents).model_dump(mode="json")

    # One portal acts for many citizens: each citizen's keys are their own.
    status, response, _ = await run_once(
        session, caller_id=f"{caller.id}/{citizen}", key=idempotency_key, request_body=body.model_dump(mode="json"),
        action=create,
    )
    note_data_subjects(m["iin"] for m in response.get("members", ()))  # a replayed answer carries them too
    return status, response


async def _create(*, session: AsyncSession, caller: Caller,
                  form: domain.ApplicationForm) -> tuple[domain.Application, list[consent.ConsentRequest]]:
    """The new application and the consent requests made with it (in the order they were made)."""
    iins = [m.iin for m in form.members]
    now = utcnow()
    # An assigned application whose period ended before today no longer holds its members: ended
    # here, in this transaction, if the period-end sweep has not ended it yet.
    await end_periods_over(session, await repository.assigned_with_members(session, iins), now=now)
    taken = await repository.active_iins(session, iins)
    banks = await repository.banks(session)
    # the adult age for the submission, and the consent policy for its consent requests: one read
    parameters = await repository.parameter_values(session, domain.ADULT_AGE, domain.CONSENT_REQUIRED)
    try:
        application, event = domain.submit(form, submitted_by=caller.id, at=now,
                                           members_on_active_applications=taken, banks=banks, parameters=parameters,
                                           new_id=uuid7)
        try:
            await repository.add(session, application)
        except repository.MemberOnActiveApplication:
            # Another submission for a member committed between the check and the write: the
            # same answer as if it had been there at the check.
            domain.refuse_members_on_active_applications(form.members, await repository.active_iins(session, iins))
            raise domain.ActiveApplicationExists(  # that one was withdrawn again meanwhile
                "A member already has an active application; it must be decided or withdrawn first.",
                [("members", "a member's application was submitted at the same moment")]) from None
        # An FDC invitation of a member, within its window, converts into this application.
        await conversion.link_application(session, application)
        # The consent requests to every adult, in the submission's transaction, announced after
        # the submission (the dispatcher sends the SMS once it is committed); the submission says
        # whether the family's consent is required, so verification knows to wait for it.
        consents, consent_events, required = await _consent_requests(session=session, application=application,
                                                                     parameters=parameters)
        event = event.model_copy(update={"consent_required": required})
        await emit(session, event, source=SOURCE, key=str(application.id), correlation_id=str(application.id))
        for consent_event in consent_events:
            await _emit_consent(session, consent_event)
    except domain.InvalidApplication as refusal:
        raise InvalidInput(str(refusal), errors=_field_errors(refusal)) from None
    except domain.ActiveApplicationExists as refusal:
        raise Conflict(str(refusal), slug="active-application-exists", title="Active application exists",
                       errors=_field_errors(refusal)) from None
    except domain.MissingParameter as missing:
        log.error("application refused: %s", missing)
        raise QamqorError(
            f"Intake cannot check the application now: {missing}. An administrator of eligibility records it; "
            "try again later.", status=503, slug="parameter-missing", title="A policy parameter has no value",
            headers={"Retry-After": "3600"}) from None
    # As `repository.consents_of` would read them back: in the order of their ids.
    return application, sorted(consents, key=lambda request: request.id)


async def end_periods_over(session: AsyncSession, application_ids: list[UUID], *, now: datetime) -> int:
    """End each of these applications whose assignment period ended before `now`'s business day
    in Almaty (`domain.period_over`), each under its row lock (one ended meanwhile is left as it
    is); how many were ended. Its members are then free to apply again."""
    ended = 0
    for application_id in application_ids:
        application = await repository.get(session, application_id, for_update=True)
        if application is None or not domain.period_over(application, business_date(now)):
            continue
        over, change = domain.end_period(application, at=now)
        await repository.save(session, over, change)
        ended += 1
    return ended


async def end_assignment_periods(session: AsyncSession, *, now: datetime, limit: int = 500) -> int:
    """The period-end sweep, one batch: assigned applications whose period quarter is before
    `now`'s quarter (in Almaty) are ended; how many."""
    quarter = str(Quarter.of(business_date(now)))
    return await end_periods_over(session, await repository.assigned_before(session, quarter, limit=limit), now=now)


def withdrawing_citizen(caller: Caller) -> str:
    """The citizen an application may be withdrawn for: only the portal withdraws, acting for a
    citizen (else 403 citizen-token-required), who must be a member of the family (else 404)."""
    if caller.kind != "portal":
        raise Forbidden("Applications are withdrawn by the portal, acting for a member of the family.",
                        slug="portal-only", title="Only the portal withdraws applications")
    access = family_access(caller)
    assert access.citizen_iin is not None
    return access.citizen_iin


async def withdraw(*, session: AsyncSession, citizen: str, application_id: UUID, reason: str,
                   now: datetime) -> ApplicationOut:
    """A member of the family withdraws its application, until a payment is scheduled: it becomes
    `withdrawn`, frees its members, and `application.withdrawn` is emitted in the same transaction."""
    application = await repository.get(session, application_id, for_update=True)
    if application is None or citizen not in {m.iin for m in application.members}:
        raise NotFound(f"No application {application_id}.")  # nor one of this citizen's families: the same answer
    try:
        withdrawn, change, event = domain.withdraw(application, reason=reason, at=now)
    except domain.NotWithdrawable as refusal:
        raise Conflict(str(refusal), slug="not-withdrawable", title="Application can no longer be withdrawn",
                       errors=_field_errors(refusal)) from None
    await repository.save(session, withdrawn, change)
    await emit(session, event, source=SOURCE, key=str(application_id), correlation_id=str(application_id))
    log.info("application %s withdrawn (%s)", application_id, reason)
    return _present(withdrawn, FamilyAccess(CITIZEN, citizen_iin=citizen),
                    await repository.consents_of(session, application_id))


def _field_errors(refusal: domain.ApplicationRefused) -> list[dict[str, str]]:
    return [field_error(path, message) for path, message in refusal.problems]


def _present(application: domain.Application, access: FamilyAccess,
             consents: list[consent.ConsentRequest] | None = None) -> ApplicationOut:
    """The application as this caller may see it (with its members' consents when given); unmasked
    data is noted as read."""
    if not access.masked:
        note_data_subjects(m.iin for m in application.members)
    return ApplicationOut.of(application, masked=access.masked, phones_in_clear=access.view == CITIZEN,
                             consents=consents)


async def get_application(*, session: AsyncSession, access: FamilyAccess, application_id: UUID) -> ApplicationOut:
    application = await repository.get(session, application_id)
    if application is None or not access.may_see([m.iin for m in application.members], application.region_kato):
        raise NotFound(f"No application {application_id}.")  # nor one this caller may see: the same answer
    return _present(application, access, await repository.consents_of(session, application_id))


async def list_applications(*, session: AsyncSession, access: FamilyAccess, status: str | None,
                            region_kato: str | None, iin: str | None, limit: int) -> list[ApplicationOut]:
    """The latest applications the caller may see; `iin`: those of one person."""
    if iin is not None and access.masked:
        # Masking is pointless if a search by IIN says whose family each masked entry is.
        raise Forbidden("A masked view does not search by person: a person's applications are read by the "
                        "citizen, or by a case worker of their region.", slug="masked-view-no-person-search",
                        title="No search by person in a masked view",
                        errors=[field_error("query.iin", "not allowed in a masked view")])
    members = [m for m in (access.citizen_iin if access.view == CITIZEN else None, iin) if m is not None]
    applications = await repository.list_recent(
        session, status=status, region_kato=region_kato,
        region_prefixes=access.regions if access.view == REGIONS else None, members=members, limit=limit)
    return [_present(a, access) for a in applications]


def fdc_only(caller: Caller) -> None:
    if caller.kind != "fdc":
        raise Forbidden("The TSA status lookup is for Family Development Centres.", slug="fdc-only",
                        title="Only a Family Development Centre looks up a status")


async def tsa_status(*, session: AsyncSession, iin: str) -> TsaStatusOut:
    """A Family Development Centre asks where a person's assistance stands (it does not list
    applications); the answer is about that person, so the read is noted."""
    status = domain.tsa_status(await repository.latest_with_member(session, iin))
    note_data_subjects([iin])
    return TsaStatusOut.of(status)


# ---- reference data ---------------------------------------------------------------------------

async def list_banks(*, session: AsyncSession, active: bool | None) -> list[BankOut]:
    return [BankOut.of(b) for b in (await repository.banks(session)).values() if active is None or b.active == active]


async def put_bank(*, session: AsyncSession, caller: Caller, bic: str, body: BankIn) -> tuple[bool, BankOut]:
    """(added, the bank as recorded)."""
    bank = domain.ParticipatingBank(bic=bic, code=body.code, name=body.name, active=body.active)
    problems = domain.bank_record_problems(bank)
    if problems:
        raise InvalidInput(f"The bank cannot be recorded ({len(problems)} problem(s)).",
                           errors=[field_error(path, message) for path, message in problems])
    holder = next((b for b in (await repository.banks(session)).values()
                   if b.active and b.code == bank.code and b.bic != bic), None) if bank.active else None
    taken = Conflict(f"Bank code {bank.code} belongs to another active bank; deactivate it first.",
                     slug="bank-code-taken", title="Bank code taken",
                     errors=[field_error("code", f"bank code {bank.code} is {holder.bic if holder else 'taken'}'s")])
    if holder is not None:
        raise taken
    try:
        added = await repository.put_bank(session, bank, by=caller.id, at=utcnow())
    except repository.BankCodeTaken:
        raise taken from None
    log.info("participating bank %s %s by %s", bic, "added" if added else "changed", caller.id)
    return added, BankOut.of(bank)


# ---- events -----------------------------------------------------------------------------------

async def follow_flows(session: AsyncSession, envelopes: list[Envelope]) -> None:
    """`follow_flow` for a batch of events (a reassessment run's burst of extensions, and the
    payment plans that follow them): the applications read and locked in one query, each event
    followed in its order on what the one before left, the changes written a statement each."""
    events = [(envelope, envelope.payload()) for envelope in envelopes]
    applications = await repository.get_many(session, list({domain.application_id_of(e) for _, e in events}))
    followed: dict[UUID, domain.Application] = {}
    changes: list[tuple[UUID, domain.StatusChange]] = []
    for envelope, event in events:
        application = applications.get(domain.application_id_of(event))
        if application is None:
            continue
        application, change = domain.follow(application, event, event_id=envelope.id, at=envelope.occurred_at)
        applications[application.id] = followed[application.id] = application
        if change is not None:
            changes.append((application.id, change))
    await repository.save_many(session, list(followed.values()), changes)


@handles_batches(follow_flows)
async def follow_flow(session: AsyncSession, envelope: Envelope) -> None:
    """Verification, eligibility, contracts and payments report on an application: its status
    follows."""
    event: domain.FlowEvent = envelope.payload()  # type: ignore[assignment]
    application = await repository.get(session, domain.application_id_of(event), for_update=True)
    if application is None:
        return
    followed, change = domain.follow(application, event, event_id=envelope.id, at=envelope.occurred_at)
    await repository.save(session, followed, change)


async def record_parameter(session: AsyncSession, envelope: Envelope) -> None:
    """Eligibility recorded a parameter value: keep it if intake applies that parameter."""
    event: ParameterRecorded = envelope.payload()  # type: ignore[assignment]
    if event.name not in domain.REPLICATED_PARAMETERS:
        return
    value = tuple(event.value) if isinstance(event.value, list) else event.value
    problem = domain.replica_value_problem(event.name, value)
    if problem is not None:
        # Eligibility checks its values; one intake cannot apply is left out, not guessed at.
        log.warning("parameter %s value %s ignored: %s", event.name, event.parameter_id, problem,
                    extra={"event_id": str(envelope.id), "event_type": envelope.type})
        return
    await repository.add_parameter_value(session, event.parameter_id, domain.ParameterValue(
        name=event.name, region_kato=event.region_kato, valid_from=event.valid_from, valid_to=event.valid_to,
        value=value, recorded_at=event.recorded_at))


# ---- consent to the expense check -------------------------------------------------------------
# Every change to an application's consent requests is made holding its application's row lock
# (`repository.lock_application`), taken before any consent row is read for the change: two
# members answering at once then see each other's answer, so exactly one of the events says the
# family granted; and one lock order (application, then its requests) means no deadlock.

async def _consent_requests(*, session: AsyncSession, application: domain.Application,
                            parameters: list[domain.ParameterValue] | None = None,
                            ) -> tuple[list[consent.ConsentRequest], list[consent.ConsentEvent], bool]:
    """With the submission, in its transaction: a consent request to every adult on the
    application date, when the policy requires consent on that date (services/intake/consent.py);
    the events announcing them, and whether consent is required. `parameters`: the adult age's
    and the consent policy's values, when the caller has read them."""
    day, region = application.application_date, application.region_kato
    if parameters is None:
        parameters = await repository.parameter_values(session, domain.ADULT_AGE, domain.CONSENT_REQUIRED)
    required = consent.consent_required(parameters, region, day)
    requests, events = consent.request_consents(
        application, adult_age=domain.adult_age(parameters, region, day), required=required,
        calendar=await repository.business_calendar(session), new_id=uuid7)
    await repository.add_consents(session, requests)
    return requests, list(events), required


async def request_consents(*, session: AsyncSession, application: domain.Application) -> list[consent.ConsentRequest]:
    """The consent requests of a submission, made and announced (`_create` announces the
    submission first, then these)."""
    requests, events, _ = await _consent_requests(session=session, application=application)
    for event in events:
        await _emit_consent(session, event)
    return requests


async def issue_consent_code(*, session: AsyncSession, consent_id: UUID, salt: str,
                             pepper: bytes) -> tuple[consent.ConsentRequest, str] | None:
    """A fresh one-time code for the SMS to the member (the dispatcher sends it, then says so
    with `consent_sms_taken`); only its hash is written. None when the request is not open."""
    request = await repository.get_consent(session, consent_id)
    if request is None or not request.open or request.method != consent.SMS_1414:
        return None
    await repository.lock_application(session, request.application_id)
    request = await repository.get_consent(session, consent_id)
    if request is None or not request.open:
        return None
    same_phone = await repository.consents_by_phone(session, request.phone) if request.phone else []
    issued, code = consent.issue_code(request, same_phone=same_phone, new_code=new_consent_code, salt=salt,
                                      pepper=pepper)
    await repository.save_consent(session, issued)
    return issued, code


def new_consent_code() -> str:
    return f"{secrets.randbelow(10 ** consent.CODE_LENGTH):0{consent.CODE_LENGTH}d}"


def new_code_salt() -> str:
    return secrets.token_hex(16)


async def consent_sms_taken(*, session: AsyncSession, consent_id: UUID, at: datetime) -> consent.ConsentRequest | None:
    """The SMS gateway took the member's SMS at `at`: the member is asked and their business
    day starts (announced once; a resend changes nothing)."""
    request = await repository.get_consent(session, consent_id)
    if request is None:
        return None
    await repository.lock_application(session, request.application_id)
    family = await repository.consents_of(session, request.application_id)
    request = next(r for r in family if r.id == consent_id)
    asked, event = consent.ask_by_sms(request, at=at, calendar=await repository.business_calendar(session),
                                      family=family)
    if event is not None:
        await repository.save_consent(session, asked)
        await _emit_consent(session, event)
    return asked


async def answer_consent_by_sms(*, session: AsyncSession, from_phone: str, text: str, received_at: datetime,
                                pepper: bytes) -> consent.Answer:
    """An SMS reply to 1414. Whatever comes of it is logged with the number masked, never the
    text (it holds the code)."""
    phone = consent.normalise_phone(from_phone)
    same_phone = await repository.consents_by_phone(session, phone) if phone else []
    answer = consent.answer_by_sms(same_phone, text, from_phone=from_phone, received_at=received_at, pepper=pepper)
    if answer.changed:
        assert answer.request is not None
        # Answered against rows read without a lock: answered again on the locked state.
        await repository.lock_application(session, answer.request.application_id)
        same_phone = await repository.consents_by_phone(session, phone)  # type: ignore[arg-type]
        answer = consent.answer_by_sms(same_phone, text, from_phone=from_phone, received_at=received_at,
                                       pepper=pepper)
    log.info("consent reply by SMS from %s: %s", mask_phone(phone or from_phone), answer.outcome,
             extra={"consent_id": str(answer.request.id) if answer.request else None})
    if answer.changed:
        await _save_and_announce(session, answer.request)  # type: ignore[arg-type]
    return answer


async def _consent_under_lock(session: AsyncSession, consent_id: UUID) -> tuple[consent.ConsentRequest, bool] | None:
    """The request read again holding its application's lock (see above), and whether the
    application is decided; None: no such request."""
    request = await repository.get_consent(session, consent_id)
    if request is None:
        return None
    decided = await repository.lock_application(session, request.application_id)
    request = await repository.get_consent(session, consent_id)
    return None if request is None else (request, decided)


async def answer_consent_in_portal(*, session: AsyncSession, consent_id: UUID, citizen_iin: str, answer: str,
                                   at: datetime) -> consent.Answer | None:
    """The portal relays the answer of the citizen it acts for; None: no such request."""
    locked = await _consent_under_lock(session, consent_id)
    if locked is None:
        return None
    request, _ = locked
    result = consent.answer_in_portal(request, citizen_iin=citizen_iin, answer=answer, at=at)
    log.info("consent reply in the portal: %s", result.outcome, extra={"consent_id": str(consent_id)})
    if result.changed:
        await _save_and_announce(session, result.request)  # type: ignore[arg-type]
    return result


async def withdraw_consent(*, session: AsyncSession, consent_id: UUID, citizen_iin: str,
                           at: datetime) -> consent.Answer | None:
    """The member withdraws a consent given, until the application is decided; None: no such
    request."""
    locked = await _consent_under_lock(session, consent_id)
    if locked is None:
        return None
    request, decided = locked
    result = consent.withdraw(request, citizen_iin=citizen_iin, at=at, decided=decided)
    log.info("consent withdrawal: %s", result.outcome, extra={"consent_id": str(consent_id)})
    if result.changed:
        await _save_and_announce(session, result.request)  # type: ignore[arg-type]
    return result


async def expire_consents(*, session: AsyncSession, now: datetime, limit: int = 200) -> int:
    """The expiry sweep, driven by the database alone (a restart loses nothing): every open
    request whose deadline passed by `now` expires, and is announced. Returns how many."""
    expired = 0
    for due in await repository.consents_due_to_expire(session, now=now, limit=limit):
        await repository.lock_application(session, due.application_id)
        request = await repository.get_consent(session, due.id)
        changed = consent.expire(request, now=now) if request is not None else None
        if changed is not None:
            await _save_and_announce(session, changed)
            expired += 1
    return expired


def sms_gateway_only(caller: Caller) -> None:
    if caller.kind != "sms_gateway":
        raise Forbidden("Inbound SMS are posted by the SMS gateway only.", slug="sms-gateway-only",
                        title="Only the SMS gateway posts inbound SMS")


def consenting_citizen(caller: Caller) -> str:
    """The citizen a consent is answered or withdrawn for: only the portal, acting for a citizen."""
    if caller.kind != "portal":
        raise Forbidden("Consents are answered in the portal, acting for the member.", slug="portal-only",
                        title="Only the portal answers for a member")
    access = family_access(caller)
    assert access.citizen_iin is not None
    return access.citizen_iin


async def sms_inbound(*, session: AsyncSession, body: SmsInboundIn, pepper: bytes, now: datetime) -> ConsentAnswerOut:
    """An SMS to 1414 posted by the SMS gateway. A reception time in the future is taken as now."""
    received_at = min(body.received_at, now)
    answer = await answer_consent_by_sms(session=session, from_phone=body.from_, text=body.text,
                                         received_at=received_at, pepper=pepper)
    # The SMS gateway learns which request only when the reply counted.
    return ConsentAnswerOut.of(answer, show_request=answer.changed)


def _consent_answer(result: consent.Answer | None, consent_id: UUID) -> ConsentAnswerOut:
    if result is None:
        raise NotFound(f"No consent request {consent_id}.")
    if result.outcome == consent.NOT_THE_MEMBER:
        raise Forbidden(result.detail, slug="not-the-member", title="Not the member asked")
    return ConsentAnswerOut.of(result)


async def reply_to_consent(*, session: AsyncSession, citizen: str, consent_id: UUID, answer: str,
                           now: datetime) -> ConsentAnswerOut:
    result = await answer_consent_in_portal(session=session, consent_id=consent_id, citizen_iin=citizen,
                                            answer=answer, at=now)
    return _consent_answer(result, consent_id)


async def withdraw_consent_of(*, session: AsyncSession, citizen: str, consent_id: UUID,
                              now: datetime) -> ConsentAnswerOut:
    result = await withdraw_consent(session=session, consent_id=consent_id, citizen_iin=citizen, at=now)
    return _consent_answer(result, consent_id)


# A calendar read is one answer: a year and a day (a leap year's worth) at most.
MAX_CALENDAR_DAYS = 366


def admin_only(caller: Caller) -> None:
    """The scope `parameters:write` says what a caller may change; which days are worked is the
    government's word, recorded by an administrator only (not by a caller granted the scope)."""
    if caller.kind != "admin":
        raise Forbidden("Days the government decrees are recorded by an administrator.", slug="admin-only",
                        title="Only an administrator records a decree")


async def put_decree(*, session: AsyncSession, caller: Caller, day: date, body: DecreeIn) -> DecreeOut:
    """The decree for `day` as recorded (replacing one recorded before for that day)."""
    decree = DecreedDay(day, body.working, body.reason)
    await record_decree(session=session, caller=caller, decree=decree)
    return DecreeOut.of(decree)


async def business_days(*, session: AsyncSession, first: date, last: date) -> list[BusinessDayOut]:
    """Each day from `first` to `last` (both included) as deadlines are counted now: the
    package's weekends and holidays with the administrators' decrees over them."""
    if last < first:
        raise InvalidInput("'to' is before 'from'.", errors=[field_error("query.to", f"before 'from' ({first})")])
    if (last - first).days + 1 > MAX_CALENDAR_DAYS:
        raise InvalidInput(f"The calendar is read at most {MAX_CALENDAR_DAYS} days at a time.",
                           errors=[field_error("query.to", f"at most {MAX_CALENDAR_DAYS} days from 'from' ({first})")])
    calendar = await repository.business_calendar(session)
    return [BusinessDayOut.of(calendar.status(first + timedelta(days=n))) for n in range((last - first).days + 1)]


async def record_decree(*, session: AsyncSession, caller: Caller, decree: DecreedDay) -> None:
    """An administrator records a day the government decreed non-working (or working); deadlines
    counted from now on take it into account (those already set stand)."""
    await repository.put_decree(session, decree, by=caller.id, at=utcnow())
    log.info("business day %s decreed %s by %s", decree.day.isoformat(),
             "working" if decree.working else "non-working", caller.id)


async def _save_and_announce(session: AsyncSession, request: consent.ConsentRequest) -> None:
    await repository.save_consent(session, request)
    family = await repository.consents_of(session, request.application_id)
    await _emit_consent(session, consent.status_event(request, family))


async def _emit_consent(session: AsyncSession, event: consent.ConsentEvent) -> None:
    application_id = str(event.consent.application_id)
    await emit(session, event, source=SOURCE, key=application_id, correlation_id=application_id)
