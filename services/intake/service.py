"""Intake use cases: submit an application, show it, follow it along the event flow. Each loads,
lets the domain decide, saves and emits."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession

from services.intake import domain, repository
from services.intake.schemas import ApplicationIn, ApplicationOut
from shared.calendar import utcnow
from shared.errors import Conflict, InvalidInput, NotFound, field_error
from shared.events import Envelope
from shared.identity import Caller
from shared.idempotency import run_once
from shared.ids import uuid7
from shared.outbox import emit

SOURCE = "intake"


async def submit(*, session: AsyncSession, caller: Caller, idempotency_key: str,
                 body: ApplicationIn) -> tuple[int, dict[str, Any]]:
    """(status, JSON body): the answer is stored with the Idempotency-Key, so a retry gets the
    very same one."""
    async def create() -> tuple[int, dict[str, Any]]:
        application = await _create(session=session, caller=caller, body=body)
        return 201, ApplicationOut.model_validate(application).model_dump(mode="json")

    status, response, _ = await run_once(
        session, caller_id=caller.id, key=idempotency_key, request_body=body.model_dump(mode="json"), action=create
    )
    return status, response


async def _create(*, session: AsyncSession, caller: Caller, body: ApplicationIn) -> domain.Application:
    form = body.to_form()
    taken = await repository.active_iins(session, [m.iin for m in form.members])
    try:
        application, event = domain.submit(form, submitted_by=caller.id, at=utcnow(),
                                           members_on_active_applications=taken, new_id=uuid7)
    except domain.InvalidApplication as refusal:
        raise InvalidInput(str(refusal), errors=_field_errors(refusal)) from None
    except domain.ActiveApplicationExists as refusal:
        raise Conflict(str(refusal), slug="active-application-exists", title="Active application exists",
                       errors=_field_errors(refusal)) from None
    await repository.add(session, application)
    await emit(session, event, source=SOURCE, key=str(application.id), correlation_id=str(application.id))
    return application


def _field_errors(refusal: domain.ApplicationRefused) -> list[dict[str, str]]:
    return [field_error(path, message) for path, message in refusal.problems]


async def get_application(*, session: AsyncSession, application_id: UUID) -> ApplicationOut:
    application = await repository.get(session, application_id)
    if application is None:
        raise NotFound(f"No application {application_id}.")
    return ApplicationOut.model_validate(application)


async def list_applications(*, session: AsyncSession, status: str | None, region_kato: str | None,
                            limit: int) -> list[ApplicationOut]:
    applications = await repository.list_recent(session, status=status, region_kato=region_kato, limit=limit)
    return [ApplicationOut.model_validate(a) for a in applications]


async def follow_flow(session: AsyncSession, envelope: Envelope) -> None:
    """Verification, eligibility, contracts and payments report on an application: its status
    follows."""
    event: domain.FlowEvent = envelope.payload()  # type: ignore[assignment]
    application = await repository.get(session, domain.application_id_of(event), for_update=True)
    if application is None:
        return
    followed, change = domain.follow(application, event, event_id=envelope.id, at=utcnow())
    await repository.save(session, followed, change)
