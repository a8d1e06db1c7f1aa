from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from services.reporting import service
from services.reporting.schemas import RegionStatsOut, RegisteredKato, SummaryOut
from shared.problems import problems
from shared.service import RequireScope, SessionDep

router = APIRouter(prefix="/v1", tags=["statistics"])
# The figures of one region (an application's KATO code), or of all regions when absent.
RegionFilter = Annotated[RegisteredKato | None, Query(description="A KATO code of the shipped classifier")]
_PROBLEMS = problems({
    403: "The token lacks stats:read",
    422: "`region_kato` is not a code of the KATO classifier, or a control character in the query",
})


@router.get("/stats/summary", response_model=SummaryOut, dependencies=[Depends(RequireScope("stats:read"))],
            summary="Applications by stage, recipients and scheduled amounts", responses=_PROBLEMS)
async def stats_summary(session: SessionDep, region_kato: RegionFilter = None) -> SummaryOut:
    return await service.summary(session=session, region_kato=region_kato)


@router.get("/stats/regions", response_model=list[RegionStatsOut], dependencies=[Depends(RequireScope("stats:read"))],
            summary="The same figures per region, with the backlog of undecided applications", responses=_PROBLEMS)
async def stats_regions(session: SessionDep, region_kato: RegionFilter = None) -> list[RegionStatsOut]:
    return await service.by_region(session=session, region_kato=region_kato)
