"""HTTP routes: each translates a request into one use case of `service.py`, behind the scope the
gateway's route table gives it (checked here too, where the data is)."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.responses import Response

from services.eligibility import reassessments, service
from services.eligibility.schemas import (
    EstimateIn,
    EstimateOut,
    ParameterIn,
    ParameterName,
    ParameterOut,
    ParametersOut,
    ReassessmentIn,
    ReassessmentOut,
    ReviewOut,
    StoredDecisionOut,
    WorkingDate,
    language,
)
from shared.inputs import RegisteredKato
from shared.problems import problems
from shared.errors import json_response
from shared.service import CallerDep, RequireScope, SessionDep

router = APIRouter(prefix="/v1", tags=["eligibility"])
AcceptLanguage = Annotated[str | None, Header(alias="Accept-Language", max_length=200,
                                              description="kk, ru or en (English when none is named)")]

_BODY_PROBLEMS = {
    400: "The body is not valid JSON (the position where the parser stopped is named)",
    415: "The body is not JSON (Content-Type must be application/json)",
}


@router.post("/eligibility/estimate", response_model=EstimateOut,
             dependencies=[Depends(RequireScope("eligibility:estimate"))],
             summary="What a family would get: amounts, reasons, parameters used",
             description="Stateless: nothing is stored and no family's case is read. `extension` is a what-if.",
             responses=problems(_BODY_PROBLEMS | {
                 403: "The token lacks eligibility:estimate",
                 422: "A field is invalid (each is named: a bound, an unregistered KATO code, a control character, "
                      "an IIN that does not match its birth date…; an Accept-Language over 200 characters), or a "
                      "parameter the rules need has no value for these dates (`missing-parameter`, naming "
                      "`parameters.<name>`)",
             }))
async def estimate(body: EstimateIn, request: Request, accept_language: AcceptLanguage = None) -> Response:
    # The result is already JSON-ready; returning it directly skips FastAPI's generic encoder
    # (`response_model` documents it).
    return json_response(await service.estimate(cache=request.app.state.parameters, body=body,
                                                 lang=language(accept_language)))


@router.get("/eligibility/decisions/{decision_id}", response_model=StoredDecisionOut,
            response_model_exclude_unset=True, dependencies=[Depends(RequireScope("applications:read"))],
            summary="A stored decision, optionally recomputed as it was made",
            description="A citizen-bound portal token reads the decisions of the citizen's own families, a case "
                        "worker those of the regions assigned to it; every other caller is refused.",
            responses=problems({
                403: "The token lacks applications:read; a portal token not bound to a citizen; or a caller "
                     "kind that reads no family's decision (ops, fdc, bank, admin)",
                404: "No such decision, or not one of the caller's families",
                422: "`decision_id` is not a UUID, `recompute` not a boolean, an Accept-Language over 200 "
                     "characters, or a control character in the path or query",
            }))
async def get_decision(decision_id: UUID, request: Request, session: SessionDep, caller: CallerDep,
                       recompute: bool = False, accept_language: AcceptLanguage = None) -> StoredDecisionOut:
    return await service.get_decision(session=session, cache=request.app.state.parameters, caller=caller,
                                      decision_id=decision_id, lang=language(accept_language), recompute=recompute)


@router.get("/parameters", response_model=ParametersOut, response_model_exclude_unset=True,
            dependencies=[Depends(RequireScope("parameters:read"))],
            summary="Parameter values, and the one in effect on a date",
            responses=problems({
                403: "The token lacks parameters:read",
                422: "An unknown parameter name, an unregistered KATO code, a date outside 2000–2099, or a "
                     "control character in the query",
            }))
async def list_parameters(
    request: Request,
    session: SessionDep,
    name: ParameterName | None = None,
    region_kato: Annotated[RegisteredKato | None, Query()] = None,
    on: Annotated[WorkingDate | None, Query()] = None,
) -> ParametersOut:
    return await service.list_parameters(session=session, cache=request.app.state.parameters,
                                         name=name, region_kato=region_kato, on=on)


@router.post("/parameters", status_code=201, response_model=ParameterOut,
             dependencies=[Depends(RequireScope("parameters:write"))],
             summary="Record a new effective-dated parameter value",
             description="The value must be of the parameter's kind and within its sane range (shares strictly "
                         "between 0 and 1, money above zero, ages 0–100…). A value more than 50 % away from the "
                         "one it follows (in effect for that name and region on `valid_from`, or the last before "
                         "it) is refused unless `confirm_large_change` is true. Recorded values are announced as "
                         "`parameter.recorded` events.",
             responses=problems(_BODY_PROBLEMS | {
                 403: "The token lacks parameters:write",
                 422: "A field is invalid, each named: an unknown name, an unregistered KATO code, `valid_to` "
                      "before `valid_from`, a value of the wrong kind or out of bounds, or a large change not "
                      "confirmed (the message names the value it follows)",
             }))
async def record_parameter(body: ParameterIn, request: Request, session: SessionDep,
                           caller: CallerDep) -> ParameterOut:
    record = await service.record_parameter(session=session, cache=request.app.state.parameters,
                                            caller=caller, body=body)
    return ParameterOut.model_validate(record)


# ---- reassessment runs (issue 12) -------------------------------------------------------------

@router.post("/reassessments", status_code=202, response_model=ReassessmentOut,
             dependencies=[Depends(RequireScope("reassessments:run"))],
             summary="Start the reassessment of every recipient family for a quarter (automatic extension)",
             description="Every family whose assignment covers the quarter before `quarter` is decided again for "
                         "`quarter` without an application (docs/reassessment.md). One run per quarter: 202 with "
                         "a new run; 200 with the quarter's run (the same body) when it exists — running, "
                         "completed, or failed and now resumed where it stopped.",
             responses={200: {"model": ReassessmentOut,
                              "description": "The quarter's run exists: the same body (resumed if it had failed)"}}
             | problems(_BODY_PROBLEMS | {
                 403: "The token lacks reassessments:run",
                 422: "`quarter` is not YYYY-Qn (2000–2099), or an unknown field; or a parameter value the run "
                      "needs is not recorded (`missing-parameter`, naming each `parameters.<name>`; nothing is "
                      "started)",
             }))
async def start_reassessment(body: ReassessmentIn, request: Request, session: SessionDep,
                             caller: CallerDep) -> Response:
    run, created = await reassessments.start(app=request.app, session=session, caller=caller, quarter=body.quarter)
    return json_response(run.model_dump(mode="json"), status=202 if created else 200)


@router.get("/reassessments/{run_id}", response_model=ReassessmentOut,
            dependencies=[Depends(RequireScope("reassessments:run"))],
            summary="A reassessment run: progress and totals",
            description="Progress (families done of the total, the phase) and totals: families extended, ended by "
                        "refusing reason code, listed for case workers by reason, amounts for the quarter by region.",
            responses=problems({403: "The token lacks reassessments:run", 404: "No such run",
                                422: "`run_id` is not a UUID"}))
async def get_reassessment(run_id: UUID, session: SessionDep) -> ReassessmentOut:
    return await reassessments.get(session=session, run_id=run_id)


@router.get("/reassessments/{run_id}/review", response_model=ReviewOut,
            dependencies=[Depends(RequireScope("applications:read"))],
            summary="The families a run did not extend blindly, for case workers",
            description="Families whose composition changed (a member is now in another family of the register) "
                        "or that became conditional without a social contract in force. A case worker sees its "
                        "regions' families; ops every region (ids and reasons only).",
            responses=problems({403: "The token lacks applications:read, or a portal token", 404: "No such run",
                                422: "`run_id` is not a UUID, or `limit`/`offset` out of bounds"}))
async def get_reassessment_review(run_id: UUID, session: SessionDep, caller: CallerDep,
                                  limit: Annotated[int, Query(ge=1, le=1000)] = 100,
                                  offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0) -> ReviewOut:
    return await reassessments.review(session=session, caller=caller, run_id=run_id, limit=limit, offset=offset)
