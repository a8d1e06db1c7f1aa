"""The sandbox: plays Qamqor's external state systems over HTTP for local runs and tests.

- Income registry (state databases of incomes): `GET /registry/v1/incomes` for one person,
  `POST /registry/v1/incomes/query {"iins", "quarter"}` for a family (the same answers, one
  round trip: what verification asks), and the bulk extract `POST /registry/v1/incomes/extract`
  (a quarter's incomes of up to 100,000 people, streamed as CSV). A seeded register's incomes
  (`qamqor seed`) are read from the sandbox's own database first (`sandbox/seeded.py`), the
  synthetic population's otherwise.
- National identity provider (eGov IDP): signed identity assertions and their JWKS (`sandbox/idp.py`).
- Control API for tests and demos: `PUT /sandbox/persons/{iin}` sets a person's registry
  incomes (replacing the synthetic ones), `GET` shows what the registry answers for the person —
  set or synthetic — over a range of months (by default the twelve before the current one), and
  `DELETE` restores the synthetic ones.
- Outages, to see the platform wait them out: `PUT /sandbox/outages/income-registry
  {"down": true}` makes the registry answer 503 until it is put back `{"down": false}`;
  `{"delay_seconds": 8}` makes it answer that late (longer than verification's timeout: a
  timeout). `GET /sandbox/outages` shows them.

State set through the control API lives in this process's memory: restarting the sandbox
returns every person to the seeded synthetic population.
"""

from __future__ import annotations

import asyncio
import os
import re
from datetime import date
from decimal import Decimal
from typing import Annotated, Any, Literal

from contextlib import asynccontextmanager

import numpy as np
from fastapi import FastAPI, Path, Query
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from sandbox.banks import create_router as banks_router
from sandbox.idp import IdentityProvider, create_router as idp_router
from sandbox.population import synthetic_incomes
from sandbox.registries import FamilyQuarterQuery, create_router as registries_router
from sandbox.seeded import SeededStore
from sandbox.sms import SmsGateway, create_router as sms_router
from shared.calendar import Quarter, business_date, month_label, parse_month
from shared.errors import InvalidInput, install_error_handlers
from shared.vocabulary import INCOME_TYPES
from shared.observability import RequestContextMiddleware, configure_logging, metrics_endpoint



class IncomeEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")
    month: str = Field(pattern=r"^\d{4}-(0[1-9]|1[0-2])$")
    type: str
    amount: Decimal = Field(ge=0, max_digits=14, decimal_places=2)


class PersonState(BaseModel):
    model_config = ConfigDict(extra="forbid")
    incomes: list[IncomeEntry] = []


class Outage(BaseModel):
    """How an external system the sandbox plays misbehaves: down (it answers 503) and/or slow."""

    model_config = ConfigDict(extra="forbid")
    down: bool = False
    delay_seconds: float = Field(default=0.0, ge=0, le=120)


# The systems an outage can be played for (path names).
OutageSystem = Literal["income-registry", "accounts-registry", "real-estate-registry", "vehicle-registry",
                       "sms-gateway"]

MAX_MONTHS = 36
IinPath = Annotated[str, Path(pattern=r"^\d{12}$")]
MonthQuery = r"^\d{4}-(0[1-9]|1[0-2])$"


