"""The sandbox's accounts registry and its two asset registries (issue 10, points 3, 4 and 6).

- Accounts registry: `GET /registry/v1/accounts?iin=` -> `{"iin", "banks": [{"bank_code"}]}`,
  the participating banks (BICs) where the person holds an account.
- Real-estate registry: `GET /registry/v1/real-estate/purchases?iin=&quarter=2026-Q3` and
  vehicle registry: `GET /registry/v1/vehicles/purchases?iin=&quarter=` ->
  `{"iin", "quarter", "purchases": [{"date": "2026-08-14", "kind": "apartment"}]}`, the
  purchases registered to the person in that quarter.

Answers are synthetic (`sandbox.population`), a pure function of the IIN, unless set through
the control API: `PUT /sandbox/persons/{iin}/accounts {"banks": ["HSBKKZKX"]}` and
`PUT /sandbox/persons/{iin}/purchases {"purchases": [{"registry": "vehicle", "date":
"2026-08-01", "kind": "car"}]}` replace them (for every quarter); `GET` shows what the
registries answer, `DELETE` restores the synthetic ones. Outages: `PUT
/sandbox/outages/{accounts-registry|real-estate-registry|vehicle-registry}` as for the income
registry.
"""

from __future__ import annotations

import asyncio
from datetime import date
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, field_validator

from sandbox.population import synthetic_accounts, synthetic_purchases
from shared.calendar import Quarter, business_date
from shared.errors import InvalidInput

IinPath = Annotated[str, Path(pattern=r"^\d{12}$")]
IinQuery = Annotated[str, Query(pattern=r"^\d{12}$")]
QuarterQuery = Annotated[str, Query(pattern=r"^\d{4}-Q[1-4]$")]
BankCode = Annotated[str, Field(pattern=r"^[A-Z]{6}[A-Z0-9]{2}([A-Z0-9]{3})?$")]

Registry = Literal["real-estate", "vehicle"]
PURCHASE_KINDS: dict[str, tuple[str, ...]] = {
    "real-estate": ("apartment", "house"),
    "vehicle": ("car",),
}
OUTAGE_OF = {"real-estate": "real-estate-registry", "vehicle": "vehicle-registry"}
TITLE_OF = {"accounts-registry": "The accounts registry", "real-estate-registry": "The real-estate registry",
            "vehicle-registry": "The vehicle registry"}


FAMILY_IINS = 30  # people per family query


class FamilyQuery(BaseModel):
    """Up to FAMILY_IINS people asked at once (a family): answered in the order given."""
    model_config = ConfigDict(extra="forbid")
    iins: list[Annotated[str, Field(pattern=r"^\d{12}$")]] = Field(min_length=1, max_length=FAMILY_IINS)


class FamilyQuarterQuery(FamilyQuery):
    quarter: str = Field(pattern=r"^\d{4}-Q[1-4]$", examples=["2026-Q3"])


class AccountsState(BaseModel):
    model_config = ConfigDict(extra="forbid")
    banks: list[BankCode] = Field(default=[], max_length=20)

    @field_validator("banks")
    @classmethod
    def _distinct(cls, banks: list[str]) -> list[str]:
        return list(dict.fromkeys(banks))


class PurchaseEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")
    registry: Registry
    date: date
    kind: str


class PurchasesState(BaseModel):
    model_config = ConfigDict(extra="forbid")
    purchases: list[PurchaseEntry] = Field(default=[], max_length=50)


async def play_outage(outages: dict[str, Any], system: str) -> JSONResponse | None:
    """What an outage set for `system` does to a request: waits its delay, then a 503 if down."""
    outage = outages.get(system)
    if outage is None:
        return None
    if outage.delay_seconds:
        await asyncio.sleep(outage.delay_seconds)
    if outage.down:
        return JSONResponse({"title": f"{TITLE_OF.get(system, system)} is down (sandbox outage)", "status": 503},
                            status_code=503, headers={"Retry-After": "60"}, media_type="application/problem+json")
    return None


def accounts_answer(accounts: dict[str, AccountsState], iin: str) -> list[dict[str, str]]:
    state = accounts.get(iin)
    banks = state.banks if state is not None else synthetic_accounts(iin)
    return [{"bank_code": code} for code in banks]


def purchases_answer(purchases: dict[str, PurchasesState], iin: str, registry: str,
                     quarter: Quarter) -> list[dict[str, str]]:
    state = purchases.get(iin)
    if state is None:
        return synthetic_purchases(iin, registry, quarter)
    return [{"date": p.date.isoformat(), "kind": p.kind} for p in sorted(state.purchases, key=lambda p: p.date)
            if p.registry == registry and quarter.first_day <= p.date <= quarter.last_day]


