"""The whole platform as `make run` starts it — separate processes, real HTTP, real
PostgreSQL, the real broker — driven through the gateway like the portal drives it."""

from __future__ import annotations

import asyncio
import signal
import uuid
from datetime import date

import asyncpg
import httpx
import pytest

from qamqor_cli.demo import GatewayClient
from qamqor_cli.infra import free_port
from qamqor_cli.platform import DEFAULT_PORTS, SERVICES, Layout, start_platform
from shared.calendar import Quarter, business_date, month_label
from shared.db import asyncpg_dsn, drop_database
from tests.support import application_body, person

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def platform(tmp_path_factory, postgres, db_prefix):
    layout = Layout(
        state_dir=tmp_path_factory.mktemp("platform"),
        db_prefix=f"{db_prefix}_e2e",
        ports={name: free_port() for name in DEFAULT_PORTS},
        kafka_port=free_port(),
        environment="test",
    )
    for name in SERVICES + ("gateway",):
        asyncio.run(drop_database(postgres.url(layout.database(name))))
    running = start_platform(layout)
    yield running
    running.stop()


@pytest.fixture(scope="module")
def portal(platform) -> GatewayClient:
    caller = next(c for c in platform.callers if c["kind"] == "portal")
    return GatewayClient(platform.layout.url("gateway"), caller["id"], caller["secret"])


@pytest.fixture(scope="module")
def sandbox(platform):
    with httpx.Client(base_url=platform.layout.url("sandbox")) as client:
        yield client


def assessment_months() -> list[str]:
    return [month_label(m) for m in Quarter.of(business_date()).previous().months()]


def set_incomes(sandbox: httpx.Client, iin: str, kind: str | None, monthly: str) -> None:
    incomes = [] if kind is None else [{"month": m, "type": kind, "amount": monthly} for m in assessment_months()]
    sandbox.put(f"/sandbox/persons/{iin}", json={"incomes": incomes}).raise_for_status()


def submit(portal: GatewayClient, members: list[dict]) -> str:
    response = portal.post("/v1/applications", json=application_body(members),
                           headers={"Idempotency-Key": str(uuid.uuid4())})
    assert response.status_code == 201, response.text
    return response.json()["id"]


def expected_by_estimate(portal: GatewayClient, members: list[dict], incomes: list[dict]) -> dict:
    """The same family through the stateless estimate: the flow must decide exactly this."""
    response = portal.post("/v1/eligibility/estimate", json={
        "region_kato": "610000000", "application_date": business_date().isoformat(),
        "members": [{k: m[k] for k in ("iin", "birth_date", "sex", "relation", "employed",
                                       "full_time_student", "disability_group", "carer")} for m in members],
        "incomes": incomes,
    })
    assert response.status_code == 200, response.text
    return response.json()


def test_unconditional_family_gets_a_payment_schedule(platform, portal, sandbox):
    grandmother = person(date(1953, 4, 9), "female", "applicant")
    grandchild = person(date(business_date().year - 4, 2, 2), "male", "grandchild")
    set_incomes(sandbox, grandmother["iin"], "pension", "60000.00")
    set_incomes(sandbox, grandchild["iin"], None, "0")
    app_id = submit(portal, [grandmother, grandchild])

    application = portal.wait_for(f"/v1/applications/{app_id}", lambda a: a["status"] == "payments_scheduled")
    decision = application["decision"]
    expected = expected_by_estimate(portal, [grandmother, grandchild], [
        {"iin": grandmother["iin"], "type": "pension", "month": m, "amount": "60000.00"} for m in assessment_months()])
    # 3 × 60,000 / 2 members / 3 months = 30,000 per person
    assert decision["per_capita_income"] == "30000.00" == expected["per_capita_income"]
    assert decision["eligible"] is True and decision["kind"] == "unconditional"
    assert str(decision["poverty_line"]) == expected["poverty_line"]
    assert [m["total"] for m in decision["monthly"]] == [m["total"] for m in expected["monthly"]]
    assert "CHILD_SUPPLEMENT" in decision["reasons"]
    assert [c["status"] for c in application["timeline"]] == [
        "submitted", "verified", "approved", "payments_scheduled"]

    payments = portal.get("/v1/payments", params={"application_id": app_id}).json()
    assert [(p["month"], p["total"]) for p in payments] == [(m["month"], m["total"]) for m in expected["monthly"]]


