from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from services.reporting import service
from services.reporting.schemas import RegionStatsOut, SummaryOut
from shared.service import RequireScope, SessionDep

router = APIRouter(prefix="/v1", tags=["statistics"])
# The figures of one region (an application's 9-digit KATO code), or of all regions when absent.
RegionFilter = Annotated[str | None, Query(pattern=r"^\d{9}$", description="9-digit KATO code of a region")]


@router.get("/stats/summary", response_model=SummaryOut, dependencies=[Depends(RequireScope("stats:read"))],
            summary="Applications by stage, recipients and scheduled amounts")
async def stats_summary(session: SessionDep, region_kato: RegionFilter = None) -> SummaryOut:
    return await service.summary(session=session, region_kato=region_kato)


@router.get("/stats/regions", response_model=list[RegionStatsOut], dependencies=[Depends(RequireScope("stats:read"))],
            summary="The same figures per region, with the backlog of undecided applications")
async def stats_regions(session: SessionDep, region_kato: RegionFilter = None) -> list[RegionStatsOut]:
    return await service.by_region(session=session, region_kato=region_kato)