def create_router(outages: dict[str, Any]) -> APIRouter:
    router = APIRouter()
    accounts: dict[str, AccountsState] = {}
    purchases: dict[str, PurchasesState] = {}
    router.accounts = accounts  # type: ignore[attr-defined]
    router.purchases = purchases  # type: ignore[attr-defined]

    @router.get("/registry/v1/accounts", tags=["accounts registry"],
                summary="The participating banks where a person holds an account")
    async def registry_accounts(iin: IinQuery) -> Any:
        if (down := await play_outage(outages, "accounts-registry")) is not None:
            return down
        return {"iin": iin, "banks": accounts_answer(accounts, iin)}

    @router.post("/registry/v1/accounts/query", tags=["accounts registry"],
                 summary="The participating banks of each person of a family, in one call")
    async def registry_accounts_of(body: FamilyQuery) -> Any:
        if (down := await play_outage(outages, "accounts-registry")) is not None:
            return down
        return {"persons": [{"iin": iin, "banks": accounts_answer(accounts, iin)} for iin in body.iins]}

    async def family_purchases(registry: str, body: FamilyQuarterQuery) -> Any:
        if (down := await play_outage(outages, OUTAGE_OF[registry])) is not None:
            return down
        quarter = Quarter.parse(body.quarter)
        return {"quarter": body.quarter, "persons": [
            {"iin": iin, "purchases": purchases_answer(purchases, iin, registry, quarter)} for iin in body.iins]}

    @router.post("/registry/v1/real-estate/purchases/query", tags=["real-estate registry"],
                 summary="Homes registered to each person of a family in a quarter, in one call")
    async def real_estate_purchases_of(body: FamilyQuarterQuery) -> Any:
        return await family_purchases("real-estate", body)

    @router.post("/registry/v1/vehicles/purchases/query", tags=["vehicle registry"],
                 summary="Vehicles registered to each person of a family in a quarter, in one call")
    async def vehicle_purchases_of(body: FamilyQuarterQuery) -> Any:
        return await family_purchases("vehicle", body)

    async def registry_purchases(registry: str, iin: str, quarter: str) -> Any:
        if (down := await play_outage(outages, OUTAGE_OF[registry])) is not None:
            return down
        return {"iin": iin, "quarter": quarter,
                "purchases": purchases_answer(purchases, iin, registry, Quarter.parse(quarter))}

    @router.get("/registry/v1/real-estate/purchases", tags=["real-estate registry"],
                summary="Homes registered to a person (bought) in a quarter")
    async def real_estate_purchases(iin: IinQuery, quarter: QuarterQuery) -> Any:
        return await registry_purchases("real-estate", iin, quarter)

    @router.get("/registry/v1/vehicles/purchases", tags=["vehicle registry"],
                summary="Vehicles registered to a person (bought) in a quarter")
    async def vehicle_purchases(iin: IinQuery, quarter: QuarterQuery) -> Any:
        return await registry_purchases("vehicle", iin, quarter)

    @router.put("/sandbox/persons/{iin}/accounts", tags=["control"],
                summary="Set the banks where a person holds an account (replacing the synthetic ones)")
    async def set_accounts(iin: IinPath, state: AccountsState) -> dict:
        accounts[iin] = state
        return {"iin": iin, "synthetic": False, "banks": accounts_answer(accounts, iin)}

    @router.get("/sandbox/persons/{iin}/accounts", tags=["control"])
    async def get_accounts(iin: IinPath) -> dict:
        return {"iin": iin, "synthetic": iin not in accounts, "banks": accounts_answer(accounts, iin)}

    @router.delete("/sandbox/persons/{iin}/accounts", tags=["control"], status_code=204)
    async def reset_accounts(iin: IinPath) -> None:
        accounts.pop(iin, None)

    @router.put("/sandbox/persons/{iin}/purchases", tags=["control"],
                summary="Set the purchases registered to a person (replacing the synthetic ones)")
    async def set_purchases(iin: IinPath, state: PurchasesState) -> dict:
        for i, entry in enumerate(state.purchases):
            if entry.kind not in PURCHASE_KINDS[entry.registry]:
                raise InvalidInput("unknown purchase kind", errors=[
                    {"field": f"purchases[{i}].kind", "message": f"one of {PURCHASE_KINDS[entry.registry]}"}])
        purchases[iin] = state
        return {"iin": iin, "synthetic": False,
                "purchases": [p.model_dump(mode="json") for p in sorted(state.purchases, key=lambda p: p.date)]}

    @router.get("/sandbox/persons/{iin}/purchases", tags=["control"],
                summary="What both asset registries answer for a person in a quarter (by default the last one)")
    async def get_purchases(iin: IinPath, quarter: Annotated[str | None, Query(pattern=r"^\d{4}-Q[1-4]$")] = None) -> dict:
        asked = Quarter.parse(quarter) if quarter else Quarter.of(business_date()).previous()
        return {"iin": iin, "synthetic": iin not in purchases, "quarter": str(asked),
                "purchases": [{"registry": registry, **p} for registry in PURCHASE_KINDS
                              for p in purchases_answer(purchases, iin, registry, asked)]}

    @router.delete("/sandbox/persons/{iin}/purchases", tags=["control"], status_code=204)
    async def reset_purchases(iin: IinPath) -> None:
        purchases.pop(iin, None)

    return router

