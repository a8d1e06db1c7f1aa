"""Eligibility service: estimate over HTTP, parameters in PostgreSQL, decisions on the event flow."""

from __future__ import annotations

import uuid
from datetime import date

import pytest
from sqlalchemy import func, select

from services.eligibility.models import DecisionRecord
from shared.events import Envelope
from shared.events.contracts import (
    BankAccount,
    CaseContext,
    FamilyMember,
    IncomeRecord,
    VerificationCompleted,
)
from shared.outbox import outbox
from tests.support import eventually, person, publish

ADMIN = frozenset({"parameters:read", "parameters:write"})
ELIGIBILITY_SCOPES = frozenset({"eligibility:estimate", "applications:read", "parameters:read", "parameters:write"})


def estimate_body(members: list[dict], incomes: list[dict], region: str = "150000000", on: str = "2026-04-15") -> dict:
    keys = ("iin", "birth_date", "sex", "relation", "employed", "full_time_student", "disability_group", "carer")
    return {"region_kato": region, "application_date": on,
            "members": [{k: m[k] for k in keys} for m in members], "incomes": incomes}


async def test_estimate_aktobe_q2_2026_uses_the_known_poverty_line(running_service, internal_token):
    # Aktobe's poverty line for assessment quarter 2026-Q1 is 37,060 (rules.md).
    mother = person(date(1990, 5, 5), "female", "applicant")
    son = person(date(2015, 5, 5), "male", "child")
    incomes = [{"iin": mother["iin"], "type": "wage", "month": m, "amount": "40000.00"}
               for m in ("2026-01", "2026-02", "2026-03")]
    async with running_service("eligibility") as client:
        response = await client.post("/v1/eligibility/estimate", json=estimate_body([mother, son], incomes),
                                     headers=internal_token("portal") | {"Accept-Language": "ru"})
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["poverty_line"] == "37060"
        # 120,000 / 2 / 3 = 20,000; (37,060 − 20,000) × 2 = 34,120 a month for Apr–Jun.
        assert body["per_capita_income"] == "20000.00"
        assert [(m["month"], m["tsa"]) for m in body["monthly"]] == [
            ("2026-04", 34120), ("2026-05", 34120), ("2026-06", 34120)]
        assert body["kind"] == "conditional" and body["assessment_quarter"] == "2026-Q1"
        codes = {r["code"] for r in body["reasons"]}
        assert {"INCOME_BELOW_POVERTY_LINE", "CONDITIONAL_ABLE_BODIED"} <= codes
        assert all(r["message"] for r in body["reasons"])


async def test_a_new_parameter_value_is_used_and_a_gap_is_refused(running_service, internal_token):
    applicant = person(date(1950, 1, 1), "male", "applicant")
    body = estimate_body([applicant], [], region="610000000", on="2030-05-01")
    async with running_service("eligibility") as client:
        missing = await client.post("/v1/eligibility/estimate", json=body, headers=internal_token("portal"))
        assert missing.status_code == 422
        problem = missing.json()
        assert problem["type"].endswith("missing-parameter")
        assert problem["errors"][0]["field"].startswith("parameters.")

        bad = await client.post("/v1/parameters", json={"name": "mci", "valid_from": "2026-01-01", "value": "-x"},
                                headers=internal_token("admin", ADMIN))
        assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "value"

        created = await client.post("/v1/parameters", headers=internal_token("admin", ADMIN), json={
            "name": "subsistence_minimum", "region_kato": "610000000", "valid_from": "2026-07-01",
            "valid_to": "2026-09-30", "value": "60000"})
        assert created.status_code == 201, created.text
        listed = await client.get("/v1/parameters", params={"name": "subsistence_minimum",
                                                            "region_kato": "610000000", "on": "2026-08-01"},
                                  headers=internal_token("admin", ADMIN))
        assert listed.json()["effective"]["value"] == "60000"
        # ...and the very next estimate uses it: 0.70 × 60,000 = 42,000 (above 0.35 × Turkestan's median).
        family = estimate_body([applicant], [], region="610000000", on="2026-11-22")
        after = await client.post("/v1/eligibility/estimate", json=family, headers=internal_token("portal"))
        assert after.status_code == 200 and after.json()["poverty_line"] == "42000"
        assert "POVERTY_LINE_FROM_SUBSISTENCE" in {r["code"] for r in after.json()["reasons"]}


