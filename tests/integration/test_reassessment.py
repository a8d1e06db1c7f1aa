"""The reassessment run through the eligibility service's API and PostgreSQL (issue 12, points 2–3):
families approved for 2026-Q4 on the single path are decided again for 2027-Q1 from the income
registry's bulk extract, with the rules of the single path; a run per quarter, its progress and
totals, the families listed for case workers, and a run stopped half-way that resumes with no
family decided twice."""

from __future__ import annotations

import uuid
from datetime import date
from decimal import Decimal

from sqlalchemy import func, select, text

from services.eligibility.domain import Case, decide
from services.eligibility.models import Assignment, DecisionRecord
from services.eligibility.runs import RunStopped
from services.eligibility.schemas import incomes_of, members_of
from shared.events import Envelope
from shared.events.contracts import (
    BankAccount,
    CaseContext,
    ContractSigned,
    ContractTerminated,
    FamilyMember,
    IncomeRecord,
    VerificationCompleted,
)
from shared.outbox import outbox
from tests.integration.reassessment_support import REGION, extract_for, record_2027, set_incomes
from tests.support import eventually, person, publish, scopes_without

RUN = frozenset({"reassessments:run"})
READ = frozenset({"applications:read"})
Q3 = ("2026-07", "2026-08", "2026-09")
Q4 = ("2026-10", "2026-11", "2026-12")


def evidence(members: list[dict], incomes: list[tuple[str, str, str, str]]) -> Envelope:
    application_id = uuid.uuid4()
    return Envelope.wrap(VerificationCompleted(
        application=CaseContext(application_id=application_id, application_date=date(2026, 11, 10),
                                region_kato=REGION, settlement="rural", channel="egov",
                                bank_account=BankAccount(iban="KZ86125KZT5004100100", bank_code="HSBKKZKX")),
        evidence_id=uuid.uuid4(), assessment_quarter="2026-Q3", members=[FamilyMember(**m) for m in members],
        incomes=[IncomeRecord(iin=i, type=t, month=m, amount=a) for i, m, t, a in incomes],
    ), source="verification", key=str(application_id))


def wages(iin: str, amount: str, months=Q3, kind: str = "wage") -> list[tuple[str, str, str, str]]:
    return [(iin, m, kind, amount) for m in months]


class World:
    """Six families approved for 2026-Q4, and their incomes of 2026-Q4 in the registry."""

    def __init__(self) -> None:
        self.granny = person(date(1950, 3, 3), "female", "applicant")
        self.grandson = person(date(2019, 4, 4), "male", "grandchild")
        self.mother = person(date(1992, 5, 5), "female", "applicant")
        self.daughter = person(date(2021, 6, 6), "female", "child")
        self.father = person(date(1985, 7, 7), "male", "applicant", employed=True)
        self.son = person(date(2015, 8, 8), "male", "child")
        self.aunt = person(date(1995, 9, 9), "female", "applicant")
        self.nephew = person(date(2020, 1, 1), "male", "child")
        self.x = person(date(1988, 2, 2), "female", "applicant")
        self.shared_child = person(date(2018, 2, 2), "male", "child")
        self.z = person(date(1987, 3, 3), "male", "applicant")
        self.barred = person(date(1993, 4, 4), "male", "applicant")
        self.barred_child = person(date(2022, 4, 4), "female", "child")
        self.families = {
            "unconditional": evidence([self.granny, self.grandson], wages(self.granny["iin"], "60000.00", kind="pension")),
            "signed": evidence([self.mother, self.daughter], []),
            "rose": evidence([self.father, self.son], wages(self.father["iin"], "30000.00")),
            "unsigned": evidence([self.aunt, self.nephew], []),
            "moved_a": evidence([self.x, self.shared_child], []),
            "moved_b": evidence([self.z, dict(self.shared_child, relation="child")], []),
            "banned": evidence([self.barred, self.barred_child], []),
        }

    def q4_registry(self) -> dict[str, list[tuple[str, str, str]]]:
        return {
            self.granny["iin"]: [(m, "pension", "62000.00") for m in Q4],
            # employment measures are left out on extension (disregarded_on_extension_income_types)
            self.mother["iin"]: [(m, "employment_measure", "90000.00") for m in Q4]
            + [(m, "wage", "10000.00") for m in Q4],
            self.father["iin"]: [(m, "wage", "400000.00") for m in Q4],
            **{p["iin"]: [] for p in (self.grandson, self.daughter, self.son, self.aunt, self.nephew, self.x,
                                      self.shared_child, self.z, self.barred, self.barred_child)},
        }

    def expected(self, name: str) -> Case:
        """The family as the single path would decide its extension for 2027-Q1."""
        event: VerificationCompleted = self.families[name].payload()  # type: ignore[assignment]
        registry = self.q4_registry()
        incomes = [IncomeRecord(iin=m.iin, type=t, month=month, amount=a)
                   for m in event.members for month, t, a in registry[m.iin]]
        return Case(region_kato=REGION, application_date=date(2027, 1, 1), extension=True,
                    members=members_of(event.members), incomes=incomes_of(incomes))


