from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter, Depends

from services.verification import service
from services.verification.schemas import EvidenceOut
from shared.service import RequireScope, SessionDep

router = APIRouter(prefix="/v1", tags=["verification"])


@router.get("/verifications/{application_id}", response_model=EvidenceOut,
            dependencies=[Depends(RequireScope("applications:read"))],
            summary="The frozen evidence gathered for an application")
async def get_verification(application_id: UUID, session: SessionDep) -> EvidenceOut:
    return await service.get_evidence(session=session, application_id=application_id)