async def test_decision_on_evidence_is_stored_emitted_and_recomputable(running_service, broker, internal_token):
    grandmother = person(date(1950, 3, 3), "female", "applicant")
    application_id = uuid.uuid4()
    event = Envelope.wrap(VerificationCompleted(
        application=CaseContext(application_id=application_id, application_date=date(2026, 11, 22),
                                region_kato="610000000", settlement="rural", channel="egov",
                                bank_account=BankAccount(iban="KZ86125KZT5004100100", bank_code="HSBKKZKX")),
        evidence_id=uuid.uuid4(), assessment_quarter="2026-Q3",
        members=[FamilyMember(**grandmother)],
        incomes=[IncomeRecord(iin=grandmother["iin"], type="pension", month=m, amount="20000.00")
                 for m in ("2026-07", "2026-08", "2026-09")],
    ), source="verification", key=str(application_id))
    async with running_service("eligibility") as client:
        await publish(broker.bootstrap, "qamqor.verification", event, times=2)

        async def decided():
            async with client.app.state.sessionmaker() as session:
                return (await session.execute(select(DecisionRecord))).scalars().all()

        decisions = await eventually(decided)
        assert len(decisions) == 1
        record = decisions[0]
        assert record.result["eligible"] is True and record.result["kind"] == "unconditional"
        async with client.app.state.sessionmaker() as session:
            emitted = await session.scalar(select(func.count()).select_from(outbox).where(
                outbox.c.event_type == "eligibility.decided"))
        assert emitted == 1

        # A later change of parameters does not change how the stored decision recomputes.
        await client.post("/v1/parameters", headers=internal_token("admin", ADMIN), json={
            "name": "subsistence_minimum", "region_kato": "610000000", "valid_from": "2026-07-01",
            "value": "90000"})
        shown = await client.get(f"/v1/eligibility/decisions/{record.id}", params={"recompute": "true"},
                                 headers=internal_token("ops", frozenset({"applications:read"})))
        assert shown.status_code == 200
        assert shown.json()["recomputed_identical"] is True


async def test_missing_parameter_defers_the_decision_until_the_value_is_recorded(running_service, broker, internal_token):
    """An application dated 2027-02-10 needs 2026-Q4 statistics (shipped) and the 2027 MCI (not
    shipped): it must wait, visibly, and be decided as soon as an administrator records the MCI."""
    from services.eligibility.models import PendingDecision

    grandmother = person(date(1950, 3, 3), "female", "applicant")
    grandchild = person(date(2023, 5, 5), "male", "grandchild")
    application_id = uuid.uuid4()
    event = Envelope.wrap(VerificationCompleted(
        application=CaseContext(application_id=application_id, application_date=date(2027, 2, 10),
                                region_kato="610000000", settlement="rural", channel="egov",
                                bank_account=BankAccount(iban="KZ86125KZT5004100100", bank_code="HSBKKZKX")),
        evidence_id=uuid.uuid4(), assessment_quarter="2026-Q4",
        members=[FamilyMember(**grandmother), FamilyMember(**grandchild)],
        incomes=[IncomeRecord(iin=grandmother["iin"], type="pension", month=m, amount="30000.00")
                 for m in ("2026-10", "2026-11", "2026-12")],
    ), source="verification", key=str(application_id))
    async with running_service("eligibility") as client:
        await publish(broker.bootstrap, "qamqor.verification", event)

        async def deferred():
            async with client.app.state.sessionmaker() as session:
                waiting = await session.get(PendingDecision, application_id)
                announced = await session.scalar(select(func.count()).select_from(outbox).where(
                    outbox.c.key == str(application_id), outbox.c.event_type == "eligibility.deferred"))
                return (waiting, announced) if waiting and announced else None

        waiting, announced = await eventually(deferred)
        assert "mci" in waiting.reason and announced == 1

        await client.post("/v1/parameters", headers=internal_token("admin", ADMIN), json={
            "name": "mci", "valid_from": "2027-01-01", "valid_to": "2027-12-31", "value": "4600"})

        async def decided():
            async with client.app.state.sessionmaker() as session:
                return (await session.execute(select(DecisionRecord).where(
                    DecisionRecord.application_id == application_id))).scalar_one_or_none()

        record = await eventually(decided)
        # 90,000 / 2 / 3 = 15,000 per person; line 35,596; (35,596 − 15,000) × 2 = 41,192;
        # the grandchild (3) brings 1.5 × 4,600 = 6,900 a month.
        assert [(m["month"], m["tsa"], m["child_supplement"]) for m in record.result["monthly"]] == [
            ("2027-02", 41192, 6900), ("2027-03", 41192, 6900)]
        async with client.app.state.sessionmaker() as session:
            assert await session.get(PendingDecision, application_id) is None


# The input of a decision exactly as the code before the domain's record format stored it: the
# `EstimateIn` request body built from the evidence, dumped by pydantic (names and income sources
# included, no "format" key).
PREVIOUS_FORMAT_INPUT = {
    "region_kato": "610000000",
    "application_date": "2026-11-22",
    "extension": False,
    "members": [{"iin": "500303401155", "birth_date": "1950-03-03", "sex": "female", "relation": "applicant",
                 "employed": False, "full_time_student": False, "disability_group": None, "carer": False,
                 "full_name": "Test Applicant", "phone": None}],
    "incomes": [{"iin": "500303401155", "type": "pension", "month": month, "amount": "20000.00",
                 "source": "income_registry"} for month in ("2026-07", "2026-08", "2026-09")],
    "expenses": None,
    "history": {"ban_until": None, "false_information": False},
}