async def approve_all(client, broker, world: World) -> dict[str, uuid.UUID]:  # noqa: ANN001
    for envelope in world.families.values():
        await publish(broker.bootstrap, "qamqor.verification", envelope)
    ids = {name: envelope.payload().application.application_id for name, envelope in world.families.items()}

    async def decided():
        async with client.app.state.sessionmaker() as session:
            return await session.scalar(select(func.count()).select_from(Assignment).where(
                Assignment.period_quarter == "2026-Q4")) == len(ids)

    await eventually(decided, timeout=30)
    # the conditional mother signed her contract; the aunt did not (yet)
    signed = Envelope.wrap(ContractSigned(contract_id=uuid.uuid4(), application_id=ids["signed"],
                                          decision_id=uuid.uuid4(), signed_at="2026-11-12T05:00:00Z"),
                           source="contracts", key=str(ids["signed"]))
    await publish(broker.bootstrap, "qamqor.contracts", signed)

    async def followed():
        async with client.app.state.sessionmaker() as session:
            return await session.scalar(select(Assignment.contract_state).where(
                Assignment.application_id == ids["signed"])) == "signed"

    await eventually(followed)
    # the father of the last family refused the measures of his contract on 14 December: barred
    terminated = Envelope.wrap(ContractTerminated(
        contract_id=uuid.uuid4(), application_id=ids["banned"], terminated_on=date(2026, 12, 14),
        reason="refused_measures", member_iins=[world.barred["iin"], world.barred_child["iin"]]),
        source="contracts", key=str(ids["banned"]))
    await publish(broker.bootstrap, "qamqor.contracts", terminated)

    async def barred():
        async with client.app.state.sessionmaker() as session:
            return await session.scalar(select(Assignment.contract_state).where(
                Assignment.application_id == ids["banned"])) == "terminated"

    await eventually(barred)
    return ids


async def q1_rows(client) -> dict[uuid.UUID, Assignment]:  # noqa: ANN001
    async with client.app.state.sessionmaker() as session:
        rows = (await session.execute(select(Assignment).where(Assignment.period_quarter == "2027-Q1"))).scalars()
        return {r.application_id: r for r in rows}


async def extension_events(client) -> list[dict]:  # noqa: ANN001
    async with client.app.state.sessionmaker() as session:
        rows = (await session.execute(select(outbox.c.envelope).where(
            outbox.c.event_type == "eligibility.extended"))).scalars().all()
    return [row["data"] for row in rows]


async def finished(client, run_id: str, internal_token) -> dict:  # noqa: ANN001
    async def done():
        shown = (await client.get(f"/v1/reassessments/{run_id}", headers=internal_token("admin", RUN))).json()
        return shown if shown["status"] in ("completed", "failed") else None

    return await eventually(done, timeout=60)


