"""Policy simulation (issue 12, point 4): `POST /v1/simulations` decides the register's current
recipients with today's parameters and with overrides, through the bulk path, writing nothing."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import asyncpg
import httpx
import pytest

from gateway.routes import DEFAULT_SCOPES
from qamqor_cli.seed import seed
from services.eligibility import simulation
from services.eligibility.domain import Case, Income, Member, ParameterSet, decide
from services.eligibility.domain.parameters import load_shipped_parameters
from services.eligibility.reassessment import month_number
from shared.calendar import Quarter
from shared.db import asyncpg_dsn, drop_database

QUARTER = Quarter(2026, 4)  # recipients of 2026-Q3, their incomes of 2026-Q3
FAMILIES = 400
REFORM = {"quarter": "2026-Q4", "overrides": [
    {"name": "poverty_line_median_share", "value": "0.45", "valid_from": "2026-10-01"}]}
ADMIN = DEFAULT_SCOPES["admin"]


@pytest.fixture
async def world(running_service, service_env, postgres, db_prefix, monkeypatch):
    """Eligibility running on a register seeded with FAMILIES families, the sandbox's registry
    (with their incomes) as its income source."""
    sandbox_url = postgres.url(f"{db_prefix}_simulation_sandbox")
    async with running_service("eligibility") as eligibility:
        eligibility_url = service_env("eligibility")["QAMQOR_ELIGIBILITY_DATABASE_URL"]
        await seed(FAMILIES, eligibility_url=eligibility_url, sandbox_url=sandbox_url, run_quarter=QUARTER,
                   echo=lambda _: None)
        monkeypatch.setenv("QAMQOR_SANDBOX_DATABASE_URL", sandbox_url)
        from sandbox.main import create_app

        sandbox_app = create_app()
        async with sandbox_app.router.lifespan_context(sandbox_app):
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=sandbox_app), base_url="http://sandbox",
                                         timeout=60) as sandbox:
                eligibility.app.state.simulation_incomes = simulation.HttpIncomeExtract(sandbox)
                yield eligibility, sandbox, eligibility_url
    await drop_database(sandbox_url)


async def _fingerprint(url: str) -> dict[str, tuple[int, str]]:
    """Every table's row count and a checksum of its rows."""
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        tables = [r[0] for r in await conn.fetch(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1")]
        return {t: tuple(await conn.fetchrow(
            f'SELECT count(*), coalesce(md5(string_agg(x::text, \'|\' ORDER BY x::text)), \'\') FROM "{t}" x'))
            for t in tables}
    finally:
        await conn.close()


async def test_a_higher_share_reports_more_families_and_a_higher_cost_and_writes_nothing(world, internal_token):
    eligibility, _, url = world
    before = await _fingerprint(url)
    response = await eligibility.post("/v1/simulations", json=REFORM, headers=internal_token("admin", ADMIN))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["quarter"] == "2026-Q4" and body["families"] == FAMILIES
    baseline, reform = body["baseline"], body["reform"]
    assert reform["families_eligible"] > baseline["families_eligible"] > 0
    assert reform["cost"]["total"] > baseline["cost"]["total"] > 0
    assert baseline["cost"]["total"] == baseline["cost"]["tsa"] + baseline["cost"]["child_supplement"]
    assert body["families_gaining"] == reform["families_eligible"] - baseline["families_eligible"]
    assert body["families_losing"] == 0
    for side in (baseline, reform):
        assert sum(r["families_eligible"] for r in side["by_region"]) == side["families_eligible"]
        assert sum(r["cost"] for r in side["by_region"]) == side["cost"]["total"]
        assert sum(s["families_eligible"] for s in side["by_family_size"]) == side["families_eligible"]
        assert sum(s["cost"] for s in side["by_family_size"]) == side["cost"]["total"]
    assert "detail" not in body
    # a second simulation reuses the register read by the first (same version)
    again = await eligibility.post("/v1/simulations", json=REFORM, headers=internal_token("admin", ADMIN))
    assert again.json()["timing"]["register_cached"] is True
    assert again.json()["reform"] == reform
    # without overrides, the reform is the baseline
    same = (await eligibility.post("/v1/simulations", json={"quarter": "2026-Q4"},
                                   headers=internal_token("admin", ADMIN))).json()
    assert same["baseline"] == same["reform"] == baseline
    assert await _fingerprint(url) == before


async def test_only_administrators_simulate_and_only_with_applications_read_see_families(world, internal_token):
    eligibility, _, _ = world
    for kind in ("case_worker", "ops", "portal", "fdc"):
        refused = await eligibility.post("/v1/simulations", json=REFORM,
                                         headers=internal_token(kind, DEFAULT_SCOPES[kind]))
        assert refused.status_code == 403, kind
    refused = await eligibility.post("/v1/simulations", params={"detail": "true"}, json=REFORM,
                                     headers=internal_token("admin", ADMIN))
    assert refused.status_code == 403 and "applications:read" in refused.text
    shown = await eligibility.post("/v1/simulations", params={"detail": "true"}, json=REFORM,
                                   headers=internal_token("admin", ADMIN | {"applications:read"}))
    assert shown.status_code == 200
    body = shown.json()
    assert len(body["detail"]["gaining"]) == body["families_gaining"] > 0
    assert body["detail"]["losing"] == []
    assert all(len(f["applicant_iin"]) == 12 and len(f["family_id"]) == 36 for f in body["detail"]["gaining"])


@pytest.mark.parametrize(("body", "field"), [
    ({"quarter": "2026-Q4", "overrides": [{"name": "poverty_line_share", "value": "0.4",
                                           "valid_from": "2026-10-01"}]}, "overrides[0].name"),
    ({"quarter": "2026-Q4", "overrides": [{"name": "poverty_line_median_share", "value": "40",
                                           "valid_from": "2026-10-01"}]}, "overrides[0].value"),
    ({"quarter": "2026-Q4", "overrides": [{"name": "subsistence_minimum", "value": "abc",
                                           "valid_from": "2026-10-01"}]}, "overrides[0].value"),
    ({"quarter": "2026-Q4", "overrides": [{"name": "subsistence_minimum", "value": "60000", "region_kato": "990000000",
                                           "valid_from": "2026-10-01"}]}, "overrides[0].region_kato"),
    ({"quarter": "2026-Q4", "overrides": [{"name": "mci", "value": "5000", "valid_from": "2026-10-01",
                                           "valid_to": "2026-01-01"}]}, "overrides[0].valid_to"),
    ({"quarter": "2026-Q9"}, "quarter"),
    ({"overrides": []}, "quarter"),
])
async def test_bad_overrides_are_refused_naming_the_field(world, internal_token, body, field):
    eligibility, _, _ = world
    response = await eligibility.post("/v1/simulations", json=body, headers=internal_token("admin", ADMIN))
    assert response.status_code == 422, response.text
    assert field in [e["field"] for e in response.json()["errors"]]


async def test_the_simulation_baseline_is_the_single_path_decision(world):
    """Parity: the bulk path over the register read by the simulation decides a handful of
    families exactly as `decide` does on the same members and registry incomes."""
    eligibility, sandbox, url = world
    params = await eligibility.app.state.parameters.current()
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        version = await simulation.register_version(conn, QUARTER.previous())
        register = await simulation.load_register(conn, QUARTER, simulation.HttpIncomeExtract(sandbox), version)
        members = await conn.fetch("SELECT * FROM assignment_members ORDER BY family_id, position")
        regions = {r["family_id"]: r["region_kato"] for r in await conn.fetch("SELECT family_id, region_kato FROM assignments")}
    finally:
        await conn.close()
    outcome = simulation.simulate(register, params, params)
    from uuid import UUID

    family_ids = [UUID(bytes=bytes(f)) for f in register.family_id]
    by_family: dict = {}
    for m in members:
        by_family.setdefault(m["family_id"], []).append(m)
    checked = 0
    for index in list(range(0, FAMILIES, FAMILIES // 12))[:12]:
        family = family_ids[index]
        people = tuple(Member(iin=m["iin"], birth_date=m["birth_date"], sex=m["sex"], relation=m["relation"],
                              employed=m["employed"], full_time_student=m["full_time_student"],
                              disability_group=m["disability_group"], carer=m["carer"]) for m in by_family[family])
        incomes = []
        for person in people:
            answer = (await sandbox.get("/registry/v1/incomes", params={"iin": person.iin, "from": "2026-07",
                                                                       "to": "2026-09"})).json()["incomes"]
            incomes += [Income(iin=person.iin, type=e["type"], month=date.fromisoformat(e["month"] + "-01"),
                               amount=Decimal(e["amount"])) for e in answer]
        case = Case(region_kato=regions[family], application_date=QUARTER.first_day, extension=True,
                    members=people, incomes=tuple(incomes))
        single = decide(case, params)
        bulk = outcome.baseline
        assert bool(bulk.eligible[index]) == single.eligible, family
        assert int(bulk.poverty_line[index]) == single.poverty_line
        if single.eligible:
            assert [int(bulk.tsa[j, index]) for j in range(len(single.monthly))] == [m.tsa for m in single.monthly]
            assert [int(bulk.child_supplement[j, index]) for j in range(len(single.monthly))] == [
                m.child_supplement for m in single.monthly]
            assert int(bulk.first_month[index]) == month_number(date.fromisoformat(single.monthly[0].month + "-01"))
        checked += 1
    assert checked >= 10


def test_reform_parameters_win_only_where_they_apply():
    baseline = ParameterSet(load_shipped_parameters())
    reform = simulation.reform_parameters(baseline, [
        simulation.Override("poverty_line_median_share", "0.45", date(2026, 10, 1)),
        simulation.Override("subsistence_minimum", "60000", date(2026, 1, 1), region_kato="750000000")])
    assert reform.get("poverty_line_median_share", date(2026, 10, 1)).value == Decimal("0.45")
    assert reform.get("poverty_line_median_share", date(2026, 9, 30)).value == Decimal("0.35")
    assert reform.get("subsistence_minimum", date(2026, 7, 1), "750000000").value == Decimal("60000")
    assert reform.get("subsistence_minimum", date(2026, 7, 1), "610000000").value == baseline.get(
        "subsistence_minimum", date(2026, 7, 1), "610000000").value
    with pytest.raises(simulation.InvalidParameter) as refused:
        simulation.reform_parameters(baseline, [simulation.Override("mci", "-1", date(2026, 1, 1)),
                                                simulation.Override("nope", "1", date(2026, 1, 1))])
    assert [e.path for e in refused.value.errors] == ["overrides[0].value", "overrides[1].name"]


async def test_the_coming_quarters_register_is_read_ahead_when_the_seed_says_it_changed(world, internal_token):
    """Read-ahead (simulation_api.keep_warm): NOTIFY qamqor_register (what `qamqor seed` sends)
    has the register read into the cache, so the first simulation does not read it."""
    import asyncio

    from services.eligibility import simulation_api

    eligibility, _, url = world
    app = eligibility.app
    app.state.simulation_quarter = lambda: QUARTER
    app.state.simulation_cache = simulation.RegisterCache()
    loaded: list[Quarter] = []
    cache_get = app.state.simulation_cache.get

    async def counted(conn, quarter, source, **options):  # noqa: ANN001, ANN202
        register, cached = await cache_get(conn, quarter, source, **options)
        if not cached:
            loaded.append(quarter)
        return register, cached

    app.state.simulation_cache.get = counted
    keeping = asyncio.create_task(simulation_api.keep_warm(app))
    try:
        notify = await asyncpg.connect(asyncpg_dsn(url))
        try:
            async with asyncio.timeout(60):  # a bound on a hang, not a timing assertion
                while not loaded:
                    await notify.execute(f"SELECT pg_notify('{simulation_api.REGISTER_CHANNEL}', '')")
                    await asyncio.sleep(0.2)
        finally:
            await notify.close()
        assert loaded == [QUARTER]
        # reading ahead again, nothing changed: nothing is read
        assert await simulation_api.warm(app, QUARTER) is True and loaded == [QUARTER]
        response = await eligibility.post("/v1/simulations", json=REFORM, headers=internal_token("admin", ADMIN))
        assert response.status_code == 200 and response.json()["timing"]["register_cached"] is True
        assert loaded == [QUARTER]
        # no register for the quarter after: nothing to read
        assert await simulation_api.warm(app, QUARTER.next()) is False
    finally:
        keeping.cancel()
        await asyncio.gather(keeping, return_exceptions=True)
