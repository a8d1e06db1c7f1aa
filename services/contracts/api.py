from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query

from services.contracts import service
from shared.service import CallerDep, SessionDep

router = APIRouter(prefix="/v1", tags=["contracts"])


@router.get("/contracts", summary="Social contracts, newest first")
async def list_contracts(
    session: SessionDep,
    application_id: UUID | None = None,
    status: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> list[dict]:
    return await service.list_contracts(session=session, application_id=application_id, status=status, limit=limit)


@router.get("/contracts/{contract_id}", summary="One social contract")
async def get_contract(contract_id: UUID, session: SessionDep) -> dict:
    return await service.get_contract(session=session, contract_id=contract_id)


@router.post("/contracts/{contract_id}/sign", summary="The family signs its social contract")
async def sign_contract(contract_id: UUID, session: SessionDep, caller: CallerDep) -> dict:
    return await service.sign(session=session, caller=caller, contract_id=contract_id)
