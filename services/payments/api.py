from __future__ import annotations

from typing import Annotated, Literal
from uuid import UUID

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field

from services.payments import service
from shared.service import CallerDep, SessionDep

router = APIRouter(prefix="/v1", tags=["payments"])


class PaymentStatusIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    payment_id: UUID
    status: Literal["settled", "failed"]
    reason: str | None = Field(default=None, max_length=500)


@router.get("/payments", summary="The payment schedule of an application")
async def list_payments(application_id: UUID, session: SessionDep) -> list[dict]:
    return await service.list_payments(session=session, application_id=application_id)


@router.get("/payments/{payment_id}", summary="One payment")
async def get_payment(payment_id: UUID, session: SessionDep) -> dict:
    return await service.get_payment(session=session, payment_id=payment_id)


@router.get("/banks/{bank_code}/payment-orders", summary="Payment orders waiting for this bank")
async def payment_orders(bank_code: str, session: SessionDep, caller: CallerDep,
                         limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> list[dict]:
    return await service.payment_orders(session=session, caller=caller, bank_code=bank_code, limit=limit)


@router.post("/banks/{bank_code}/payment-status", summary="A bank reports a payment settled or failed")
async def payment_status(bank_code: str, body: PaymentStatusIn, session: SessionDep, caller: CallerDep) -> dict:
    return await service.record_bank_status(session=session, caller=caller, bank_code=bank_code,
                                            payment_id=body.payment_id, status=body.status, reason=body.reason)
