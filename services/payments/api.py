from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, Query

from services.payments import service
from services.payments.schemas import BankCode, PaymentOrderOut, PaymentOut, PaymentStatusIn
from shared.problems import problems
from shared.service import CallerDep, RequireScope, SessionDep

router = APIRouter(prefix="/v1", tags=["payments"])

_WHO_READS = ("A citizen-bound portal token reads the payments of the citizen's own families, a case worker "
              "those of the regions assigned to it; every other caller is refused.")
_REFUSED_READERS = ("The token lacks payments:read; a portal token not bound to a citizen; or a caller kind that "
                    "reads no family's payments (ops, fdc, bank, admin)")
_NOT_THIS_BANK = "The token lacks bank:callbacks, or the caller is not the bank of this bank code"


@router.get("/payments", response_model=list[PaymentOut], dependencies=[Depends(RequireScope("payments:read"))],
            summary="The payment schedule of an application",
            description=_WHO_READS + " An application of another family lists nothing, as one without payments.",
            responses=problems({
                403: _REFUSED_READERS,
                422: "`application_id` missing or not a UUID, or a control character in the query",
            }))
async def list_payments(application_id: UUID, session: SessionDep, caller: CallerDep) -> list[PaymentOut]:
    return await service.list_payments(session=session, caller=caller, application_id=application_id)


@router.get("/payments/{payment_id}", response_model=PaymentOut, dependencies=[Depends(RequireScope("payments:read"))],
            summary="One payment", description=_WHO_READS,
            responses=problems({
                403: _REFUSED_READERS,
                404: "No such payment, or not one of the caller's families",
                422: "`payment_id` is not a UUID, or a control character in the path",
            }))
async def get_payment(payment_id: UUID, session: SessionDep, caller: CallerDep) -> PaymentOut:
    return await service.get_payment(session=session, caller=caller, payment_id=payment_id)


# Bank routes: the scope says "a bank", the service then checks it is THIS bank.
@router.get("/banks/{bank_code}/payment-orders", response_model=list[PaymentOrderOut],
            dependencies=[Depends(RequireScope("bank:callbacks"))], summary="Payment orders waiting for this bank",
            responses=problems({
                403: _NOT_THIS_BANK,
                422: "`bank_code` is not a BIC, `limit` outside 1–1000, or a control character in the path or "
                     "query",
            }))
async def payment_orders(bank_code: BankCode, session: SessionDep, caller: CallerDep,
                         limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> list[PaymentOrderOut]:
    return await service.payment_orders(session=session, caller=caller, bank_code=bank_code, limit=limit)


@router.post("/banks/{bank_code}/payment-status", response_model=PaymentOut,
             dependencies=[Depends(RequireScope("bank:callbacks"))], summary="A bank reports a payment settled or failed",
             description="Reporting the same status again is a retried callback: the payment is returned "
                         "unchanged.",
             responses=problems({
                 400: "The body is not valid JSON (the position where the parser stopped is named)",
                 403: _NOT_THIS_BANK,
                 404: "No such payment among this bank's orders",
                 409: "The payment already has the other final status (settled never turns failed, nor back)",
                 415: "The body is not JSON (Content-Type must be application/json)",
                 422: "A field is invalid (each is named), or `bank_code` is not a BIC",
             }))
async def payment_status(bank_code: BankCode, body: PaymentStatusIn, session: SessionDep,
                         caller: CallerDep) -> PaymentOut:
    return await service.record_bank_status(session=session, caller=caller, bank_code=bank_code,
                                            payment_id=body.payment_id, status=body.status, reason=body.reason)
