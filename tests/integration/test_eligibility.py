"""Eligibility service: estimate over HTTP, parameters in PostgreSQL, decisions on the event flow."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime

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
from tests.support import assert_documents_what_it_answers, assert_family_scoped, eventually, person, publish, someone_else

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

        # Other tests' events share the broker: this test reads only its own application's.
        async def decided():
            async with client.app.state.sessionmaker() as session:
                return (await session.execute(select(DecisionRecord).where(
                    DecisionRecord.application_id == application_id))).scalars().all()

        decisions = await eventually(decided)
        assert len(decisions) == 1
        record = decisions[0]
        assert record.result["eligible"] is True and record.result["kind"] == "unconditional"
        async with client.app.state.sessionmaker() as session:
            emitted = await session.scalar(select(func.count()).select_from(outbox).where(
                outbox.c.event_type == "eligibility.decided", outbox.c.key == str(application_id)))
        assert emitted == 1

        # A later change of parameters does not change how the stored decision recomputes.
        changed = await client.post("/v1/parameters", headers=internal_token("admin", ADMIN), json={
            "name": "subsistence_minimum", "region_kato": "610000000", "valid_from": "2026-07-01",
            "value": "90000", "confirm_large_change": True})
        assert changed.status_code == 201, changed.text
        shown = await client.get(f"/v1/eligibility/decisions/{record.id}", params={"recompute": "true"},
                                 headers=internal_token("portal", citizen=grandmother["iin"]))
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
    reader = internal_token("portal", frozenset({"applications:read"}), citizen="500303401155")
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
                                       headers=internal_token("portal", frozenset({scope}), citizen=someone_else()))
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


# ---- who reads a decision -------------------------------------------------------------------

async def test_a_decision_is_read_by_its_family_and_the_case_workers_of_its_region_only(running_service,
                                                                                         internal_token):
    from services.eligibility.domain import ParameterSet, case_from_record, decide, load_shipped_parameters

    grandmother = "500303401155"
    result = decide(case_from_record(PREVIOUS_FORMAT_INPUT), ParameterSet(load_shipped_parameters())).to_dict()
    record = DecisionRecord(application_id=uuid.uuid4(), evidence_id=uuid.uuid4(),
                            decided_at=datetime(2026, 11, 22, 10, tzinfo=UTC), rules_version=result["rules_version"],
                            case_input=PREVIOUS_FORMAT_INPUT, result=result)
    async with running_service("eligibility") as client:
        async with client.app.state.sessionmaker() as session, session.begin():
            session.add(record)
        shown = await assert_family_scoped(client, internal_token, f"/v1/eligibility/decisions/{record.id}",
                                           scope="applications:read", member_iin=grandmother,
                                           region_kato="610000000")
        assert shown.json()["decision"] == result
        assert shown.headers["x-qamqor-data-subjects"] == grandmother


# ---- parameters checked at the door ------------------------------------------------------------

@pytest.mark.parametrize(("fields", "field", "says"), [
    ({"name": "poverty_line_subsistence_share", "value": "70"}, "value", "strictly between 0 and 1"),
    ({"name": "poverty_line_subsistence_share", "value": 1}, "value", "strictly between 0 and 1"),
    ({"name": "poverty_line_median_share", "value": "0"}, "value", "strictly between 0 and 1"),
    ({"name": "mci", "value": "0"}, "value", "above 0"),
    ({"name": "median_income", "value": "10000000.01"}, "value", "at most 10000000"),
    ({"name": "adult_age", "value": 101}, "value", "between 0 and 100"),
    ({"name": "retirement_age_female", "value": "-1"}, "value", "non-negative"),
    ({"name": "ban_months", "value": 121}, "value", "between 0 and 120"),
    ({"name": "consent_required", "value": "perhaps"}, "value", "not true/false"),
    ({"name": "mci", "value": {"amount": 4600}}, "value", "must be a number"),
    ({"name": "mci", "value": "46\u000000"}, "value", "control characters"),
    ({"name": "mcii"}, "name", "Input should be"),
    ({"region_kato": "611010000"}, "region_kato", "KATO classifier"),
    ({"region_kato": "99"}, "region_kato", "pattern"),
    ({"valid_from": "0001-01-01"}, "valid_from", "greater than or equal"),
    ({"note": "typo"}, "note", "Extra inputs are not permitted"),
])
async def test_a_parameter_value_out_of_its_sane_range_is_refused_naming_the_field(
        running_service, internal_token, fields, field, says):
    body = {"name": "mci", "valid_from": "2026-07-01", "valid_to": "2026-12-31", "value": "4325"} | fields
    async with running_service("eligibility") as client:
        refused = await client.post("/v1/parameters", json=body, headers=internal_token("admin", ADMIN))
        assert refused.status_code == 422, refused.text
        assert refused.headers["content-type"] == "application/problem+json"
        errors = refused.json()["errors"]
        assert [e["field"] for e in errors] == [field] and says in errors[0]["message"], errors
        async with client.app.state.sessionmaker() as session:
            assert await session.scalar(select(func.count()).select_from(outbox).where(
                outbox.c.event_type == "parameter.recorded")) == 0


async def test_a_share_given_as_a_share_is_recorded(running_service, internal_token):
    async with running_service("eligibility") as client:
        recorded = await client.post("/v1/parameters", headers=internal_token("admin", ADMIN), json={
            "name": "poverty_line_subsistence_share", "valid_from": "2027-01-01", "value": "0.7"})
        assert recorded.status_code == 201, recorded.text
        assert recorded.json()["value"] == "0.7"


async def test_a_value_far_from_the_one_it_follows_needs_a_confirmation(running_service, internal_token):
    """2027 has no MCI yet: a 2027 value follows 2026's 4,325. 46,000 (a zero too many) is refused
    naming the value it follows; the same value confirmed is recorded."""
    body = {"name": "mci", "valid_from": "2027-01-01", "valid_to": "2027-12-31", "value": "46000"}
    async with running_service("eligibility") as client:
        refused = await client.post("/v1/parameters", json=body, headers=internal_token("admin", ADMIN))
        assert refused.status_code == 422, refused.text
        [error] = refused.json()["errors"]
        assert error["field"] == "value"
        assert "4325" in error["message"] and "confirm_large_change" in error["message"]
        close = await client.post("/v1/parameters", json=body | {"value": "6400"},  # +48 %: not far
                                  headers=internal_token("admin", ADMIN))
        assert close.status_code == 201, close.text
        confirmed = await client.post("/v1/parameters", json=body | {"confirm_large_change": True},
                                      headers=internal_token("admin", ADMIN))
        assert confirmed.status_code == 201, confirmed.text
        # a regional value follows the value the region has in effect (here the national one)
        regional = await client.post("/v1/parameters", headers=internal_token("admin", ADMIN), json={
            "name": "subsistence_minimum", "region_kato": "750000000", "valid_from": "2026-10-01",
            "value": "5085"})
        assert regional.status_code == 422 and "50851" in regional.json()["errors"][0]["message"]


async def test_a_recorded_parameter_is_announced_in_the_same_transaction(running_service, internal_token):
    from services.eligibility import service
    from services.eligibility.models import ParameterRecord
    from services.eligibility.schemas import ParameterIn
    from shared.events.contracts import ParameterRecorded
    from shared.identity import Caller

    async with running_service("eligibility") as client:
        recorded = await client.post("/v1/parameters", headers=internal_token("admin", ADMIN, caller_id="admin-7"),
                                     json={"name": "adult_age", "valid_from": "2027-01-01", "value": 18})
        assert recorded.status_code == 201, recorded.text

        async def published():
            async with client.app.state.sessionmaker() as session:
                return (await session.execute(select(outbox).where(
                    outbox.c.event_type == "parameter.recorded"))).mappings().all()

        [row] = await eventually(lambda: _all_published(published))
        assert (row["topic"], row["key"]) == ("qamqor.eligibility", "adult_age")
        event = ParameterRecorded.model_validate(row["envelope"]["data"])
        assert event == ParameterRecorded(
            parameter_id=uuid.UUID(recorded.json()["id"]), name="adult_age", region_kato=None,
            valid_from=date(2027, 1, 1), valid_to=None, value="18",
            recorded_at=datetime.fromisoformat(recorded.json()["recorded_at"]))

        # a recording whose transaction rolls back leaves neither the value nor its announcement
        class RolledBack(Exception):
            pass

        with pytest.raises(RolledBack):
            async with client.app.state.sessionmaker() as session, session.begin():
                await service.record_parameter(
                    session=session, cache=client.app.state.parameters, caller=Caller(id="admin-7", kind="admin"),
                    body=ParameterIn(name="adult_age", valid_from=date(2028, 1, 1), value=18))
                raise RolledBack
        async with client.app.state.sessionmaker() as session:
            assert len(await published()) == 1
            assert await session.scalar(select(func.count()).select_from(ParameterRecord).where(
                ParameterRecord.valid_from == date(2028, 1, 1))) == 0


async def _all_published(rows):  # noqa: ANN001, ANN202
    found = await rows()
    return found if found and all(row["published_at"] is not None for row in found) else None


# ---- the estimate checked at the door -----------------------------------------------------------

def _estimate_with(change) -> dict:  # noqa: ANN001
    mother = person(date(1990, 5, 5), "female", "applicant")
    body = estimate_body([mother], [{"iin": mother["iin"], "type": "wage", "month": "2026-01", "amount": "1000.00"}])
    change(body)
    return body


@pytest.mark.parametrize(("change", "field"), [
    (lambda b: b.update(region_kato="611010000"), "region_kato"),  # a region's prefix, not a classifier code
    (lambda b: b.update(application_date="0001-01-15"), "application_date"),
    (lambda b: b.update(application_date="9999-12-31"), "application_date"),
    (lambda b: b["incomes"][0].update(amount="-1"), "incomes[0].amount"),
    (lambda b: b["incomes"][0].update(amount="1000000000.01"), "incomes[0].amount"),
    (lambda b: b["incomes"][0].update(amount="10.001"), "incomes[0].amount"),
    (lambda b: b["incomes"][0].update(amount="NaN"), "incomes[0].amount"),
    (lambda b: b["incomes"][0].update(month="0000-01"), "incomes[0].month"),
    (lambda b: b["incomes"][0].update(type="lottery"), "incomes[0].type"),
    (lambda b: b["incomes"][0].update(source="registry\u0000"), "incomes[0].source"),
    (lambda b: b["members"][0].update(full_name="\u0007"), "members[0].full_name"),
    (lambda b: b["members"][0].update(full_name="   "), "members[0].full_name"),
    (lambda b: b["members"][0].update(birth_date="0001-01-01"), "members[0].birth_date"),
    (lambda b: b.update(members=b["members"] * 31), "members"),
    (lambda b: b.update(incomes=b["incomes"] * 2001), "incomes"),
    (lambda b: b.update(expenses={"consent": True, "deposits": "-5"}), "expenses.deposits"),
    (lambda b: b.update(history={"contract_terminated_on": "0001-01-01"}), "history.contract_terminated_on"),
])
async def test_an_estimate_out_of_bounds_is_refused_naming_the_field(running_service, internal_token, change, field):
    async with running_service("eligibility") as client:
        refused = await client.post("/v1/eligibility/estimate", json=_estimate_with(change),
                                    headers=internal_token("portal"))
        assert refused.status_code == 422, refused.text
        assert refused.headers["content-type"] == "application/problem+json"
        assert {e["field"] for e in refused.json()["errors"]} == {field}, refused.json()["errors"]


async def test_an_estimate_at_the_bounds_and_as_a_what_if_extension_is_answered(running_service, internal_token):
    def at_the_bounds(body: dict) -> None:
        body["incomes"][0]["amount"] = "1000000000.00"
        body.update(extension=True, expenses={"consent": True, "deposits": "0"})

    async with running_service("eligibility") as client:
        answered = await client.post("/v1/eligibility/estimate", json=_estimate_with(at_the_bounds),
                                     headers=internal_token("portal"))
        assert answered.status_code == 200, answered.text
        assert answered.json()["eligible"] is False


def test_the_openapi_documents_each_answer_and_error():
    assert_documents_what_it_answers("eligibility")