def months_between(start: date, end: date) -> list[date]:
    months: list[date] = []
    cursor = start
    while cursor <= end and len(months) < MAX_MONTHS:
        months.append(cursor)
        cursor = date(cursor.year + cursor.month // 12, cursor.month % 12 + 1, 1)
    return months


def registry_answer(persons: dict[str, PersonState], iin: str, months: list[date],
                    seeded: dict[date, list[dict[str, str]]] | None = None) -> list[dict[str, Any]]:
    """What the income registry answers for a person over these months: the incomes set through
    the control API, or else the seeded register's for the months the store covers (`seeded`,
    see `SeededStore.person`), or else the synthetic population's."""
    state = persons.get(iin)
    if state is not None:
        wanted = {month_label(m) for m in months}
        return [e.model_dump(mode="json") for e in state.incomes if e.month in wanted]
    seeded = seeded or {}
    return [{"month": month_label(m), **entry} for m in months
            for entry in (seeded[m] if m in seeded else synthetic_incomes(iin, m))]


MAX_EXTRACT_IINS = 100_000
EXTRACT_BATCH = 50_000  # IINs per query of the seeded store: each batch is streamed as it is read
_IIN = re.compile(r"[0-9]{12}")
_IIN_LIST = re.compile(r"[0-9]{12}(,[0-9]{12})*")


class ExtractRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    quarter: str = Field(pattern=r"^\d{4}-Q[1-4]$", examples=["2026-Q4"])
    iins: list[str] = Field(max_length=MAX_EXTRACT_IINS, examples=[["870412300128"]])


def _csv_lines(iin: str, incomes: list[dict[str, Any]]) -> str:
    return "".join(f"{iin},{e['month']},{e['type']},{e['amount']}\n" for e in incomes)


def last_twelve_months(today: date) -> tuple[date, date]:
    end = date(today.year - (today.month == 1), (today.month - 2) % 12 + 1, 1)
    start = date(end.year - (end.month < 12), end.month % 12 + 1, 1)
    return start, end


def create_app() -> FastAPI:
    configure_logging("sandbox", os.environ.get("QAMQOR_SANDBOX_LOG_LEVEL", "INFO"))
    store = SeededStore(os.environ.get("QAMQOR_SANDBOX_DATABASE_URL") or None)

    @asynccontextmanager
    async def lifespan(_: FastAPI):  # noqa: ANN202
        await store.prepare()
        yield
        await store.close()

    app = FastAPI(title="Qamqor sandbox of external systems", lifespan=lifespan)
    app.state.seeded = store
    install_error_handlers(app)
    app.add_middleware(RequestContextMiddleware, service="sandbox")
    persons: dict[str, PersonState] = {}
    app.state.persons = persons
    outages: dict[str, Outage] = {}
    app.state.outages = outages

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok", "service": "sandbox"}

    @app.get("/ready")
    async def ready() -> dict[str, str]:
        return {"status": "ready"}

    app.add_route("/metrics", metrics_endpoint)
    app.include_router(idp_router(IdentityProvider()))
    app.include_router(registries_router(outages))
    app.include_router(banks_router())
    app.include_router(sms_router(SmsGateway.from_env()))

    @app.put("/sandbox/persons/{iin}", tags=["control"])
    async def set_person(iin: IinPath, state: PersonState) -> dict:
        for i, entry in enumerate(state.incomes):
            if entry.type not in INCOME_TYPES:
                raise InvalidInput("unknown income type", errors=[{"field": f"incomes[{i}].type", "message": f"one of {INCOME_TYPES}"}])
        persons[iin] = state
        return {"iin": iin, "incomes": [e.model_dump(mode="json") for e in state.incomes]}

    @app.get("/sandbox/persons/{iin}", tags=["control"],
             summary="What the income registry answers for this person (set or synthetic)")
    async def get_person(
        iin: IinPath,
        from_month: Annotated[str | None, Query(alias="from", pattern=MonthQuery)] = None,
        to_month: Annotated[str | None, Query(alias="to", pattern=MonthQuery)] = None,
    ) -> dict:
        default_start, default_end = last_twelve_months(business_date())
        start = parse_month(from_month) if from_month else default_start
        end = parse_month(to_month) if to_month else default_end
        months = months_between(start, end)
        return {"iin": iin, "synthetic": iin not in persons,
                "from": month_label(months[0]) if months else month_label(start),
                "to": month_label(months[-1]) if months else month_label(end),
                "incomes": registry_answer(persons, iin, months, await seeded_months(iin, months))}

    async def seeded_months(iin: str, months: list[date]) -> dict[date, list[dict[str, str]]] | None:
        return None if iin in persons else await store.person(iin, months)

    @app.delete("/sandbox/persons/{iin}", tags=["control"], status_code=204)
    async def reset_person(iin: IinPath) -> None:
        persons.pop(iin, None)

    async def income_registry_outage() -> JSONResponse | None:
        """The income registry's outage being played: its delay waited, and the 503 it answers while
        down (None when up)."""
        outage = outages.get("income-registry", Outage())
        if outage.delay_seconds:
            await asyncio.sleep(outage.delay_seconds)
        if outage.down:
            return JSONResponse({"title": "The income registry is down (sandbox outage)", "status": 503},
                                status_code=503, headers={"Retry-After": "60"}, media_type="application/problem+json")
        return None

    @app.put("/sandbox/outages/{system}", tags=["control"],
             summary="Make an external system fail (down: 503) or answer late, or work again")
    async def set_outage(system: OutageSystem, outage: Outage) -> dict:
        outages[system] = outage
        return {"system": system, **outage.model_dump()}

    @app.get("/sandbox/outages", tags=["control"], summary="The outages being played")
    async def list_outages() -> dict:
        return {system: outage.model_dump() for system, outage in outages.items()}

    @app.get("/registry/v1/incomes", tags=["income registry"])
    async def registry_incomes(
        iin: Annotated[str, Query(pattern=r"^\d{12}$")],
        from_month: Annotated[str, Query(alias="from", pattern=MonthQuery)],
        to_month: Annotated[str, Query(alias="to", pattern=MonthQuery)],
    ) -> Any:
        if (down := await income_registry_outage()) is not None:
            return down
        months = months_between(parse_month(from_month), parse_month(to_month))
        return {"iin": iin, "incomes": registry_answer(persons, iin, months, await seeded_months(iin, months))}

    @app.post("/registry/v1/incomes/query", tags=["income registry"],
              summary="A quarter's incomes of each person of a family (up to 30), in one call")
    async def registry_incomes_of(body: FamilyQuarterQuery) -> Any:
        if (down := await income_registry_outage()) is not None:
            return down
        months = Quarter.parse(body.quarter).months()
        return {"quarter": body.quarter, "persons": [
            {"iin": iin, "incomes": registry_answer(persons, iin, months, await seeded_months(iin, months))}
            for iin in body.iins]}

    @app.post("/registry/v1/incomes/extract", tags=["income registry"],
              summary="A quarter's incomes of up to 100,000 people, streamed as CSV",
              response_class=StreamingResponse,
              responses={200: {"content": {"text/csv": {}},
                               "description": "CSV: header `iin,month,type,amount`, one line per income record "
                                              "of those people in the quarter's three months (month `YYYY-MM`, "
                                              "amount tenge with 2 decimals); the same figures as "
                                              "`GET /registry/v1/incomes`. Lines are grouped by person."},
                         422: {"description": "`quarter` not YYYY-Qn, more than 100,000 IINs, or an IIN that "
                                              "is not 12 digits (`iins[i]`)"}})
    async def registry_extract(body: ExtractRequest) -> Any:
        # the IINs checked at once (one regular expression over them all), named one by one only
        # when one is wrong
        if body.iins and not _IIN_LIST.fullmatch(",".join(body.iins)):
            i = next(i for i, iin in enumerate(body.iins) if not _IIN.fullmatch(iin))
            raise InvalidInput("An IIN is not 12 digits.", errors=[{"field": f"iins[{i}]", "message": "12 digits"}])
        if (down := await income_registry_outage()) is not None:
            return down
        quarter = Quarter.parse(body.quarter)
        months = quarter.months()
        # as numbers, sorted; a person named twice is answered once
        keys = np.unique(np.array(body.iins, "S12").astype(np.int64)) if body.iins else np.zeros(0, np.int64)
        own = np.array([int(iin) for iin in persons], np.int64)  # set through the control API: few

        async def lines():  # noqa: ANN202
            yield b"iin,month,type,amount\n"
            for start in range(0, len(keys), EXTRACT_BATCH):
                batch = keys[start:start + EXTRACT_BATCH]
                theirs = np.isin(batch, own) if len(own) else np.zeros(len(batch), np.bool_)
                stored = batch[~theirs]
                found = await store.extract(stored, months[0], months[-1]) if len(stored) else None
                seeded_lines, seeded = found if found is not None else (b"", np.zeros(len(stored), np.bool_))
                others = np.concatenate([batch[theirs], stored[~seeded]]).tolist()
                rest = "".join(_csv_lines(iin, registry_answer(persons, iin, months)) for iin in (f"{k:012d}" for k in others))
                yield seeded_lines + rest.encode()

        return StreamingResponse(lines(), media_type="text/csv; charset=utf-8")

    return app


app = create_app()
