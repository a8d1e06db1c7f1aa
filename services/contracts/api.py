from __future__ import annotations

from typing import Annotated, Literal
from uuid import UUID

from fastapi import APIRouter, Depends, Query

from services.contracts import service
from services.contracts.schemas import ContractOut
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
    status: Literal["drafted", "signed", "terminated"] | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> list[ContractOut]:
    return await service.list_contracts(session=session, caller=caller, application_id=application_id,
                                        status=status, limit=limit)


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
                 409: "The contract can no longer be signed (terminated)",
                 415: "A body was sent that is not JSON (the route takes none)",
                 422: "`contract_id` is not a UUID, or a control character in the path",
             }))
async def sign_contract(contract_id: UUID, session: SessionDep, caller: CallerDep) -> ContractOut:
    return await service.sign(session=session, caller=caller, contract_id=contract_id)
