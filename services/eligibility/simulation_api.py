"""`POST /v1/simulations` (issue 12, point 4): a policy simulation over the register's current
recipients — baseline vs reform — that writes nothing (services/eligibility/simulation.py)."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Annotated

import asyncpg
from fastapi import APIRouter, Depends, FastAPI, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import text

from services.eligibility import repository, simulation
from services.eligibility.domain import InvalidParameter, MissingParameter
from services.eligibility.reassessment.register import raw_connection
from services.eligibility.schemas import ParameterName, ParameterValueIn, WorkingDate
from shared.access import note_data_subjects
from shared.calendar import Quarter, business_date
from shared.db import asyncpg_dsn
from shared.errors import Forbidden, InvalidInput, QamqorError, field_error, json_response
from shared.inputs import InputModel, RegisteredKato
from shared.problems import problems
from shared.service import CallerDep, RequireScope, SessionDep
from shared.wakeups import wait_for_wakeup

log = logging.getLogger("qamqor.eligibility.simulation")

router = APIRouter(prefix="/v1", tags=["eligibility"])

SCOPE = "parameters:write"
DETAIL_SCOPE = "applications:read"


class MissingParameterError(QamqorError):
    status, slug, title = 422, "missing-parameter", "Parameter has no value for this date"


class RegistryUnavailableError(QamqorError):
    status, slug, title = 503, "registry-unavailable", "The income registry's extract is unavailable"


class OverrideIn(InputModel):
    name: ParameterName
    region_kato: RegisteredKato | None = None
    valid_from: WorkingDate
    valid_to: WorkingDate | None = None
    value: ParameterValueIn


class SimulationIn(InputModel):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"quarter": "2027-Q1", "overrides": [
            {"name": "poverty_line_median_share", "value": "0.40", "valid_from": "2027-01-01"},
            {"name": "subsistence_minimum", "region_kato": "750000000", "value": "56000", "valid_from": "2026-10-01"}]},
    ]})

    quarter: str = Field(pattern=r"^20\d{2}-Q[1-4]$", description="The quarter decided (YYYY-Qn): its current "
                         "recipients are the families assigned in the quarter before it", examples=["2027-Q1"])
    overrides: list[OverrideIn] = Field(default=[], max_length=200)


class CostOut(BaseModel):
    tsa: int = Field(description="TSA for the quarter, tenge")
    child_supplement: int = Field(description="Child supplement for the quarter, tenge")
    total: int


class RegionOut(BaseModel):
    region_kato: str
    families_eligible: int
    cost: int = Field(description="TSA + child supplement for the quarter, tenge")


class SizeOut(BaseModel):
    members: str = Field(description="Members per family: 1 … 9, then 10+")
    families_eligible: int
    cost: int


class SideOut(BaseModel):
    families_eligible: int
    families_not_eligible: int
    cost: CostOut
    by_region: list[RegionOut]
    by_family_size: list[SizeOut]


class FamilyOut(BaseModel):
    family_id: str
    applicant_iin: str


class DetailOut(BaseModel):
    gaining: list[FamilyOut]
    losing: list[FamilyOut]
    limit: int = Field(description="At most this many families are listed each way")


class TimingOut(BaseModel):
    register_cached: bool
    register_load_seconds: float
    decide_seconds: float
    total_seconds: float


_SIDE_EXAMPLE = {"families_eligible": 730_512, "families_not_eligible": 269_488,
                 "cost": {"tsa": 182_003_551_200, "child_supplement": 16_420_332_800, "total": 198_423_884_000},
                 "by_region": [{"region_kato": "610000000", "families_eligible": 148_310, "cost": 40_281_993_100}],
                 "by_family_size": [{"members": "5", "families_eligible": 139_775, "cost": 37_962_540_500}]}


class SimulationOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "quarter": "2027-Q1", "families": 1_000_000, "baseline": _SIDE_EXAMPLE, "reform": _SIDE_EXAMPLE,
        "families_gaining": 0, "families_losing": 0,
        "timing": {"register_cached": True, "register_load_seconds": 41.2, "decide_seconds": 1.3,
                   "total_seconds": 1.6}}]})

    quarter: str
    families: int = Field(description="Current recipients decided (the register's families)")
    baseline: SideOut
    reform: SideOut
    families_gaining: int = Field(description="Not eligible with the baseline, eligible with the reform")
    families_losing: int = Field(description="Eligible with the baseline, not with the reform")
    detail: DetailOut | None = Field(None, description="Only with ?detail=true (and applications:read)")
    timing: TimingOut


def _cache(app: FastAPI) -> simulation.RegisterCache:
    state = app.state
    if getattr(state, "simulation_cache", None) is None:
        state.simulation_cache = simulation.RegisterCache()
    return state.simulation_cache


def _income_source(app: FastAPI) -> simulation.IncomeExtract:
    """The income registry's extract through the app's registry client (the reassessment runs'
    one); tests may set `app.state.simulation_incomes`."""
    source = getattr(app.state, "simulation_incomes", None)
    return source if source is not None else simulation.HttpIncomeExtract(app.state.income_registry)


# ------------------------------------------------------------------------------ reading ahead

REGISTER_CHANNEL = repository.REGISTER_CHANNEL


def coming_quarter(app: FastAPI) -> Quarter:
    """The quarter an administrator simulates before the turn: the one after today's (tests may
    set `app.state.simulation_quarter`)."""
    chosen = getattr(app.state, "simulation_quarter", None)
    return chosen() if chosen is not None else Quarter.of(business_date()).next()


async def warm(app: FastAPI, quarter: Quarter) -> bool:
    """Read the register of `quarter`'s current recipients and their incomes into the cache
    unless it is there already, unchanged (an entry past its time is not read again here: the
    next simulation does). False when there is nothing to read or a reassessment run is at work."""
    if getattr(getattr(app.state, "reassessments", None), "running", False):
        return False
    async with app.state.sessionmaker() as session, session.begin():
        await session.execute(text("SET TRANSACTION READ ONLY"))
        conn = await raw_connection(session)
        version = await simulation.register_version(conn, quarter.previous())
        if not version[0]:
            return False
        await _cache(app).get(conn, quarter, _income_source(app), reuse_expired=True)
    return True


def give_way(app: FastAPI) -> None:
    """A reassessment run starts: a reading ahead still at work stops (both would compete for
    the same two cores and the registry); it is read again after the run (the next check)."""
    reading = getattr(app.state, "simulation_reading", None)
    if reading is not None and not reading.done():
        reading.cancel()


async def keep_warm(app: FastAPI) -> None:
    """The coming quarter's register read ahead, so that an administrator's first simulation does
    not wait for it (half a minute for a million families): at start-up, when `qamqor seed`
    NOTIFYs that it filled the register, and every `simulation_check_seconds` (a count of the
    quarter's assignments) in case the register changed otherwise. A reading fails quietly: the
    next simulation reads it itself and answers the failure. A reassessment run starting stops a
    reading at work (`give_way`)."""
    settings = app.state.settings
    changed = asyncio.Event()
    changed.set()
    listener = None
    try:
        listener = await asyncpg.connect(asyncpg_dsn(settings.database_url))
        await listener.add_listener(REGISTER_CHANNEL, lambda *_: changed.set())
    except Exception:  # noqa: BLE001
        log.warning("LISTEN for register changes unavailable; checking every %.0fs", settings.simulation_check_seconds)
    try:
        while True:
            changed.clear()
            reading = app.state.simulation_reading = asyncio.ensure_future(warm(app, coming_quarter(app)))
            try:
                await reading
            except asyncio.CancelledError:
                if asyncio.current_task().cancelling():  # type: ignore[union-attr] - the process stops
                    raise
                log.info("reading the register ahead gave way to a reassessment run")
            except Exception as error:  # noqa: BLE001 - the next simulation reads it itself
                log.warning("reading the register ahead failed: %s", type(error).__name__)
            await wait_for_wakeup(changed, settings.simulation_check_seconds)
    finally:
        if listener is not None:
            await listener.close()


@router.post("/simulations", dependencies=[Depends(RequireScope(SCOPE))], response_model=SimulationOut,
             response_model_exclude_none=True,
             summary="Policy simulation: the current recipients decided with today's parameters and with overrides",
             description="Runs the bulk path of the rules twice over the register's current recipients (the "
                         "families assigned in the quarter before `quarter`, active) and their incomes of the "
                         "assessment quarter from the income registry: with the parameters in force (baseline) and "
                         "with `overrides` recorded on top (reform). Writes nothing. Answers families eligible and "
                         "the quarter's cost (TSA + child supplement, tenge) for each, by region and by family size, "
                         "and how many families gain and lose eligibility. `?detail=true` (needs applications:read "
                         "too) also lists those families (id and applicant IIN, at most 10,000 each way).",
             responses=problems({
                 400: "The body is not valid JSON",
                 403: "The token lacks parameters:write, or asks for the detail without applications:read",
                 415: "The body is not JSON",
                 422: "A field is invalid, each named: the quarter, an override's unknown parameter name, region, "
                      "dates or value (`overrides[i].value`); or a parameter the rules need has no value "
                      "(`missing-parameter`, naming `parameters.<name>`)",
                 503: "The income registry's extract did not answer",
             }))
async def run_simulation(body: SimulationIn, request: Request, session: SessionDep, caller: CallerDep,
                         detail: Annotated[bool, Query(description="List the families that gain and lose "
                                                                   "(needs applications:read)")] = False) -> Response:
    if detail and not caller.has(DETAIL_SCOPE):
        raise Forbidden(f"The detail of a simulation needs the scope {DETAIL_SCOPE}.")
    started = time.perf_counter()
    quarter = Quarter.parse(body.quarter)
    baseline = await request.app.state.parameters.current()
    try:
        reform = simulation.reform_parameters(baseline, [
            simulation.Override(name=o.name, value=o.value, valid_from=o.valid_from, valid_to=o.valid_to,
                                region_kato=o.region_kato) for o in body.overrides])
    except InvalidParameter as invalid:
        raise InvalidInput("An override cannot be applied.",
                           errors=[field_error(e.path, e.message) for e in invalid.errors]) from None
    await session.execute(text("SET TRANSACTION READ ONLY"))
    conn = await raw_connection(session)
    try:
        register, cached = await _cache(request.app).get(conn, quarter, _income_source(request.app))
    except simulation.RegistryUnavailable as error:
        raise RegistryUnavailableError(str(error)) from None
    try:
        outcome = await asyncio.to_thread(simulation.simulate, register, baseline, reform)
    except MissingParameter as exc:
        raise MissingParameterError(str(exc), errors=[field_error(f"parameters.{exc.name}", str(exc))]) from None
    answer = simulation.report(register, outcome, detail=detail)
    if detail:
        note_data_subjects(entry["applicant_iin"] for way in ("gaining", "losing") for entry in answer["detail"][way])
    answer["timing"] = {"register_cached": cached, "register_load_seconds": round(register.loaded_in, 3),
                        "decide_seconds": round(outcome.seconds, 3),
                        "total_seconds": round(time.perf_counter() - started, 3)}
    return json_response(answer)
