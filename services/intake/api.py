from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, Header, Path, Query, Request
from fastapi.responses import JSONResponse

from services.intake import service
from services.intake.schemas import (
    ApplicationIn,
    ApplicationOut,
    ApplicationStatus,
    BankIn,
    BankOut,
    Bic,
    BusinessDayOut,
    CalendarDay,
    DecreeIn,
    DecreeOut,
    ConsentAnswerOut,
    ConsentReplyIn,
    Iin,
    SmsInboundIn,
    TsaStatusOut,
    WithdrawalIn,
    problems,
)
from shared.access import FamilyAccess, family_access
from shared.calendar import utcnow
from shared.idempotency import require_key
from shared.inputs import RegisteredKato
from shared.service import CallerDep, RequireScope, SessionDep

router = APIRouter(prefix="/v1")


# Who the caller acts for is settled before the request's parameters and body are read: a
# caller refused here learns nothing from validation errors. Coroutines, so that FastAPI does not
# run them in its thread pool.
async def _family_access(caller: CallerDep) -> FamilyAccess:
    return family_access(caller)


async def _applying_citizen(caller: CallerDep) -> str:
    return service.applying_citizen(caller)


async def _withdrawing_citizen(caller: CallerDep) -> str:
    return service.withdrawing_citizen(caller)


async def _fdc_only(caller: CallerDep) -> None:
    service.fdc_only(caller)


async def _admin_only(caller: CallerDep) -> None:
    service.admin_only(caller)


def _sms_gateway_only(caller: CallerDep) -> None:
    service.sms_gateway_only(caller)


def _consenting_citizen(caller: CallerDep) -> str:
    return service.consenting_citizen(caller)


AccessDep = Annotated[FamilyAccess, Depends(_family_access)]
MemberDep = Annotated[str, Depends(_consenting_citizen)]
CitizenDep = Annotated[str, Depends(_applying_citizen)]


@router.post("/applications", status_code=201, response_model=ApplicationOut, tags=["applications"],
             dependencies=[Depends(RequireScope("applications:write"))],
             responses=problems("malformed-json", "idempotency-key-required", "missing-scope", "portal-only",
                                "citizen-token-required", "not-the-applicant", "active-application-exists",
                                "unsupported-media-type", "invalid-application", "extension-not-accepted",
                                "idempotency-key-reused", "parameter-missing"),
             summary="Submit an application for targeted social assistance",
             description="The portal submits for the citizen it acts for (a citizen-bound token), who must be "
                         "the family's applicant. The `Idempotency-Key` makes a retry safe: the same key and body "
                         "give the same answer, and no second application.")
async def submit_application(
    body: ApplicationIn,
    session: SessionDep,
    caller: CallerDep,
    citizen: CitizenDep,
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key")] = None,
) -> JSONResponse:
    # The body is the stored answer of the first request with this key (replayed as it was).
    status, response = await service.submit(
        session=session, caller=caller, citizen=citizen, idempotency_key=require_key(idempotency_key), body=body
    )
    return JSONResponse(response, status_code=status, headers={"Location": f"/v1/applications/{response['id']}"})


@router.get("/applications/{application_id}", response_model=ApplicationOut, tags=["applications"],
            dependencies=[Depends(RequireScope("applications:read"))],
            responses=problems("missing-scope", "citizen-token-required", "kind-without-access", "not-found",
                               "invalid-application-id"),
            summary="An application with its status timeline and decision",
            description="The citizen sees their own families, a case worker the families of their regions, ops "
                        "every family masked; any other application is 404.")
async def get_application(application_id: UUID, session: SessionDep, access: AccessDep) -> ApplicationOut:
    return await service.get_application(session=session, access=access, application_id=application_id)


