"""The income registry's bulk extract (issue 12): `POST /registry/v1/incomes/extract` streams a
quarter's incomes of a list of IINs as CSV — the same figures as the per-person route, for
seeded people (the sandbox's store, `qamqor seed`), synthetic ones and people set through the
control API — and refuses bad input naming the field."""

from __future__ import annotations

import csv
import io
from datetime import date

import httpx
import numpy as np
import pytest

from qamqor_cli.seed import seed_sandbox
from qamqor_cli.seed_data import generate
from services.eligibility.domain import ParameterSet
from services.eligibility.domain.parameters import load_shipped_parameters
from shared.calendar import Quarter
from shared.db import drop_database
from shared.iin import make_iin

RUN_QUARTER = Quarter(2026, 4)  # incomes seeded for 2026-Q3
SYNTHETIC = [make_iin(date(1975 + i, 1 + i % 12, 5), "female" if i % 2 else "male", 700 + i) for i in range(8)]


@pytest.fixture
async def seeded_sandbox(postgres, db_prefix, monkeypatch):
    """A sandbox app whose store holds 30 seeded families (and the seed data)."""
    url = postgres.url(f"{db_prefix}_sandbox_extract")
    data = generate(30, ParameterSet(load_shipped_parameters()), RUN_QUARTER, seed=7)
    await seed_sandbox(url, data)
    monkeypatch.setenv("QAMQOR_SANDBOX_DATABASE_URL", url)
    from sandbox.main import create_app

    app = create_app()
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://sandbox") as client:
            yield client, data
    await drop_database(url)


def _rows(response: httpx.Response) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(response.text)))


def _per_person(response: httpx.Response) -> list[dict[str, str]]:
    return response.json()["incomes"]


async def test_the_extract_answers_the_figures_of_the_per_person_route(seeded_sandbox):
    sandbox, data = seeded_sandbox
    seeded = [f"{i:012d}" for i in data.member_iin[:40].tolist()]
    assert (await sandbox.put(f"/sandbox/persons/{SYNTHETIC[0]}", json={"incomes": [
        {"month": "2026-08", "type": "wage", "amount": "41000.00"},
        {"month": "2026-11", "type": "wage", "amount": "99.00"}]})).status_code == 200
    iins = seeded + SYNTHETIC
    response = await sandbox.post("/registry/v1/incomes/extract", json={"quarter": "2026-Q3", "iins": iins})
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert response.text.splitlines()[0] == "iin,month,type,amount"
    rows = _rows(response)
    assert {r["month"] for r in rows} <= {"2026-07", "2026-08", "2026-09"}
    assert all(len(r["amount"].split(".")[1]) == 2 for r in rows)
    with_income = 0
    for iin in iins:
        single = _per_person(await sandbox.get("/registry/v1/incomes", params={"iin": iin, "from": "2026-07",
                                                                             "to": "2026-09"}))
        mine = [{"month": r["month"], "type": r["type"], "amount": r["amount"]} for r in rows if r["iin"] == iin]
        assert mine == single, iin
        with_income += bool(mine)
    assert with_income > 10
    # the control API's person: the set incomes, only of the quarter's months
    assert [r for r in rows if r["iin"] == SYNTHETIC[0]] == [
        {"iin": SYNTHETIC[0], "month": "2026-08", "type": "wage", "amount": "41000.00"}]
    # seeded people answer the seed's figures (one of them at least has an income row in the store)
    seeded_rows = [r for r in rows if r["iin"] in set(seeded)]
    assert seeded_rows and {r["iin"] for r in seeded_rows} <= set(seeded)


async def test_months_the_store_does_not_cover_stay_synthetic(seeded_sandbox):
    sandbox, data = seeded_sandbox
    iin = f"{data.member_iin[0]:012d}"
    inside = _per_person(await sandbox.get("/sandbox/persons/" + iin, params={"from": "2026-07", "to": "2026-09"}))
    outside = (await sandbox.post("/registry/v1/incomes/extract", json={"quarter": "2026-Q2", "iins": [iin]}))
    single = _per_person(await sandbox.get("/registry/v1/incomes", params={"iin": iin, "from": "2026-04",
                                                                         "to": "2026-06"}))
    assert [{"month": r["month"], "type": r["type"], "amount": r["amount"]} for r in _rows(outside)] == single
    assert isinstance(inside, list)


async def test_an_empty_list_is_the_header_alone(seeded_sandbox):
    sandbox, _ = seeded_sandbox
    response = await sandbox.post("/registry/v1/incomes/extract", json={"quarter": "2026-Q3", "iins": []})
    assert response.status_code == 200 and response.text == "iin,month,type,amount\n"


@pytest.mark.parametrize(("body", "field"), [
    ({"quarter": "2026-Q5", "iins": []}, "quarter"),
    ({"quarter": "2026Q3", "iins": []}, "quarter"),
    ({"iins": []}, "quarter"),
    ({"quarter": "2026-Q3", "iins": [SYNTHETIC[0], "12345"]}, "iins[1]"),
    ({"quarter": "2026-Q3", "iins": [SYNTHETIC[0], "12345678901x"]}, "iins[1]"),
    ({"quarter": "2026-Q3", "iins": ["000000000000"] * 100_001}, "iins"),
    ({"quarter": "2026-Q3", "iins": "870412300128"}, "iins"),
    ({"quarter": "2026-Q3", "iins": [], "extra": 1}, "extra"),
])
async def test_bad_input_is_refused_naming_the_field(seeded_sandbox, body, field):
    sandbox, _ = seeded_sandbox
    response = await sandbox.post("/registry/v1/incomes/extract", json=body)
    assert response.status_code == 422
    assert response.headers["content-type"].startswith("application/problem+json")
    assert field in [e["field"] for e in response.json()["errors"]]


