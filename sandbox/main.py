"""The sandbox: plays Qamqor's external state systems over HTTP for local runs and tests.

- Income registry (state databases of incomes): `GET /registry/v1/incomes`.
- National identity provider (eGov IDP): signed identity assertions and their JWKS (`sandbox/idp.py`).
- Control API for tests and demos: `PUT /sandbox/persons/{iin}` sets a person's registry
  incomes (replacing the synthetic ones), `GET` shows them, `DELETE` restores the synthetic ones.

State set through the control API lives in this process's memory: restarting the sandbox
returns every person to the seeded synthetic population.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Annotated

from fastapi import FastAPI, Query
from pydantic import BaseModel, ConfigDict, Field

from sandbox.idp import IdentityProvider, create_router as idp_router
from sandbox.population import synthetic_incomes
from shared.calendar import month_label, parse_month
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


def create_app() -> FastAPI:
    configure_logging("sandbox")
    app = FastAPI(title="Qamqor sandbox of external systems")
    install_error_handlers(app)
    app.add_middleware(RequestContextMiddleware, service="sandbox")
    persons: dict[str, PersonState] = {}
    app.state.persons = persons

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok", "service": "sandbox"}

    @app.get("/ready")
    async def ready() -> dict[str, str]:
        return {"status": "ready"}

    app.add_route("/metrics", metrics_endpoint)
    app.include_router(idp_router(IdentityProvider()))

    @app.put("/sandbox/persons/{iin}", tags=["control"])
    async def set_person(iin: Annotated[str, Field(pattern=r"^\d{12}$")], state: PersonState) -> dict:
        for i, entry in enumerate(state.incomes):
            if entry.type not in INCOME_TYPES:
                raise InvalidInput("unknown income type", errors=[{"field": f"incomes[{i}].type", "message": f"one of {INCOME_TYPES}"}])
        persons[iin] = state
        return {"iin": iin, "incomes": [e.model_dump(mode="json") for e in state.incomes]}

    @app.get("/sandbox/persons/{iin}", tags=["control"])
    async def get_person(iin: str) -> dict:
        state = persons.get(iin)
        return {"iin": iin, "synthetic": state is None,
                "incomes": [e.model_dump(mode="json") for e in state.incomes] if state else []}

    @app.delete("/sandbox/persons/{iin}", tags=["control"], status_code=204)
    async def reset_person(iin: str) -> None:
        persons.pop(iin, None)

    @app.get("/registry/v1/incomes", tags=["income registry"])
    async def registry_incomes(
        iin: Annotated[str, Query(pattern=r"^\d{12}$")],
        from_month: Annotated[str, Query(alias="from", pattern=r"^\d{4}-\d{2}$")],
        to_month: Annotated[str, Query(alias="to", pattern=r"^\d{4}-\d{2}$")],
    ) -> dict:
        start, end = parse_month(from_month), parse_month(to_month)
        months: list[date] = []
        cursor = start
        while cursor <= end and len(months) < 36:
            months.append(cursor)
            cursor = date(cursor.year + cursor.month // 12, cursor.month % 12 + 1, 1)
        state = persons.get(iin)
        if state is not None:
            wanted = {month_label(m) for m in months}
            incomes = [e.model_dump(mode="json") for e in state.incomes if e.month in wanted]
        else:
            incomes = [{"month": month_label(m), **entry} for m in months for entry in synthetic_incomes(iin, m)]
        return {"iin": iin, "incomes": incomes}

    return app


app = create_app()
