"""The whole platform as `make run` starts it — separate processes, real HTTP, real
PostgreSQL, the real broker — driven through the gateway like the portal drives it: every family
is submitted, followed and signed by its applicant, for whom the portal acts after the citizen
signs in at eGov IDP (the platform is started once per session, tests/e2e/conftest.py)."""

from __future__ import annotations

import asyncio
import signal
import uuid
from datetime import date

import asyncpg
import pytest

from shared.calendar import business_date
from shared.db import asyncpg_dsn
from tests.e2e.conftest import assessment_months, estimate, set_incomes, submit
from tests.support import person

pytestmark = pytest.mark.e2e


def test_unconditional_family_gets_a_payment_schedule(citizen, sandbox):
    grandmother = person(date(1953, 4, 9), "female", "applicant")
    grandchild = person(date(business_date().year - 4, 2, 2), "male", "grandchild")
    set_incomes(sandbox, grandmother["iin"], "pension", "60000.00")
    set_incomes(sandbox, grandchild["iin"], None, "0")
    applicant = citizen(grandmother["iin"])
    app_id = submit(applicant, [grandmother, grandchild])

    # The services report in parallel: the timeline is complete once every step's event is in.
    application = applicant.wait_for(f"/v1/applications/{app_id}", lambda a: a["status"] == "payments_scheduled"
                                     and len(a["timeline"]) == 4)
    decision = application["decision"]
    expected = estimate(applicant, [grandmother, grandchild], [
        {"iin": grandmother["iin"], "type": "pension", "month": m, "amount": "60000.00"} for m in assessment_months()])
    # 3 × 60,000 / 2 members / 3 months = 30,000 per person
    assert decision["per_capita_income"] == "30000.00" == expected["per_capita_income"]
    assert decision["eligible"] is True and decision["kind"] == "unconditional"
    assert str(decision["poverty_line"]) == expected["poverty_line"]
    assert [m["total"] for m in decision["monthly"]] == [m["total"] for m in expected["monthly"]]
    assert "CHILD_SUPPLEMENT" in decision["reasons"]
    assert [c["status"] for c in application["timeline"]] == [
        "submitted", "verified", "approved", "payments_scheduled"]

    payments = applicant.get("/v1/payments", params={"application_id": app_id}).json()
    assert [(p["month"], p["total"]) for p in payments] == [(m["month"], m["total"]) for m in expected["monthly"]]


def test_conditional_family_pays_only_after_the_contract_is_signed(citizen, sandbox):
    mother = person(date(1993, 7, 1), "female", "applicant")
    daughter = person(date(2016, 1, 15), "female", "child")
    set_incomes(sandbox, mother["iin"], "wage", "45000.00")
    set_incomes(sandbox, daughter["iin"], None, "0")
    applicant = citizen(mother["iin"])
    app_id = submit(applicant, [mother, daughter])

    application = applicant.wait_for(f"/v1/applications/{app_id}", lambda a: a["status"] == "contract_drafted")
    assert application["decision"]["kind"] == "conditional" and application["decision"]["eligible"]
    assert applicant.get("/v1/payments", params={"application_id": app_id}).json() == []

    contract = applicant.get(f"/v1/contracts/{application['contract_id']}").json()
    assert contract["status"] == "drafted"
    assert contract["obligations"] == [{"iin": mother["iin"], "measure": "job_placement"}]
    signed = applicant.post(f"/v1/contracts/{application['contract_id']}/sign")
    assert signed.status_code == 200 and signed.json()["status"] == "signed"

    application = applicant.wait_for(f"/v1/applications/{app_id}", lambda a: a["status"] == "payments_scheduled"
                                     and "contract_signed" in [c["status"] for c in a["timeline"]])
    payments = applicant.get("/v1/payments", params={"application_id": app_id}).json()
    assert [p["total"] for p in payments] == [m["total"] for m in application["decision"]["monthly"]]
    assert [c["status"] for c in application["timeline"]][-3:] == [
        "contract_drafted", "contract_signed", "payments_scheduled"]


def test_high_income_family_is_rejected_with_reasons(citizen, sandbox):
    worker = person(date(1985, 3, 3), "male", "applicant", employed=True)
    set_incomes(sandbox, worker["iin"], "wage", "400000.00")
    applicant = citizen(worker["iin"])
    app_id = submit(applicant, [worker])
    application = applicant.wait_for(f"/v1/applications/{app_id}", lambda a: a["status"] == "rejected")
    assert application["decision"]["eligible"] is False
    assert "INCOME_NOT_BELOW_POVERTY_LINE" in application["decision"]["reasons"]
    assert applicant.get("/v1/payments", params={"application_id": app_id}).json() == []


def test_verification_killed_mid_flight_still_decides_each_application_once(platform, citizen, sandbox):
    apps = []
    for i in range(6):
        member = person(date(1950, 1, 10 + i), "male", "applicant")
        set_incomes(sandbox, member["iin"], "pension", "50000.00")
        applicant = citizen(member["iin"])
        apps.append((applicant, submit(applicant, [member])))
    platform.stop_process("verification", signal.SIGKILL)
    platform.start_process("verification")
    for applicant, app_id in apps:
        applicant.wait_for(f"/v1/applications/{app_id}", lambda a: a["decision"] is not None, timeout=60)
    apps = [app_id for _, app_id in apps]

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
