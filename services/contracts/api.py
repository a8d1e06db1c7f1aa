from __future__ import annotations

from typing import Annotated, Literal
from uuid import UUID

from fastapi import APIRouter, Depends, Query

from services.contracts import service
from services.contracts.schemas import BreachIn, ContractOut, MeasureIn, MeasureUpdate, OutcomesOut, TerminationIn
from shared.problems import problems
from shared.service import CallerDep, RequireScope, SessionDep

router = APIRouter(prefix="/v1", tags=["contracts"])

_WHO_READS = ("A citizen-bound portal token reads the contracts of the citizen's own families, a case worker "
              "those of the regions assigned to it; every other caller is refused.")
_REFUSED_READERS = ("The token lacks contracts:read; a portal token not bound to a citizen; or a caller kind "
                    "that reads no family's contract (ops, fdc, bank, admin)")


@router.get("/contracts", response_model=list[ContractOut], dependencies=[Depends(RequireScope("contracts:read"))],
            summary="Social contracts, newest first", description=_WHO_READS + " Lists only those.",
            responses=problems({
                403: _REFUSED_READERS,
                422: "`application_id` not a UUID, an unknown `status`, `limit` outside 1–500, or a control "
                     "character in the query",
            }))
async def list_contracts(
    session: SessionDep,
    caller: CallerDep,
    application_id: UUID | None = None,
    status: Literal["drafted", "signed", "lapsed", "terminated", "completed"] | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> list[ContractOut]:
    return await service.list_contracts(session=session, caller=caller, application_id=application_id,
                                        status=status, limit=limit)


@router.get("/contracts/outcomes", response_model=OutcomesOut, dependencies=[Depends(RequireScope("stats:read"))],
            summary="Outcome figures of employment measures, for the dashboard",
            description="Counts only (no person's data), so read with `stats:read` (ops, the administrator): "
                        "completed measures per outcome category of seed 003 (permanent job, temporary job, "
                        "grant, training completed) and measures per kind and current status; optionally for one "
                        "region (the KATO code's first two digits) and one assignment quarter.",
            responses=problems({
                403: "The token lacks stats:read",
                422: "`region` not two digits, `period_quarter` not YYYY-Qn, or a control character in the query",
            }))
async def contract_outcomes(
    session: SessionDep,
    region: Annotated[str | None, Query(pattern=r"^\d{2}$")] = None,
    period_quarter: Annotated[str | None, Query(pattern=r"^\d{4}-Q[1-4]$")] = None,
) -> OutcomesOut:
    return await service.outcomes(session=session, region=region, period_quarter=period_quarter)


@router.get("/contracts/{contract_id}", response_model=ContractOut,
            dependencies=[Depends(RequireScope("contracts:read"))], summary="One social contract",
            description=_WHO_READS,
            responses=problems({
                403: _REFUSED_READERS,
                404: "No such contract, or not one of the caller's families",
                422: "`contract_id` is not a UUID, or a control character in the path",
            }))
async def get_contract(contract_id: UUID, session: SessionDep, caller: CallerDep) -> ContractOut:
    return await service.get_contract(session=session, caller=caller, contract_id=contract_id)


@router.post("/contracts/{contract_id}/sign", response_model=ContractOut,
             dependencies=[Depends(RequireScope("contracts:sign"))], summary="The applicant signs the family's social contract",
             description="Only through a portal acting for the family's applicant (a citizen-bound token): the "
                         "citizen is recorded as the signer and the portal as the relay. Signing again is a "
                         "retry: the contract is returned unchanged.",
             responses=problems({
                 403: "The token lacks contracts:sign; it is not a portal token bound to a citizen "
                      "(`citizen-token-required`); or the citizen is a member of the family but not its "
                      "applicant (`applicant-signs`)",
                 404: "No such contract, or the citizen is not a member of its family",
                 409: "The contract can no longer be signed: lapsed, terminated or completed, or its deadline "
                      "(`sign_by`) passed (`contract-not-signable`)",
                 415: "A body was sent that is not JSON (the route takes none)",
                 422: "`contract_id` is not a UUID, or a control character in the path",
             }))
async def sign_contract(contract_id: UUID, session: SessionDep, caller: CallerDep) -> ContractOut:
    return await service.sign(session=session, caller=caller, contract_id=contract_id)


_WHO_WRITES = ("A case worker of the family's region (contracts:write); the contract must be signed and not "
               "ended.")
_REFUSED_WRITERS = ("The token lacks contracts:write, or the caller is not a case worker "
                    "(`case-worker-required`)")
_NO_CONTRACT = "No such contract, or not one of the case worker's regions"


@router.post("/contracts/{contract_id}/measures", response_model=ContractOut, status_code=201,
             dependencies=[Depends(RequireScope("contracts:write"))],
             summary="Offer a member an employment-promotion measure",
             description=_WHO_WRITES + " The measure starts `offered`, with a note dated today (Almaty). "
                         "`stay_employed` is for the members employed when the contract was drafted; the active "
                         "measures for the others.",
             responses=problems({
                 403: _REFUSED_WRITERS,
                 404: _NO_CONTRACT,
                 409: "The contract is not signed, or has ended (`contract-not-active`)",
                 400: "The body is not well-formed JSON",
                 415: "The body is not JSON",
                 422: "`member_iin` not an able-bodied member the obligations name; `measure` unknown or not the "
                      "member's kind (stay_employed for the employed only); a field missing, unknown, too long or "
                      "with a control character",
             }))
async def add_measure(contract_id: UUID, body: MeasureIn, session: SessionDep, caller: CallerDep) -> ContractOut:
    return await service.add_measure(session=session, caller=caller, contract_id=contract_id, body=body)


@router.patch("/contracts/{contract_id}/measures/{measure_id}", response_model=ContractOut,
              dependencies=[Depends(RequireScope("contracts:write"))],
              summary="Move a measure on, with a dated note",
              description=_WHO_WRITES + " offered → accepted | refused; accepted → in_progress | completed | "
                          "refused; in_progress → completed | refused; the same status again adds a progress note. "
                          "A refusal is a breach through the recipient's fault: the contract is terminated at "
                          "once, on `on`, and `contract.terminated` names the whole family.",
              responses=problems({
                  403: _REFUSED_WRITERS,
                  404: _NO_CONTRACT + "; or no such measure on it",
                  409: "The contract is not signed or has ended (`contract-not-active`); the measure is completed "
                       "or refused (`measure-closed`)",
                  400: "The body is not well-formed JSON",
                 415: "The body is not JSON",
                  422: "`status` not allowed from the measure's status; `on` before its last note, before the "
                       "signing, after today or after the period; `outcome` without `completed` or not one the "
                       "measure leads to; a field missing, unknown or with a control character",
              }))
async def update_measure(contract_id: UUID, measure_id: UUID, body: MeasureUpdate, session: SessionDep,
                         caller: CallerDep) -> ContractOut:
    return await service.update_measure(session=session, caller=caller, contract_id=contract_id,
                                        measure_id=measure_id, body=body)


@router.post("/contracts/{contract_id}/breaches", response_model=ContractOut, status_code=201,
             dependencies=[Depends(RequireScope("contracts:write"))],
             summary="Record a breach of the contract through the recipient's fault",
             description=_WHO_WRITES + " `refused_measures` terminates the contract at once, on `occurred_on` "
                         "(art. 128), and emits `contract.terminated`; `non_fulfilment` is recorded and a case "
                         "worker decides (POST …/terminate).",
             responses=problems({
                 403: _REFUSED_WRITERS,
                 404: _NO_CONTRACT,
                 409: "The contract is not signed, or has ended (`contract-not-active`)",
                 400: "The body is not well-formed JSON",
                 415: "The body is not JSON",
                 422: "`member_iin` not an able-bodied member the obligations name; `occurred_on` before the "
                      "signing, after today or after the period; `kind` unknown; `evidence` empty; a field "
                      "missing, unknown or with a control character",
             }))
async def record_breach(contract_id: UUID, body: BreachIn, session: SessionDep, caller: CallerDep) -> ContractOut:
    return await service.record_breach(session=session, caller=caller, contract_id=contract_id, body=body)


@router.post("/contracts/{contract_id}/terminate", response_model=ContractOut,
             dependencies=[Depends(RequireScope("contracts:write"))],
             summary="Terminate the contract for a recorded breach (a case worker's decision)",
             description=_WHO_WRITES + " Emits `contract.terminated` with every family member's IIN once: the "
                         "same decision sent again returns the contract unchanged.",
             responses=problems({
                 403: _REFUSED_WRITERS,
                 404: _NO_CONTRACT,
                 409: "The contract is not signed, has ended, or was terminated otherwise (`contract-not-active`)",
                 400: "The body is not well-formed JSON",
                 415: "The body is not JSON",
                 422: "`breach_id` not a breach of this contract; `terminated_on` before the breach, the signing, "
                      "after today or after the period; a field missing, unknown or with a control character",
             }))
async def terminate(contract_id: UUID, body: TerminationIn, session: SessionDep, caller: CallerDep) -> ContractOut:
    return await service.terminate(session=session, caller=caller, contract_id=contract_id, body=body)
