from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, Header, Query
from fastapi.responses import JSONResponse

from services.intake import service
from services.intake.schemas import ApplicationIn, ApplicationOut
from shared.idempotency import require_key
from shared.service import CallerDep, RequireScope, SessionDep

router = APIRouter(prefix="/v1", tags=["applications"])


@router.post("/applications", status_code=201, response_model=ApplicationOut,
             dependencies=[Depends(RequireScope("applications:write"))],
             summary="Submit an application for targeted social assistance")
async def submit_application(
    body: ApplicationIn,
    session: SessionDep,
    caller: CallerDep,
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key")] = None,
) -> JSONResponse:
    # The body is the stored answer of the first request with this key (replayed as it was).
    status, response = await service.submit(
        session=session, caller=caller, idempotency_key=require_key(idempotency_key), body=body
    )
    return JSONResponse(response, status_code=status, headers={"Location": f"/v1/applications/{response['id']}"})


@router.get("/applications/{application_id}", response_model=ApplicationOut,
            dependencies=[Depends(RequireScope("applications:read"))],
            summary="An application with its status timeline and decision")
async def get_application(application_id: UUID, session: SessionDep) -> ApplicationOut:
    return await service.get_application(session=session, application_id=application_id)


@router.get("/applications", response_model=list[ApplicationOut], dependencies=[Depends(RequireScope("applications:read"))],
            summary="Recent applications")
async def list_applications(
    session: SessionDep,
    status: str | None = None,
    region_kato: Annotated[str | None, Query(pattern=r"^\d{9}$")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> list[ApplicationOut]:
    return await service.list_applications(session=session, status=status, region_kato=region_kato, limit=limit)