@router.get("/applications", response_model=list[ApplicationOut], tags=["applications"],
            dependencies=[Depends(RequireScope("applications:read"))],
            responses=problems("missing-scope", "citizen-token-required", "kind-without-access",
                               "masked-view-no-person-search", "invalid-query", "control-character"),
            summary="Recent applications the caller may see",
            description="The latest first, within the caller's view (the citizen's own families, a case "
                        "worker's regions, or every family masked for ops). `iin` narrows to one person's "
                        "applications; a masked view may not search by person.")
async def list_applications(
    session: SessionDep,
    access: AccessDep,
    status: ApplicationStatus | None = None,
    region_kato: Annotated[RegisteredKato | None, Query()] = None,
    iin: Annotated[Iin | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> list[ApplicationOut]:
    return await service.list_applications(session=session, access=access, status=status, region_kato=region_kato,
                                           iin=iin, limit=limit)


@router.post("/applications/{application_id}/withdraw", response_model=ApplicationOut, tags=["applications"],
             dependencies=[Depends(RequireScope("applications:write"))],
             responses=problems("malformed-json", "missing-scope", "citizen-token-required", "withdraw-portal-only",
                                "not-found", "not-withdrawable", "unsupported-media-type", "invalid-withdrawal",
                                "invalid-application-id"),
             summary="Withdraw an application before any payment is scheduled",
             description="The portal withdraws for the citizen it acts for, who must be a member of the family "
                         "(any other application is 404). Allowed until a payment is scheduled (`submitted` "
                         "up to `approved` and `contract_drafted`); after that, or once the application is "
                         "final, 409. The application becomes `withdrawn`, its members may apply again, and "
                         "`application.withdrawn` is announced with the reason code.")
async def withdraw_application(application_id: UUID, body: WithdrawalIn, session: SessionDep,
                               citizen: Annotated[str, Depends(_withdrawing_citizen)]) -> ApplicationOut:
    return await service.withdraw(session=session, citizen=citizen, application_id=application_id,
                                  reason=body.reason, now=utcnow())


@router.get("/fdc/families/{iin}/status", response_model=TsaStatusOut, tags=["applications"],
            dependencies=[Depends(RequireScope("applications:read")), Depends(_fdc_only)],
            responses=problems("missing-scope", "fdc-only", "invalid-iin"),
            summary="Where a person's targeted social assistance stands (Family Development Centres)",
            description="The status, period and monthly amount of the latest application the person is a "
                        "member of; `none` if they never applied. For FDC callers only.")
async def tsa_status(iin: Annotated[Iin, Path()], session: SessionDep) -> TsaStatusOut:
    return await service.tsa_status(session=session, iin=iin)


@router.get("/reference/banks", response_model=list[BankOut], tags=["reference data"],
            dependencies=[Depends(RequireScope("parameters:read"))],
            responses=problems("missing-scope", "control-character"),
            summary="The banks that pay social benefits",
            description="An application's account must be at one of the active banks, named by its BIC.")
async def list_banks(session: SessionDep, active: bool | None = None) -> list[BankOut]:
    return await service.list_banks(session=session, active=active)


@router.put("/reference/banks/{bic}", response_model=BankOut, tags=["reference data"],
            dependencies=[Depends(RequireScope("parameters:write"))],
            responses={201: {"model": BankOut, "description": "The bank was added"}}
            | problems("malformed-json", "missing-scope", "bank-code-taken", "unsupported-media-type",
                       "invalid-bank"),
            summary="Add, rename or deactivate a participating bank",
            description="200 when the bank changed, 201 when it was added. Where the national bank registry "
                        "knows the BIC, the code must be the registry's.")
async def put_bank(bic: Annotated[Bic, Path()], body: BankIn, session: SessionDep, caller: CallerDep) -> JSONResponse:
    added, bank = await service.put_bank(session=session, caller=caller, bic=bic, body=body)
    return JSONResponse(bank.model_dump(mode="json"), status_code=201 if added else 200)


@router.put("/business-days/{day}", response_model=DecreeOut, tags=["reference data"],
            dependencies=[Depends(RequireScope("parameters:write")), Depends(_admin_only)],
            responses=problems("malformed-json", "missing-scope", "admin-only", "unsupported-media-type",
                               "invalid-decree"),
            summary="Record a day the government decreed non-working (or working)",
            description="The decree overrides the public holidays and weekends for its day; a later decree for "
                        "the day replaces the earlier one. Deadlines set from now on count it (consent answers, "
                        "banks); those already set stand. For administrators only.")
async def put_business_day(day: Annotated[CalendarDay, Path()], body: DecreeIn, session: SessionDep,
                           caller: CallerDep) -> DecreeOut:
    return await service.put_decree(session=session, caller=caller, day=day, body=body)


@router.get("/business-days", response_model=list[BusinessDayOut], tags=["reference data"],
            dependencies=[Depends(RequireScope("parameters:read"))],
            responses=problems("missing-scope", "invalid-day-range", "control-character"),
            summary="Which days are business days, and why not",
            description="Each day from `from` to `to` (both included, at most 366 days): a weekend, a public "
                        "holiday of Kazakhstan (with its observed and moved days) or a decreed day off is not a "
                        "business day; a decree rules over the rest.")
async def list_business_days(
    session: SessionDep,
    first: Annotated[CalendarDay, Query(alias="from")],
    last: Annotated[CalendarDay, Query(alias="to")],
) -> list[BusinessDayOut]:
    return await service.business_days(session=session, first=first, last=last)


@router.post("/sms/inbound", response_model=ConsentAnswerOut, tags=["consent"],
             dependencies=[Depends(RequireScope("sms:inbound")), Depends(_sms_gateway_only)],
             responses=problems("malformed-json", "missing-scope", "sms-gateway-only", "unsupported-media-type",
                                "invalid-sms"),
             summary="An SMS to 1414, posted by the SMS gateway",
             description="A member's reply to the SMS from 1414: ИӘ/ДА/YES or ЖОҚ/НЕТ/NO with the code, any case. "
                         "A reply that does not count (another number, a wrong code, after the deadline, already "
                         "answered, not understood) is answered 200 with its `outcome` and changes nothing.")
async def sms_inbound(body: SmsInboundIn, session: SessionDep, request: Request) -> ConsentAnswerOut:
    return await service.sms_inbound(session=session, body=body, pepper=request.app.state.settings.code_pepper(),
                                     now=utcnow())


@router.post("/consents/{consent_id}/reply", response_model=ConsentAnswerOut, tags=["consent"],
             dependencies=[Depends(RequireScope("consents:write"))],
             responses=problems("malformed-json", "missing-scope", "citizen-token-required", "consent-portal-only",
                                "not-the-member", "consent-not-found", "unsupported-media-type",
                                "invalid-consent-reply", "invalid-consent-id"),
             summary="The member answers a consent request in the portal",
             description="The portal relays the answer of the citizen it acts for, who must be the member asked. "
                         "An answer that does not count (late, already answered) is answered 200 with its "
                         "`outcome` and changes nothing.")
async def reply_to_consent(consent_id: UUID, body: ConsentReplyIn, session: SessionDep,
                           citizen: MemberDep) -> ConsentAnswerOut:
    return await service.reply_to_consent(session=session, citizen=citizen, consent_id=consent_id,
                                          answer=body.answer, now=utcnow())


@router.post("/consents/{consent_id}/withdraw", response_model=ConsentAnswerOut, tags=["consent"],
             dependencies=[Depends(RequireScope("consents:write"))],
             responses=problems("missing-scope", "citizen-token-required", "consent-portal-only", "not-the-member",
                                "consent-not-found", "invalid-consent-id"),
             summary="The member withdraws a consent given",
             description="Only a consent granted, only by the member (the citizen the portal acts for), only "
                         "until the application is decided; otherwise 200 with the `outcome` and nothing changes.")
async def withdraw_consent(consent_id: UUID, session: SessionDep, citizen: MemberDep) -> ConsentAnswerOut:
    return await service.withdraw_consent_of(session=session, citizen=citizen, consent_id=consent_id, now=utcnow())