async def test_a_run_extends_ends_and_lists_families_for_case_workers(running_service, broker, internal_token,
                                                                       sandbox_url):
    world = World()
    for iin, entries in world.q4_registry().items():
        await set_incomes(sandbox_url, iin, entries)
    async with running_service("eligibility") as client:
        client.app.state.reassessments.executor.extract = await extract_for(sandbox_url)
        ids = await approve_all(client, broker, world)

        # who may start it, and what it takes
        refused = await client.post("/v1/reassessments", json={"quarter": "2027-Q1"},
                                    headers=internal_token("admin", scopes_without("reassessments:run")))
        assert refused.status_code == 403, refused.text
        for body, field in [({"quarter": "2027-Q5"}, "quarter"), ({"quarter": "27-Q1"}, "quarter"),
                            ({}, "quarter"), ({"quarter": "2027-Q1", "dry": True}, "dry")]:
            bad = await client.post("/v1/reassessments", json=body, headers=internal_token("admin", RUN))
            assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == field, (body, bad.text)

        # 2027's figures are missing: the run is refused whole, naming each parameter, and nothing is
        # started (no run, no decision); once they are recorded it starts
        refused = await client.post("/v1/reassessments", json={"quarter": "2027-Q1"}, headers=internal_token("admin", RUN))
        assert refused.status_code == 422, refused.text
        assert refused.headers["content-type"] == "application/problem+json"
        problem = refused.json()
        assert problem["type"].endswith("missing-parameter")
        # the MCI of 2027 (decision day and months paid) and its national minimum; 2026-Q4's median is shipped
        assert {e["field"] for e in problem["errors"]} == {"parameters.mci"}, problem
        assert "2027-01-01" in problem["errors"][0]["message"] and REGION in problem["errors"][0]["message"]
        async with client.app.state.sessionmaker() as session:
            assert await session.scalar(text("SELECT count(*) FROM reassessment_runs")) == 0
        assert await q1_rows(client) == {}
        await record_2027(client, internal_token)
        started = await client.post("/v1/reassessments", json={"quarter": "2027-Q1"}, headers=internal_token("admin", RUN))
        assert started.status_code == 202, started.text
        run_id = started.json()["id"]
        shown = await finished(client, run_id, internal_token)
        assert shown["status"] == "completed", shown
        assert shown["ending_quarter"] == "2026-Q4"
        assert shown["progress"] | {"chunks_done": None} == {"phase": "done", "families_total": 7,
                                                              "families_done": 7, "chunks_done": None}
        # a second POST for the quarter: the same run, nothing decided again
        third = await client.post("/v1/reassessments", json={"quarter": "2027-Q1"}, headers=internal_token("admin", RUN))
        assert third.status_code == 200 and third.json()["id"] == run_id

        rows = await q1_rows(client)
        assert set(rows) == {ids["unconditional"], ids["signed"], ids["rose"], ids["banned"]}
        params = await client.app.state.parameters.current()
        for name in ("unconditional", "signed", "rose"):
            row, single = rows[ids[name]], decide(world.expected(name), params)
            assert row.eligible == single.eligible and row.extension and row.kind == single.kind, name
            assert row.months == list(single.period_months if single.eligible else []), name
            assert row.total == [m.total for m in single.monthly], name
            assert row.per_capita_income == single.per_capita_income, name
            assert row.family_id == ids[name] and row.application_date == date(2027, 1, 1)
        assert rows[ids["unconditional"]].state == "active" and rows[ids["signed"]].contract_state == "signed"
        assert rows[ids["rose"]].state == "ended" and rows[ids["rose"]].ended_reason == "not_eligible"
        # the employment measure was left out: the mother's 10,000 a month is all that counts
        assert rows[ids["signed"]].per_capita_income == Decimal("5000.00")

        events = {e["application_id"]: e for e in await extension_events(client)}
        assert set(events) == {str(ids[n]) for n in ("unconditional", "signed", "rose", "banned")}
        banned = events[str(ids["banned"])]
        assert banned["eligible"] is False and "BAN_ACTIVE" in banned["reasons"]
        assert "INCOME_BELOW_POVERTY_LINE" in banned["reasons"] and rows[ids["banned"]].state == "ended"
        assert events[str(ids["signed"])]["contract_carried_over"] is True
        assert events[str(ids["unconditional"])]["contract_carried_over"] is False
        rose = events[str(ids["rose"])]
        assert rose["eligible"] is False and "INCOME_NOT_BELOW_POVERTY_LINE" in rose["reasons"] and not rose["monthly"]
        assert all("full_name" not in str(e) and world.granny["iin"] not in str(e) for e in events.values())

        totals = shown["totals"]
        assert set(totals.pop("seconds")) == {"read", "checks", "extract", "decide", "write"}
        extended_amount = sum(sum(rows[ids[n]].total) for n in ("unconditional", "signed"))
        assert totals == {"extended": 2, "ended": {"INCOME_NOT_BELOW_POVERTY_LINE": 1, "BAN_ACTIVE": 1},
                          "review": {"contract_needed": 1, "member_in_another_family": 2},
                          "amount": extended_amount,
                          "amounts_by_region": [{"region_kato": REGION, "families": 2, "amount": extended_amount}]}

        # the families not extended blindly, for the case workers of their region
        listed = await client.get(f"/v1/reassessments/{run_id}/review",
                                  headers=internal_token("case_worker", READ, regions=frozenset({"61"})))
        assert listed.status_code == 200, listed.text
        assert {(f["application_id"], f["reason"]) for f in listed.json()["families"]} == {
            (str(ids["unsigned"]), "contract_needed"), (str(ids["moved_a"]), "member_in_another_family"),
            (str(ids["moved_b"]), "member_in_another_family")}
        elsewhere = await client.get(f"/v1/reassessments/{run_id}/review",
                                     headers=internal_token("case_worker", READ, regions=frozenset({"35"})))
        assert elsewhere.json()["families"] == []
        portal = await client.get(f"/v1/reassessments/{run_id}/review",
                                  headers=internal_token("portal", READ, citizen=world.x["iin"]))
        assert portal.status_code == 403
        unknown = await client.get(f"/v1/reassessments/{uuid.uuid4()}", headers=internal_token("admin", RUN))
        assert unknown.status_code == 404
        # an extension decision is read like any decision, by the case workers of the family's region
        worker = internal_token("case_worker", READ, regions=frozenset({"61"}))
        for name in ("signed", "rose"):
            read = await client.get(f"/v1/eligibility/decisions/{events[str(ids[name])]['decision_id']}",
                                    headers=worker)
            assert read.status_code == 200, read.text
            shown_decision = read.json()
            assert shown_decision["application_id"] == str(ids[name]) and shown_decision["evidence_id"] == run_id
            assert shown_decision["input"]["extension"] is True and shown_decision["input"]["format"] == "extension"
            assert [m["total"] for m in shown_decision["decision"]["monthly"]] == rows[ids[name]].total
            assert {r["code"] for r in shown_decision["decision"]["reasons"]} == set(events[str(ids[name])]["reasons"])
            assert shown_decision["decision"]["period"]["quarter"] == "2027-Q1"
        hidden = await client.get(f"/v1/eligibility/decisions/{events[str(ids['signed'])]['decision_id']}",
                                  headers=internal_token("case_worker", READ, regions=frozenset({"35"})))
        assert hidden.status_code == 404
        # the single path's decisions are untouched: one per application
        async with client.app.state.sessionmaker() as session:
            assert await session.scalar(select(func.count()).select_from(DecisionRecord)) == 7


