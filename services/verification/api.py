from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter, Depends

from services.verification import service
from services.verification.schemas import EvidenceOut
from shared.problems import problems
from shared.service import CallerDep, RequireScope, SessionDep

router = APIRouter(prefix="/v1", tags=["verification"])


@router.get("/verifications/{application_id}", response_model=EvidenceOut,
            dependencies=[Depends(RequireScope("applications:read"))],
            summary="The frozen evidence gathered for an application",
            description="A citizen-bound portal token reads the evidence of the citizen's own families, a case "
                        "worker that of the regions assigned to it; every other caller is refused.",
            responses=problems({
                403: "The token lacks applications:read; a portal token not bound to a citizen; or a caller "
                     "kind that reads no family's evidence (ops, fdc, bank, admin)",
                404: "No evidence for this application, or not one of the caller's families",
                422: "`application_id` is not a UUID, or the path holds a control character",
            }))
async def get_verification(application_id: UUID, session: SessionDep, caller: CallerDep) -> EvidenceOut:
    return await service.get_evidence(session=session, caller=caller, application_id=application_id)
