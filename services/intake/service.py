"""Intake use cases: submit an application, show it, follow it along the event flow."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession

from services.intake import domain, repository
from services.intake.models import Application, ApplicationMember
from services.intake.schemas import ApplicationIn, ApplicationOut
from shared.calendar import business_date
from shared.errors import Conflict, InvalidInput, NotFound, field_error
from shared.events import Envelope
from shared.events.contracts import (
    ApplicationSubmitted,
    BankAccount,
    CaseContext,
    ContractDrafted,
    ContractSigned,
    EligibilityDecided,
    EligibilityDeferred,
    FamilyMember,
    PaymentScheduled,
    VerificationCompleted,
)
from shared.iin import mask_iin
from shared.identity import Caller
from shared.idempotency import run_once
from shared.outbox import emit
from shared.regions import region_name

SOURCE = "intake"


def to_out(application: Application) -> dict[str, Any]:
    return ApplicationOut(
        id=application.id,
        status=application.status,
        channel=application.channel,
        region_kato=application.region_kato,
        settlement=application.settlement,
        application_date=application.application_date,
        extension=application.extension,
        expense_check_consent=application.expense_check_consent,
        submitted_at=application.submitted_at,
        members=application.members,
        timeline=[{"status": c.status, "at": c.at, "detail": c.detail} for c in application.timeline],
        decision=application.decision,
        contract_id=application.contract_id,
    ).model_dump(mode="json")


async def submit(*, session: AsyncSession, caller: Caller, idempotency_key: str, body: ApplicationIn) -> tuple[int, dict[str, Any]]:
    async def create() -> tuple[int, dict[str, Any]]:
        application = await _create(session=session, caller=caller, body=body)
        return 201, to_out(application)

    status, response, _ = await run_once(
        session, caller_id=caller.id, key=idempotency_key, request_body=body.model_dump(mode="json"), action=create
    )
    return status, response


async def _create(*, session: AsyncSession, caller: Caller, body: ApplicationIn) -> Application:
    today = business_date()
    problems = domain.family_problems(
        [domain.MemberFacts(m.iin, m.birth_date, m.sex, m.relation) for m in body.members], today
    )
    if region_name(body.region_kato) is None:
        problems.append(("region_kato", "unknown region: the first two digits of the KATO code name no region"))
    if problems:
        raise InvalidInput(
            f"The family as submitted cannot be accepted ({len(problems)} problem(s)).",
            errors=[field_error(path, message) for path, message in problems],
        )
    iins = [m.iin for m in body.members]
    taken = await repository.active_iins(session, iins)
    if taken:
        raise Conflict(
            "A member already has an active application; it must be decided or withdrawn first.",
            slug="active-application-exists", title="Active application exists",
            errors=[field_error(f"members[{iins.index(i)}].iin", f"{mask_iin(i)} already has an active application")
                    for i in sorted(taken)],
        )
    application = Application(
        status=domain.SUBMITTED,
        channel=body.channel,
        region_kato=body.region_kato,
        settlement=body.settlement,
        application_date=today,
        extension=body.extension,
        expense_check_consent=body.expense_check_consent,
        bank_iban=body.bank_account.iban,
        bank_code=body.bank_account.bank_code,
        submitted_by=caller.id,
        members=[
            ApplicationMember(position=i, **m.model_dump()) for i, m in enumerate(body.members)
        ],
        timeline=[],
    )
    session.add(application)
    await session.flush()  # the unique index on active members speaks here, inside the request
    repository.add_status(session, application, domain.SUBMITTED)
    await session.flush()
    await session.refresh(application, ["submitted_at"])
    payload = ApplicationSubmitted(
        application=case_context(application),
        expense_check_consent=application.expense_check_consent,
        members=[FamilyMember(**{k: getattr(m, k) for k in FamilyMember.model_fields}) for m in application.members],
    )
    await emit(session, payload, source=SOURCE, key=str(application.id), correlation_id=str(application.id))
    return application


def case_context(application: Application) -> CaseContext:
    return CaseContext(
        application_id=application.id,
        application_date=application.application_date,
        region_kato=application.region_kato,
        settlement=application.settlement,
        channel=application.channel,
        extension=application.extension,
        bank_account=BankAccount(iban=application.bank_iban, bank_code=application.bank_code),
    )


async def get_application(*, session: AsyncSession, application_id: UUID) -> dict[str, Any]:
    application = await repository.get(session, application_id)
    if application is None:
        raise NotFound(f"No application {application_id}.")
    return to_out(application)


async def list_applications(*, session: AsyncSession, status: str | None, region_kato: str | None, limit: int) -> list[dict[str, Any]]:
    return [to_out(a) for a in await repository.list_recent(session, status=status, region_kato=region_kato, limit=limit)]


# ---- following the flow -------------------------------------------------------------------

async def _advance(session: AsyncSession, envelope: Envelope, application_id: UUID, status: str,
                   detail: dict[str, Any] | None = None, **changes: Any) -> Application | None:
    application = await repository.get(session, application_id, for_update=True)
    if application is None:
        return None
    for name, value in changes.items():
        setattr(application, name, value)
    if domain.can_move(application.status, status):
        repository.add_status(session, application, status, event_id=envelope.id, detail=detail)
        if status in domain.INACTIVE:
            await repository.deactivate_members(session, application.id)
    return application


async def on_verification_completed(session: AsyncSession, envelope: Envelope) -> None:
    event: VerificationCompleted = envelope.payload()  # type: ignore[assignment]
    await _advance(session, envelope, event.application.application_id, domain.VERIFIED,
                   {"assessment_quarter": event.assessment_quarter, "incomes_found": len(event.incomes)})


async def on_eligibility_decided(session: AsyncSession, envelope: Envelope) -> None:
    event: EligibilityDecided = envelope.payload()  # type: ignore[assignment]
    decision = event.model_dump(mode="json", exclude={"application", "members", "able_bodied_iins"})
    status = domain.APPROVED if event.eligible else domain.REJECTED
    await _advance(session, envelope, event.application.application_id, status,
                   {"reasons": event.reasons}, decision=decision)


async def on_eligibility_deferred(session: AsyncSession, envelope: Envelope) -> None:
    event: EligibilityDeferred = envelope.payload()  # type: ignore[assignment]
    await _advance(session, envelope, event.application.application_id, domain.DECISION_PENDING,
                   {"reason": event.reason, "detail": event.detail})


async def on_contract_drafted(session: AsyncSession, envelope: Envelope) -> None:
    event: ContractDrafted = envelope.payload()  # type: ignore[assignment]
    await _advance(session, envelope, event.application_id, domain.CONTRACT_DRAFTED,
                   {"contract_id": str(event.contract_id)}, contract_id=event.contract_id)


async def on_contract_signed(session: AsyncSession, envelope: Envelope) -> None:
    event: ContractSigned = envelope.payload()  # type: ignore[assignment]
    await _advance(session, envelope, event.application_id, domain.CONTRACT_SIGNED,
                   {"contract_id": str(event.contract_id)}, contract_id=event.contract_id)


async def on_payment_scheduled(session: AsyncSession, envelope: Envelope) -> None:
    event: PaymentScheduled = envelope.payload()  # type: ignore[assignment]
    await _advance(session, envelope, event.application_id, domain.PAYMENTS_SCHEDULED,
                   {"payments": len(event.payments), "total": event.total})