async def test_a_run_stopped_half_way_resumes_where_it_stopped_and_decides_nobody_twice(
        running_service, broker, internal_token, sandbox_url):
    world = World()
    for iin, entries in world.q4_registry().items():
        await set_incomes(sandbox_url, iin, entries)
    async with running_service("eligibility", QAMQOR_ELIGIBILITY_REASSESSMENT_CHUNK_SIZE="2") as client:
        reassessments = client.app.state.reassessments
        reassessments.executor.extract = await extract_for(sandbox_url)
        await approve_all(client, broker, world)
        await record_2027(client, internal_token)

        stops: list[int] = []

        def kill_after_first_chunk(chunks: int) -> None:
            if chunks == 1:
                stops.append(chunks)
                raise RunStopped("killed after the first chunk")

        reassessments.executor.after_chunk = kill_after_first_chunk
        started = await client.post("/v1/reassessments", json={"quarter": "2027-Q1"},
                                    headers=internal_token("admin", RUN))
        run_id = started.json()["id"]

        async def stopped():
            shown = (await client.get(f"/v1/reassessments/{run_id}", headers=internal_token("admin", RUN))).json()
            return shown if stops and shown["progress"]["chunks_done"] == 1 else None

        half = await eventually(stopped)
        assert half["status"] == "running" and half["progress"]["families_done"] == 2
        written_before = await q1_rows(client)

        reassessments.executor.after_chunk = None
        resumed = await client.post("/v1/reassessments", json={"quarter": "2027-Q1"},
                                    headers=internal_token("admin", RUN))
        assert resumed.status_code == 200 and resumed.json()["id"] == run_id
        shown = await finished(client, run_id, internal_token)
        assert shown["status"] == "completed" and shown["progress"]["families_done"] == 7
        assert shown["progress"]["chunks_done"] == 4
        rows = await q1_rows(client)
        assert len(rows) == 4 and all(rows[k].decision_id == v.decision_id for k, v in written_before.items())
        events = await extension_events(client)
        assert sorted(e["application_id"] for e in events) == sorted(str(k) for k in rows)
        assert shown["totals"]["extended"] == 2 and shown["totals"]["review"] == {
            "contract_needed": 1, "member_in_another_family": 2}
