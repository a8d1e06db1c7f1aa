from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, Query, Request

from services.payments import service
from services.payments.schemas import (
    BankCode,
    BatchAckIn,
    BatchOut,
    OrderOut,
    PaymentOut,
    PaymentStatusIn,
    ReconciliationOut,
    ReissueIn,
    ReleaseIn,
    ReleaseOut,
)
from shared.calendar import utcnow
from shared.problems import problems
from shared.service import CallerDep, RequireScope, SessionDep

router = APIRouter(prefix="/v1", tags=["payments"])

_WHO_READS = ("A citizen-bound portal token reads the payments of the citizen's own families, a case worker "
              "those of the regions assigned to it; every other caller is refused.")
_REFUSED_READERS = ("The token lacks payments:read; a portal token not bound to a citizen; or a caller kind that "
                    "reads no family's payments (ops, fdc, bank, admin)")
_NOT_THIS_BANK = "The token lacks bank:callbacks, or the caller is not the bank of this bank code"


@router.get("/payments", response_model=list[PaymentOut], dependencies=[Depends(RequireScope("payments:read"))],
            summary="The payment months of an application",
            description=_WHO_READS + " Each month is `planned` until its release, then shows its orders' "
                                     "state. An application of another family lists nothing, as one without "
                                     "payments.",
            responses=problems({
                403: _REFUSED_READERS,
                422: "`application_id` missing or not a UUID, or a control character in the query",
            }))
async def list_payments(application_id: UUID, session: SessionDep, caller: CallerDep) -> list[PaymentOut]:
    return await service.list_payments(session=session, caller=caller, application_id=application_id)


# Before /payments/{payment_id}: its words are not payment ids.
@router.post("/payments/releases", response_model=ReleaseOut, dependencies=[Depends(RequireScope("payments:release"))],
             summary="Release a month: make its payment orders, one batch per bank",
             description="Every planned month of `month` gets one order per component (TSA, child "
                         "supplement) with something to pay, and every re-issue waiting for `month` or an "
                         "earlier month goes along; the orders are grouped in one batch per bank with a "
                         "count, a total and a checksum (docs/payments.md). Releasing the same month again "
                         "makes nothing new but the re-issues made since.",
             responses=problems({
                 400: "The body is not valid JSON (the position where the parser stopped is named)",
                 403: "The token lacks payments:release",
                 415: "The body is not JSON (Content-Type must be application/json)",
                 422: "`month` is not YYYY-MM, or an unknown field",
             }))
async def release(body: ReleaseIn, session: SessionDep) -> ReleaseOut:
    return await service.release_month(session=session, month=body.month)


@router.get("/payments/reconciliation", response_model=ReconciliationOut,
            dependencies=[Depends(RequireScope("stats:read"))],
            summary="Reconciliation of a month, per bank",
            description="Per bank: ordered, settled, failed, re-issued, recalled, cancelled, outstanding and "
                        "re-issues pending, in counts and tenge; ordered = settled + failed + recalled + "
                        "outstanding (`unexplained_tenge` 0). Every refused bank report (anomaly) and every "
                        "family month paid other than the decision (mismatch) is listed. No personal data.",
            responses=problems({
                403: "The token lacks stats:read",
                422: "`month` missing or not YYYY-MM, `bank_code` not a BIC, or a control character in the query",
            }))
async def reconciliation(session: SessionDep,
                         month: Annotated[str, Query(pattern=r"^\d{4}-(0[1-9]|1[0-2])$")],
                         bank_code: Annotated[str | None, Query(pattern=r"^[A-Z]{6}[A-Z0-9]{2}([A-Z0-9]{3})?$")]
                         = None) -> ReconciliationOut:
    return await service.reconciliation(session=session, month=month, bank_code=bank_code)


@router.get("/payments/{payment_id}", response_model=PaymentOut, dependencies=[Depends(RequireScope("payments:read"))],
            summary="One payment month", description=_WHO_READS,
            responses=problems({
                403: _REFUSED_READERS,
                404: "No such payment, or not one of the caller's families",
                422: "`payment_id` is not a UUID, or a control character in the path",
            }))
async def get_payment(payment_id: UUID, session: SessionDep, caller: CallerDep) -> PaymentOut:
    return await service.get_payment(session=session, caller=caller, payment_id=payment_id)


