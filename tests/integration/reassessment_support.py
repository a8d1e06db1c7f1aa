"""What the reassessment tests share: the income registry's bulk extract as the sandbox serves it
(or, while the sandbox of this checkout has no extract, the same contract played on top of the
sandbox's per-person route — same figures), 2027's parameter values, and a family's incomes set
in the sandbox."""

from __future__ import annotations

from typing import Any

import httpx
from fastapi import FastAPI
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from services.eligibility.runs import HttpIncomeExtract
from shared.calendar import Quarter

PARAMETERS = frozenset({"parameters:read", "parameters:write"})
REGION = "610000000"  # Turkestan region
YEAR_2027 = (
    {"name": "mci", "valid_from": "2027-01-01", "valid_to": "2027-12-31", "value": "4325"},
    {"name": "subsistence_minimum", "valid_from": "2027-01-01", "valid_to": "2027-12-31", "value": "50851"},
    {"name": "median_income", "region_kato": REGION, "valid_from": "2027-01-01", "valid_to": "2027-12-31",
     "value": "101702"},
)


async def record_2027(eligibility: Any, internal_token: Any) -> None:
    """The administrator records 2027's figures (the shipped files end with 2026)."""
    for body in YEAR_2027:
        recorded = await eligibility.post("/v1/parameters", json=body, headers=internal_token("admin", PARAMETERS))
        assert recorded.status_code == 201, recorded.text


class _ExtractIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    quarter: str = Field(pattern=r"^20\d{2}-Q[1-4]$")
    iins: list[str] = Field(max_length=100_000)


def played_extract(sandbox_url: str) -> FastAPI:
    """The extract's contract on top of the sandbox's `GET /registry/v1/incomes` (one call per IIN)."""
    app = FastAPI()

    @app.post("/registry/v1/incomes/extract")
    async def extract(body: _ExtractIn) -> Any:
        bad = [i for i, iin in enumerate(body.iins) if len(iin) != 12 or not iin.isdigit()]
        if bad:
            return JSONResponse({"errors": [{"field": f"iins[{bad[0]}]"}]}, status_code=422)
        months = Quarter.parse(body.quarter).months()
        first, last = (f"{m.year:04d}-{m.month:02d}" for m in (months[0], months[-1]))

        async def lines():  # noqa: ANN202
            yield b"iin,month,type,amount\n"
            async with httpx.AsyncClient(base_url=sandbox_url) as client:
                for iin in dict.fromkeys(body.iins):
                    answer = (await client.get("/registry/v1/incomes",
                                               params={"iin": iin, "from": first, "to": last})).json()
                    yield "".join(f"{iin},{e['month']},{e['type']},{e['amount']}\n"
                                  for e in answer["incomes"]).encode()

        return StreamingResponse(lines(), media_type="text/csv; charset=utf-8")

    return app


async def sandbox_serves_extract(sandbox_url: str) -> bool:
    async with httpx.AsyncClient(base_url=sandbox_url) as client:
        answer = await client.post("/registry/v1/incomes/extract", json={"quarter": "2026-Q4", "iins": []})
    return answer.status_code == 200


async def extract_for(sandbox_url: str) -> HttpIncomeExtract:
    """The HTTP client of the extract, talking to the sandbox's own route when it has one."""
    if await sandbox_serves_extract(sandbox_url):
        return HttpIncomeExtract(httpx.AsyncClient(base_url=sandbox_url, timeout=60))
    return HttpIncomeExtract(httpx.AsyncClient(transport=httpx.ASGITransport(app=played_extract(sandbox_url)),
                                               base_url="http://registry", timeout=60))


async def set_incomes(sandbox_url: str, iin: str, entries: list[tuple[str, str, str]]) -> None:
    """The registry's incomes of a person: (month, type, amount) entries, replacing any others."""
    async with httpx.AsyncClient(base_url=sandbox_url) as client:
        answer = await client.put(f"/sandbox/persons/{iin}", json={"incomes": [
            {"month": m, "type": t, "amount": a} for m, t, a in entries]})
    assert answer.status_code == 200, answer.text