def test_conditional_family_pays_only_after_the_contract_is_signed(platform, portal, sandbox):
    mother = person(date(1993, 7, 1), "female", "applicant")
    daughter = person(date(2016, 1, 15), "female", "child")
    set_incomes(sandbox, mother["iin"], "wage", "45000.00")
    set_incomes(sandbox, daughter["iin"], None, "0")
    app_id = submit(portal, [mother, daughter])

    application = portal.wait_for(f"/v1/applications/{app_id}", lambda a: a["status"] == "contract_drafted")
    assert application["decision"]["kind"] == "conditional" and application["decision"]["eligible"]
    assert portal.get("/v1/payments", params={"application_id": app_id}).json() == []

    contract = portal.get(f"/v1/contracts/{application['contract_id']}").json()
    assert contract["status"] == "drafted"
    assert contract["obligations"] == [{"iin": mother["iin"], "measure": "job_placement"}]
    signed = portal.post(f"/v1/contracts/{application['contract_id']}/sign")
    assert signed.status_code == 200 and signed.json()["status"] == "signed"

    application = portal.wait_for(f"/v1/applications/{app_id}", lambda a: a["status"] == "payments_scheduled")
    payments = portal.get("/v1/payments", params={"application_id": app_id}).json()
    assert [p["total"] for p in payments] == [m["total"] for m in application["decision"]["monthly"]]
    assert [c["status"] for c in application["timeline"]][-3:] == [
        "contract_drafted", "contract_signed", "payments_scheduled"]


def test_high_income_family_is_rejected_with_reasons(platform, portal, sandbox):
    worker = person(date(1985, 3, 3), "male", "applicant", employed=True)
    set_incomes(sandbox, worker["iin"], "wage", "400000.00")
    app_id = submit(portal, [worker])
    application = portal.wait_for(f"/v1/applications/{app_id}", lambda a: a["status"] == "rejected")
    assert application["decision"]["eligible"] is False
    assert "INCOME_NOT_BELOW_POVERTY_LINE" in application["decision"]["reasons"]
    assert portal.get("/v1/payments", params={"application_id": app_id}).json() == []


def test_verification_killed_mid_flight_still_decides_each_application_once(platform, portal, sandbox):
    apps = []
    for i in range(6):
        applicant = person(date(1950, 1, 10 + i), "male", "applicant")
        set_incomes(sandbox, applicant["iin"], "pension", "50000.00")
        apps.append(submit(portal, [applicant]))
    platform.stop_process("verification", signal.SIGKILL)
    platform.start_process("verification")
    for app_id in apps:
        portal.wait_for(f"/v1/applications/{app_id}", lambda a: a["decision"] is not None, timeout=60)

    async def counts() -> tuple[int, int, int]:
        layout, pg = platform.layout, platform.postgres
        eligibility = await asyncpg.connect(asyncpg_dsn(pg.url(layout.database("eligibility"))))
        verification = await asyncpg.connect(asyncpg_dsn(pg.url(layout.database("verification"))))
        try:
            ids = [uuid.UUID(a) for a in apps]
            decisions = await eligibility.fetchval(
                "SELECT count(*) FROM decisions WHERE application_id = ANY($1)", ids)
            evidence = await verification.fetchval(
                "SELECT count(*) FROM evidence WHERE application_id = ANY($1)", ids)
            handled = await verification.fetchval(
                "SELECT count(*) FROM inbox WHERE key = ANY($1) AND event_type = 'application.submitted'",
                [str(a) for a in apps])
            return decisions, evidence, handled
        finally:
            await eligibility.close()
            await verification.close()

    decisions, evidence, handled = asyncio.run(counts())
    assert (decisions, evidence, handled) == (6, 6, 6)