@router.post("/payments/{order_id}/reissue", response_model=OrderOut, status_code=201,
             dependencies=[Depends(RequireScope("payments:write"))],
             summary="Re-issue a failed payment order to a corrected account",
             description="`order_id` is a failed order's id (a payment month lists its orders). A new order "
                         "for the same month, component and amount, linked to the failed one, waits for the "
                         "next release of its month (or any later release). The portal acts for a member of "
                         "the family, a case worker for the families of its regions.",
             responses=problems({
                 400: "The body is not valid JSON (the position where the parser stopped is named)",
                 403: "The token lacks payments:write; a portal token not bound to a citizen; or a caller "
                      "kind that changes no family's payments",
                 404: "No such order, or not one of the caller's families",
                 409: "The order is not failed, was re-issued already, or its month is after the contract's "
                      "termination",
                 415: "The body is not JSON (Content-Type must be application/json)",
                 422: "`iban` or `bank_code` invalid (each named), an unknown field, or `order_id` not a UUID",
             }))
async def reissue(order_id: UUID, body: ReissueIn, session: SessionDep, caller: CallerDep) -> OrderOut:
    return await service.reissue(session=session, caller=caller, order_id=order_id, iban=body.iban,
                                 bank_code=body.bank_code)


# Bank routes: the scope says "a bank", the service then checks it is THIS bank.
@router.get("/banks/{bank_code}/payment-orders", response_model=list[BatchOut],
            dependencies=[Depends(RequireScope("bank:callbacks"))], summary="Released batches for this bank",
            description="Batches not yet acknowledged (`acknowledged=true`: those acknowledged), each with "
                        "its count, total, checksum and orders. A recalled order stays listed as `recalled` "
                        "(the checksum covers the batch as released) and may no longer be settled.",
            responses=problems({
                403: _NOT_THIS_BANK,
                422: "`bank_code` is not a BIC, `limit` outside 1–1000, or a control character in the path or "
                     "query",
            }))
async def payment_orders(bank_code: BankCode, session: SessionDep, caller: CallerDep,
                         limit: Annotated[int, Query(ge=1, le=1000)] = 100,
                         acknowledged: bool = False) -> list[BatchOut]:
    return await service.payment_orders(session=session, caller=caller, bank_code=bank_code,
                                        acknowledged=acknowledged, limit=limit)


@router.post("/banks/{bank_code}/batches/{batch_id}/ack", response_model=BatchOut,
             dependencies=[Depends(RequireScope("bank:callbacks"))], summary="A bank acknowledges a batch",
             description="The bank took the batch for execution, naming the checksum it computed over the "
                         "orders it pulled (docs/payments.md). Acknowledging again answers the batch unchanged.",
             responses=problems({
                 400: "The body is not valid JSON (the position where the parser stopped is named)",
                 403: _NOT_THIS_BANK,
                 404: "No such batch for this bank",
                 409: "The checksum sent is not the batch's",
                 415: "The body is not JSON (Content-Type must be application/json)",
                 422: "`checksum` missing or not 64 lowercase hex digits, `batch_id` not a UUID, or `bank_code` "
                      "not a BIC",
             }))
async def acknowledge_batch(bank_code: BankCode, batch_id: UUID, session: SessionDep, caller: CallerDep,
                            body: BatchAckIn) -> BatchOut:
    return await service.acknowledge_batch(session=session, caller=caller, bank_code=bank_code, batch_id=batch_id,
                                           checksum=body.checksum, now=utcnow())


@router.post("/banks/{bank_code}/payment-status", response_model=OrderOut,
             dependencies=[Depends(RequireScope("bank:callbacks"))], summary="A bank reports an order settled or failed",
             description="`settled` names the amount paid (the order's, to the tenge); `failed` a reason. The "
                         "same failure again is a retried callback: the order is returned unchanged. A second "
                         "settlement, a settlement of a recalled or failed order, of another amount or of "
                         "another bank's order is refused and listed as an anomaly in reconciliation: nothing "
                         "is ever paid twice.",
             responses=problems({
                 400: "The body is not valid JSON (the position where the parser stopped is named)",
                 403: _NOT_THIS_BANK + "; or the order is another bank's",
                 404: "No such payment order",
                 409: "The order was settled already, failed, recalled or not released, or the amount is not "
                      "the order's",
                 415: "The body is not JSON (Content-Type must be application/json)",
                 422: "A field is invalid or missing (`amount` for settled, `reason` for failed; each is named), "
                      "or `bank_code` is not a BIC",
             }))
async def payment_status(bank_code: BankCode, body: PaymentStatusIn, session: SessionDep, caller: CallerDep,
                         request: Request) -> OrderOut:
    return await service.record_bank_status(session=session, anomalies=request.app.state.sessionmaker,
                                            caller=caller, bank_code=bank_code, order_id=body.order_id,
                                            status=body.status, amount=body.amount, reason=body.reason)
