from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter

from services.verification import service
from shared.service import SessionDep

router = APIRouter(prefix="/v1", tags=["verification"])


@router.get("/verifications/{application_id}", summary="The frozen evidence gathered for an application")
async def get_verification(application_id: UUID, session: SessionDep) -> dict:
    return await service.get_evidence(session=session, application_id=application_id)
