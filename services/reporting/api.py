from __future__ import annotations

from fastapi import APIRouter

from services.reporting import service
from shared.service import SessionDep

router = APIRouter(prefix="/v1", tags=["statistics"])


@router.get("/stats/summary", summary="Applications by stage, recipients and scheduled amounts")
async def stats_summary(session: SessionDep) -> dict:
    return await service.summary(session=session)


@router.get("/stats/regions", summary="The same figures per region, with the backlog of undecided applications")
async def stats_regions(session: SessionDep) -> list[dict]:
    return await service.by_region(session=session)
