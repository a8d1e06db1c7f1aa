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
from typing import Any
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession

from services.intake import domain, repository
from services.intake.schemas import ApplicationIn, ApplicationOut, BankIn, BankOut, TsaStatusOut
from shared.access import CITIZEN, REGIONS, FamilyAccess, family_access, note_data_subjects
from shared.calendar import utcnow
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
        application = await _create(session=session, caller=caller, form=form)
        return 201, _present(application, FamilyAccess(CITIZEN, citizen_iin=citizen)).model_dump(mode="json")

    # One portal acts for many citizens: each citizen's keys are their own.
    status, response, _ = await run_once(
        session, caller_id=f"{caller.id}/{citizen}", key=idempotency_key, request_body=body.model_dump(mode="json"),
        action=create,
    )
    note_data_subjects(m["iin"] for m in response.get("members", ()))  # a replayed answer carries them too
    return status, response


async def _create(*, session: AsyncSession, caller: Caller, form: domain.ApplicationForm) -> domain.Application:
    iins = [m.iin for m in form.members]
    taken = await repository.active_iins(session, iins)
    banks = await repository.banks(session)
    parameters = await repository.parameter_values(session, domain.ADULT_AGE)
    try:
        application, event = domain.submit(form, submitted_by=caller.id, at=utcnow(),
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
    await emit(session, event, source=SOURCE, key=str(application.id), correlation_id=str(application.id))
    return application


def _field_errors(refusal: domain.ApplicationRefused) -> list[dict[str, str]]:
    return [field_error(path, message) for path, message in refusal.problems]


def _present(application: domain.Application, access: FamilyAccess) -> ApplicationOut:
    """The application as this caller may see it; unmasked data is noted as read."""
    if not access.masked:
        note_data_subjects(m.iin for m in application.members)
    return ApplicationOut.of(application, masked=access.masked, phones_in_clear=access.view == CITIZEN)


async def get_application(*, session: AsyncSession, access: FamilyAccess, application_id: UUID) -> ApplicationOut:
    application = await repository.get(session, application_id)
    if application is None or not access.may_see([m.iin for m in application.members], application.region_kato):
        raise NotFound(f"No application {application_id}.")  # nor one this caller may see: the same answer
    return _present(application, access)


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