async def test_an_outage_of_the_income_registry_stops_the_extract_too(seeded_sandbox):
    sandbox, _ = seeded_sandbox
    await sandbox.put("/sandbox/outages/income-registry", json={"down": True})
    try:
        response = await sandbox.post("/registry/v1/incomes/extract", json={"quarter": "2026-Q3", "iins": SYNTHETIC})
        assert response.status_code == 503
    finally:
        await sandbox.put("/sandbox/outages/income-registry", json={"down": False})


async def test_without_a_store_every_answer_is_synthetic(monkeypatch):
    monkeypatch.delenv("QAMQOR_SANDBOX_DATABASE_URL", raising=False)
    from sandbox.main import create_app

    app = create_app()
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://sandbox") as sandbox:
        rows = _rows(await sandbox.post("/registry/v1/incomes/extract", json={"quarter": "2026-Q3", "iins": SYNTHETIC}))
        for iin in SYNTHETIC:
            single = _per_person(await sandbox.get("/registry/v1/incomes", params={"iin": iin, "from": "2026-07",
                                                                                 "to": "2026-09"}))
            assert [{"month": r["month"], "type": r["type"], "amount": r["amount"]}
                    for r in rows if r["iin"] == iin] == single


async def test_a_seed_written_after_the_sandbox_started_is_answered_at_once(postgres, db_prefix, monkeypatch):
    """The sandbox makes its store at start-up: a reassessment run started the moment `qamqor
    seed` finishes is answered the seed's figures, not synthetic ones (the store was absent before
    the seed, and an absent store is only looked for again every few seconds)."""
    url = postgres.url(f"{db_prefix}_sandbox_late_seed")
    await drop_database(url)
    monkeypatch.setenv("QAMQOR_SANDBOX_DATABASE_URL", url)
    from sandbox.main import create_app

    app = create_app()
    try:
        async with app.router.lifespan_context(app), httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="http://sandbox") as sandbox:
            data = generate(30, ParameterSet(load_shipped_parameters()), RUN_QUARTER, seed=11)
            iins = [f"{i:012d}" for i in data.member_iin.tolist()]
            before = _rows(await sandbox.post("/registry/v1/incomes/extract", json={"quarter": "2026-Q3", "iins": iins}))
            await seed_sandbox(url, data)
            after = _rows(await sandbox.post("/registry/v1/incomes/extract", json={"quarter": "2026-Q3", "iins": iins}))
            seeded = {(f"{i:012d}", int(m), int(a)) for i, m, a in zip(
                data.income_iin.tolist(), data.columns.income_month.tolist(), data.columns.income_amount.tolist(),
                strict=True)}
            got = {(r["iin"], int(r["month"][:4]) * 12 + int(r["month"][5:]) - 1,
                    int(r["amount"].replace(".", ""))) for r in after}
            assert got == seeded and before != after
    finally:
        await drop_database(url)


async def test_the_per_person_route_trusts_the_stamp_for_a_second_and_the_extract_never(postgres, db_prefix):
    """Under load the per-person route is a dozen calls per application: it reuses the seed's
    stamp looked at in the last STAMP_SECONDS (a new seed is seen there within that time, on the
    store's injected clock), while the extract looks at it every time."""
    from sandbox.seeded import STAMP_SECONDS, SeededStore

    url = postgres.url(f"{db_prefix}_sandbox_stamp")
    await drop_database(url)
    now = [1000.0]
    store = SeededStore(url, clock=lambda: now[0])
    try:
        first = generate(10, ParameterSet(load_shipped_parameters()), RUN_QUARTER, seed=21)
        await seed_sandbox(url, first)
        months = [date(2026, 7, 1), date(2026, 8, 1), date(2026, 9, 1)]
        old_iin = f"{first.member_iin[0]:012d}"
        assert await store.person(old_iin, months) is not None

        second = generate(10, ParameterSet(load_shipped_parameters()), RUN_QUARTER, seed=22)
        await seed_sandbox(url, second)
        new_iin = f"{second.member_iin[0]:012d}"
        assert old_iin != new_iin
        now[0] += STAMP_SECONDS / 2  # the stamp looked at is trusted: the first seed still answers
        assert await store.person(old_iin, months) is not None
        assert await store.person(new_iin, months) is None
        now[0] += STAMP_SECONDS  # looked at again: the second seed answers
        assert await store.person(new_iin, months) is not None
        assert await store.person(old_iin, months) is None

        third = generate(10, ParameterSet(load_shipped_parameters()), RUN_QUARTER, seed=23)
        await seed_sandbox(url, third)
        keys = np.sort(third.member_iin[:5].astype(np.int64))
        found = await store.extract(keys, months[0], months[-1])  # no time passed: still looked at
        assert found is not None and found[1].all()
    finally:
        await store.close()
        await drop_database(url)
