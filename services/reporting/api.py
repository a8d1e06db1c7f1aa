from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, Query

from services.reporting import service
from services.reporting.schemas import (
    BacklogOut,
    DashboardOut,
    DeadLetterEventOut,
    DeadLetterOut,
    EventType,
    RegionStatsOut,
    ReplayIn,
    ReplayOut,
    ServiceName,
    SummaryOut,
)
from shared.inputs import RegisteredKato
from shared.problems import problems
from shared.service import CallerDep, RequireScope, SessionDep

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


QuarterFilter = Annotated[str | None, Query(pattern=r"^\d{4}-Q[1-4]$", examples=["2027-Q1"],
                                            description="The quarter the benefit is for (YYYY-Qn); for the "
                                                        "backlog, the quarter of submission")]
DashboardRegion = Annotated[RegisteredKato | None, Query(
    description="A KATO code of the shipped classifier: the figures of its region (the first two digits)")]


@router.get("/stats/dashboard", response_model=DashboardOut, dependencies=[Depends(RequireScope("stats:read"))],
            summary="Every figure of the ops dashboard, by region, settlement, social status and quarter",
            description="Counts and whole tenge only, projected from the events: applications and decisions; "
                        "recipients (families, people) and amounts; every region, the largest amount assigned "
                        "first; urban and rural; recipients by seed 003's social statuses; the backlog of "
                        "undecided applications by business days since submission (Almaty calendar, counted now) "
                        "with the 10 oldest; consent outcomes per application; the FDC funnel per region and "
                        "channel; social contracts; payments per bank and month. A section with nothing yet is "
                        "there with zeros or an empty list.",
            responses=problems({
                403: "The token lacks stats:read",
                422: "`quarter` is not YYYY-Qn, `region_kato` is not a code of the KATO classifier, or a "
                     "control character in the query",
            }))
async def stats_dashboard(session: SessionDep, quarter: QuarterFilter = None,
                          region_kato: DashboardRegion = None) -> DashboardOut:
    return await service.dashboard(session=session, quarter=quarter, region_kato=region_kato)


@router.get("/stats/backlog", response_model=BacklogOut, dependencies=[Depends(RequireScope("stats:read"))],
            summary="What is stuck: re-drives per status, applications waiting for a system, dead letters",
            description="Per status the reconciliation sweep re-drives: the applications in it now, those the "
                        "sweep re-drove, those still stuck after it, and those given their last re-drive (an "
                        "operator must look). Also the applications whose verification waits for an external "
                        "system that is down, and the dead letters not replayed (docs/operations.md). With "
                        "`region_kato`, the applications of that region (the dead letters are every region's).",
            responses=_PROBLEMS)
async def stats_backlog(session: SessionDep, region_kato: RegionFilter = None) -> BacklogOut:
    return await service.backlog(session=session, region_kato=region_kato)


# ---- dead letters: an operator's tool ------------------------------------------------------------

operations = APIRouter(prefix="/v1", tags=["operations"])
_ADMIN = "The token lacks operations:admin"


@operations.get("/dead-letters", response_model=list[DeadLetterOut],
                dependencies=[Depends(RequireScope("operations:admin"))],
                summary="Events a service could not handle, the most recently failed first",
                description="One entry per event and service that failed on it: why (fields and systems named, "
                            "never values), how often, and whether it was replayed since it last failed. The "
                            "event's content is never shown.",
                responses=problems({403: _ADMIN, 422: "`pending` not a boolean, `event_type` or `failed_in` "
                                                      "malformed, `limit` outside 1–500, or a control character in "
                                                      "the query"}))
async def list_dead_letters(
    session: SessionDep,
    pending: Annotated[bool | None, Query(description="true: not replayed since they last failed; false: replayed")] = None,
    event_type: Annotated[EventType | None, Query()] = None,
    failed_in: Annotated[ServiceName | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[DeadLetterOut]:
    return await service.list_dead_letters(session=session, pending=pending, event_type=event_type,
                                           failed_in=failed_in, limit=limit)


@operations.post("/dead-letters/replay", response_model=ReplayOut,
                 dependencies=[Depends(RequireScope("operations:admin"))],
                 summary="Replay the dead letters matching a filter, or all",
                 description="Each event is sent again, unchanged (same id), to the topic it came from, marked with "
                             "the header x-qamqor-replay: a service that dead-lettered it handles it again — once, "
                             "however often the replay is delivered — and one that handled it ignores it. Only "
                             "those not replayed since they last failed, unless `include_replayed`; at most 500 "
                             "at once (the oldest), `remaining` says how many more match.",
                 responses=problems({
                     400: "The body is not valid JSON (the position where the parser stopped is named)",
                     403: _ADMIN,
                     415: "The body is not JSON (Content-Type must be application/json)",
                     422: "No filter and `all` not true, a filter malformed, or an unknown field (each named)",
                 }))
async def replay_dead_letters(body: ReplayIn, session: SessionDep, caller: CallerDep) -> ReplayOut:
    return await service.replay_many(session=session, body=body, by=caller.id)


@operations.get("/dead-letters/{event_id}", response_model=DeadLetterEventOut,
                dependencies=[Depends(RequireScope("operations:admin"))],
                summary="One dead-lettered event: every service that failed on it, why, how often, its replays",
                responses=problems({403: _ADMIN, 404: "No dead letter of this event",
                                    422: "`event_id` is not a UUID, or a control character in the path"}))
async def show_dead_letter(event_id: UUID, session: SessionDep) -> DeadLetterEventOut:
    return await service.show_dead_letter(session=session, event_id=event_id)


@operations.post("/dead-letters/{event_id}/replay", response_model=ReplayOut,
                 dependencies=[Depends(RequireScope("operations:admin"))],
                 summary="Replay one dead-lettered event (after the fix)",
                 description="The event is sent again, unchanged, to the topic it came from, marked with the header "
                             "x-qamqor-replay: a service that dead-lettered it handles it again, once.",
                 responses=problems({
                     403: _ADMIN,
                     404: "No dead letter of this event",
                     409: "The dead letter is not an event (undecodable): nothing to replay",
                     415: "A body was sent that is not JSON (the route takes none)",
                     422: "`event_id` is not a UUID, or a control character in the path",
                 }))
async def replay_dead_letter(event_id: UUID, session: SessionDep, caller: CallerDep) -> ReplayOut:
    return await service.replay_one(session=session, event_id=event_id, by=caller.id)