async def test_a_decision_stored_in_the_previous_format_recomputes_identically(running_service, broker,
                                                                                internal_token):
    """The same family decided now (stored in the current format) and stored as the previous code
    stored it: both recompute to the decision that was made."""
    application_id = uuid.uuid4()
    event = Envelope.wrap(VerificationCompleted(
        application=CaseContext(application_id=application_id, application_date=date(2026, 11, 22),
                                region_kato="610000000", settlement="rural", channel="egov",
                                bank_account=BankAccount(iban="KZ86125KZT5004100100", bank_code="HSBKKZKX")),
        evidence_id=uuid.uuid4(), assessment_quarter="2026-Q3",
        members=[FamilyMember(iin="500303401155", full_name="Test Applicant", birth_date=date(1950, 3, 3),
                              sex="female", relation="applicant")],
        incomes=[IncomeRecord(iin="500303401155", type="pension", month=m, amount="20000.00")
                 for m in ("2026-07", "2026-08", "2026-09")],
    ), source="verification", key=str(application_id))
    reader = internal_token("ops", frozenset({"applications:read"}))
    async with running_service("eligibility") as client:
        await publish(broker.bootstrap, "qamqor.verification", event)

        async def decided():
            async with client.app.state.sessionmaker() as session:
                return (await session.execute(select(DecisionRecord).where(
                    DecisionRecord.application_id == application_id))).scalar_one_or_none()

        current = await eventually(decided)
        assert current.case_input["format"] == 2
        assert "full_name" not in current.case_input["members"][0]  # the record keeps only what the rules read

        previous = DecisionRecord(application_id=uuid.uuid4(), evidence_id=uuid.uuid4(),
                                  decided_at=current.decided_at, rules_version=current.rules_version,
                                  case_input=PREVIOUS_FORMAT_INPUT, result=current.result)
        async with client.app.state.sessionmaker() as session, session.begin():
            session.add(previous)

        for record in (current, previous):
            shown = await client.get(f"/v1/eligibility/decisions/{record.id}", params={"recompute": "true"},
                                     headers=reader)
            assert shown.status_code == 200, shown.text
            body = shown.json()
            assert body["recomputed_identical"] is True
            assert body["recomputed"]["monthly"] == current.result["monthly"]
        assert body["input"] == PREVIOUS_FORMAT_INPUT  # shown as it was stored

        plain = (await client.get(f"/v1/eligibility/decisions/{previous.id}", headers=reader)).json()
        assert set(plain) == {"id", "application_id", "evidence_id", "decided_at", "input", "decision"}
        assert plain["decision"] == current.result and plain["id"] == str(previous.id)


@pytest.mark.parametrize(("method", "path", "scope"), [
    ("POST", "/v1/eligibility/estimate", "eligibility:estimate"),
    ("GET", f"/v1/eligibility/decisions/{uuid.UUID(int=1)}", "applications:read"),
    ("GET", "/v1/parameters", "parameters:read"),
    ("POST", "/v1/parameters", "parameters:write"),
])
async def test_each_route_refuses_a_caller_without_its_scope(running_service, internal_token, method, path, scope):
    body = {"name": "mci", "valid_from": "2027-01-01", "value": "4600"} if path == "/v1/parameters" else \
        estimate_body([person(date(1950, 1, 1), "male", "applicant")], [])
    every_other_scope = ELIGIBILITY_SCOPES - {scope} | {"applications:write", "stats:read"}
    async with running_service("eligibility") as client:
        refused = await client.request(method, path, json=body if method == "POST" else None,
                                       headers=internal_token("portal", every_other_scope))
        assert refused.status_code == 403, refused.text
        assert refused.headers["content-type"].startswith("application/problem+json")
        assert refused.json()["type"].endswith("forbidden") and scope in refused.json()["detail"]
        allowed = await client.request(method, path, json=body if method == "POST" else None,
                                       headers=internal_token("portal", frozenset({scope})))
        assert allowed.status_code != 403, allowed.text


async def test_an_estimate_counts_the_ban_from_a_terminated_contract(running_service, internal_token):
    body = estimate_body([person(date(1985, 4, 10), "female", "applicant")], [], on="2026-04-15")
    async with running_service("eligibility") as client:
        async def reasons(history: dict) -> dict:
            response = await client.post("/v1/eligibility/estimate", json=body | {"history": history},
                                         headers=internal_token("portal"))
            assert response.status_code == 200, response.text
            return {r["code"]: r["params"] for r in response.json()["reasons"]}

        # six months (ban_months) from 2025-10-15: barred up to and including 2026-04-15
        barred = await reasons({"contract_terminated_on": "2025-10-15"})
        assert barred["BAN_ACTIVE"] == {"ban_until": "2026-04-15", "application_date": "2026-04-15",
                                        "contract_terminated_on": "2025-10-15", "ban_months": 6}
        assert "BAN_ACTIVE" not in await reasons({"contract_terminated_on": "2025-10-14"})
        assert "BAN_ACTIVE" in await reasons({"ban_until": "2026-04-15"})
        late = await client.post("/v1/eligibility/estimate", headers=internal_token("portal"),
                                 json=body | {"history": {"contract_terminated_on": "2026-04-16"}})
        assert late.status_code == 422 and late.json()["errors"][0]["field"] == "history.contract_terminated_on"
