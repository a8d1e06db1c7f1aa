from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, Query

from services.contracts import service
from services.contracts.schemas import ContractOut
from shared.service import CallerDep, RequireScope, SessionDep

router = APIRouter(prefix="/v1", tags=["contracts"])


@router.get("/contracts", response_model=list[ContractOut], dependencies=[Depends(RequireScope("contracts:read"))],
            summary="Social contracts, newest first")
async def list_contracts(
    session: SessionDep,
    application_id: UUID | None = None,
    status: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> list[ContractOut]:
    return await service.list_contracts(session=session, application_id=application_id, status=status, limit=limit)


@router.get("/contracts/{contract_id}", response_model=ContractOut, dependencies=[Depends(RequireScope("contracts:read"))],
            summary="One social contract")
async def get_contract(contract_id: UUID, session: SessionDep) -> ContractOut:
    return await service.get_contract(session=session, contract_id=contract_id)


@router.post("/contracts/{contract_id}/sign", response_model=ContractOut,
             dependencies=[Depends(RequireScope("contracts:sign"))], summary="The family signs its social contract")
async def sign_contract(contract_id: UUID, session: SessionDep, caller: CallerDep) -> ContractOut:
    return await service.sign(session=session, caller=caller, contract_id=contract_id)
