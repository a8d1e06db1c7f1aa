from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, Query

from services.payments import service
from services.payments.schemas import PaymentOrderOut, PaymentOut, PaymentStatusIn
from shared.service import CallerDep, RequireScope, SessionDep

router = APIRouter(prefix="/v1", tags=["payments"])


@router.get("/payments", response_model=list[PaymentOut], dependencies=[Depends(RequireScope("payments:read"))],
            summary="The payment schedule of an application")
async def list_payments(application_id: UUID, session: SessionDep) -> list[PaymentOut]:
    return await service.list_payments(session=session, application_id=application_id)


@router.get("/payments/{payment_id}", response_model=PaymentOut, dependencies=[Depends(RequireScope("payments:read"))],
            summary="One payment")
async def get_payment(payment_id: UUID, session: SessionDep) -> PaymentOut:
    return await service.get_payment(session=session, payment_id=payment_id)


# Bank routes: the scope says "a bank", the service then checks it is THIS bank.
@router.get("/banks/{bank_code}/payment-orders", response_model=list[PaymentOrderOut],
            dependencies=[Depends(RequireScope("bank:callbacks"))], summary="Payment orders waiting for this bank")
async def payment_orders(bank_code: str, session: SessionDep, caller: CallerDep,
                         limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> list[PaymentOrderOut]:
    return await service.payment_orders(session=session, caller=caller, bank_code=bank_code, limit=limit)


@router.post("/banks/{bank_code}/payment-status", response_model=PaymentOut,
             dependencies=[Depends(RequireScope("bank:callbacks"))], summary="A bank reports a payment settled or failed")
async def payment_status(bank_code: str, body: PaymentStatusIn, session: SessionDep, caller: CallerDep) -> PaymentOut:
    return await service.record_bank_status(session=session, caller=caller, bank_code=bank_code,
                                            payment_id=body.payment_id, status=body.status, reason=body.reason)
