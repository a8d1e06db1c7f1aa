"""HTTP routes: each translates a request into one use case of `service.py`, behind the scope the
gateway's route table gives it (checked here too, where the data is)."""

from __future__ import annotations

from datetime import date
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.responses import Response

from services.eligibility import service
from services.eligibility.schemas import (
    EstimateIn,
    EstimateOut,
    ParameterIn,
    ParameterOut,
    ParametersOut,
    StoredDecisionOut,
    language,
)
from shared.errors import json_response
from shared.service import CallerDep, RequireScope, SessionDep

router = APIRouter(prefix="/v1", tags=["eligibility"])
AcceptLanguage = Annotated[str | None, Header(alias="Accept-Language")]


@router.post("/eligibility/estimate", response_model=EstimateOut,
             dependencies=[Depends(RequireScope("eligibility:estimate"))],
             summary="What a family would get: amounts, reasons, parameters used")
async def estimate(body: EstimateIn, request: Request, accept_language: AcceptLanguage = None) -> Response:
    # The result is already JSON-ready; returning it directly skips FastAPI's generic encoder
    # (`response_model` documents it).
    return json_response(await service.estimate(cache=request.app.state.parameters, body=body,
                                                 lang=language(accept_language)))


@router.get("/eligibility/decisions/{decision_id}", response_model=StoredDecisionOut,
            response_model_exclude_unset=True, dependencies=[Depends(RequireScope("applications:read"))],
            summary="A stored decision, optionally recomputed as it was made")
async def get_decision(decision_id: UUID, request: Request, session: SessionDep,
                       recompute: bool = False, accept_language: AcceptLanguage = None) -> StoredDecisionOut:
    return await service.get_decision(session=session, cache=request.app.state.parameters, decision_id=decision_id,
                                      lang=language(accept_language), recompute=recompute)


@router.get("/parameters", response_model=ParametersOut, response_model_exclude_unset=True,
            dependencies=[Depends(RequireScope("parameters:read"))],
            summary="Parameter values, and the one in effect on a date")
async def list_parameters(
    request: Request,
    session: SessionDep,
    name: str | None = None,
    region_kato: Annotated[str | None, Query(pattern=r"^\d{9}$")] = None,
    on: date | None = None,
) -> ParametersOut:
    return await service.list_parameters(session=session, cache=request.app.state.parameters,
                                         name=name, region_kato=region_kato, on=on)


@router.post("/parameters", status_code=201, response_model=ParameterOut,
             dependencies=[Depends(RequireScope("parameters:write"))],
             summary="Record a new effective-dated parameter value")
async def record_parameter(body: ParameterIn, request: Request, session: SessionDep,
                           caller: CallerDep) -> ParameterOut:
    record = await service.record_parameter(session=session, cache=request.app.state.parameters,
                                            caller=caller, body=body)
    return ParameterOut.model_validate(record)
