from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, Path, Request

from services.verification import service
from services.verification.schemas import CashflowIn, CashflowOut, EvidenceOut
from shared.problems import problems
from shared.service import CallerDep, RequireScope, SessionDep

router = APIRouter(prefix="/v1", tags=["verification"])


@router.get("/verifications/{application_id}", response_model=EvidenceOut,
            dependencies=[Depends(RequireScope("applications:read"))],
            summary="The frozen evidence gathered for an application",
            description="A citizen-bound portal token reads the evidence of the citizen's own families, a case "
                        "worker that of the regions assigned to it; every other caller is refused.",
            responses=problems({
                403: "The token lacks applications:read; a portal token not bound to a citizen; or a caller "
                     "kind that reads no family's evidence (ops, fdc, bank, admin)",
                404: "No evidence for this application, or not one of the caller's families",
                422: "`application_id` is not a UUID, or the path holds a control character",
            }))
async def get_verification(application_id: UUID, session: SessionDep, caller: CallerDep) -> EvidenceOut:
    return await service.get_evidence(session=session, caller=caller, application_id=application_id)


@router.post("/banks/{bank_code}/cashflow", response_model=CashflowOut,
             dependencies=[Depends(RequireScope("bank:callbacks"))],
             summary="A bank's cash-flow aggregates for a person it was asked about (signed)",
             description="The bank asked (`request_id`) posts the person's aggregates of the assessment quarter, "
                         "signed as docs/gateway.md describes. The same answer posted twice has one effect "
                         "(`already_recorded`); the evidence is frozen once every bank asked for the family "
                         "has answered.",
             responses=problems({
                 400: "The body is not valid JSON (the position where the parser stopped is named)",
                 403: "Not a bank, another bank's code in the path, or a request sent to another bank",
                 409: "No such request was sent (`unknown-request`); the person or quarter is not the one asked "
                      "(`request-mismatch`); the request was already answered with other figures "
                      "(`already-answered`)",
                 415: "The body is not JSON (Content-Type must be application/json)",
                 422: "A field is missing or malformed (money: at most 2 decimals, 0 to 1,000,000,000.00)",
             }))
async def post_cashflow(bank_code: Annotated[str, Path(pattern=r"^[A-Z]{6}[A-Z0-9]{2}([A-Z0-9]{3})?$")],
                        body: CashflowIn, session: SessionDep, caller: CallerDep, request: Request) -> CashflowOut:
    return await service.record_cashflow(session=session, caller=caller, bank_code=bank_code, body=body,
                                         bank_deadline_days=request.app.state.settings.bank_deadline_business_days)
