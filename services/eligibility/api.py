from __future__ import annotations

from datetime import date
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import Response

from shared.errors import json_response

from services.eligibility import service
from services.eligibility.schemas import EstimateIn, ParameterIn, language
from shared.service import CallerDep, SessionDep

router = APIRouter(prefix="/v1", tags=["eligibility"])
AcceptLanguage = Annotated[str | None, Header(alias="Accept-Language")]


@router.post("/eligibility/estimate", summary="What a family would get: amounts, reasons, parameters used")
async def estimate(body: EstimateIn, request: Request, accept_language: AcceptLanguage = None) -> Response:
    # The result is already JSON-ready; returning it directly skips FastAPI's generic encoder.
    return json_response(await service.estimate(cache=request.app.state.parameters, body=body,
                                                 lang=language(accept_language)))


@router.get("/eligibility/decisions/{decision_id}", summary="A stored decision, optionally recomputed as it was made")
async def get_decision(decision_id: UUID, request: Request, session: SessionDep,
                       recompute: bool = False, accept_language: AcceptLanguage = None) -> dict:
    return await service.get_decision(session=session, cache=request.app.state.parameters, decision_id=decision_id,
                                      lang=language(accept_language), recompute=recompute)


@router.get("/parameters", summary="Parameter values, and the one in effect on a date")
async def list_parameters(
    request: Request,
    session: SessionDep,
    name: str | None = None,
    region_kato: Annotated[str | None, Query(pattern=r"^\d{9}$")] = None,
    on: date | None = None,
) -> dict:
    return await service.list_parameters(session=session, cache=request.app.state.parameters,
                                         name=name, region_kato=region_kato, on=on)


@router.post("/parameters", status_code=201, summary="Record a new effective-dated parameter value")
async def record_parameter(body: ParameterIn, request: Request, session: SessionDep, caller: CallerDep) -> dict:
    return await service.record_parameter(session=session, cache=request.app.state.parameters, caller=caller, body=body)
