"""The quarter turns (issue 12): three families approved for 2026-Q4 through the real intake,
eligibility, contracts and payments services (one process, real PostgreSQL and broker; the
verification step played by publishing its event), the clock travelled to the case's days.

- 10 November 2026: a grandmother with her grandson (unconditional), a mother with her daughter
  (conditional: she signs her social contract) and a grandfather with his granddaughter apply, and
  are approved for November and December.
- 20 December: the administrator runs the reassessment for 2027-Q1 from the income registry's
  fourth-quarter figures. The run is killed after its first chunk and started again.
- The first two are extended, with new amounts (the single path's, from the registry's figures,
  the employment measure left out) and one payment for each month of 2027-Q1; the mother's
  contract is carried over to 31 March, no new one is drafted. The grandfather's income rose
  (rent): he is refused with INCOME_NOT_BELOW_POVERTY_LINE and his application ends with December.
- Exactly one decision and one set of payments per family per quarter.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime

import time_machine
from sqlalchemy import delete, func, select

from services.eligibility.domain import Case, decide
from services.eligibility.models import Assignment, AssignmentMember
from services.eligibility.runs import RunStopped
from services.eligibility.schemas import incomes_of, members_of
from services.intake import periods
from services.payments.models import Payment
from shared.calendar import ALMATY
from shared.events import Envelope
from shared.events.contracts import BankAccount, CaseContext, FamilyMember, IncomeRecord, VerificationCompleted
from tests.integration.reassessment_support import REGION, extract_for, record_2027, set_incomes
from tests.support import HALYK_IBAN, application_body, eventually, person, publish

RUN = frozenset({"reassessments:run"})
Q3 = ("2026-07", "2026-08", "2026-09")
Q4 = ("2026-10", "2026-11", "2026-12")
Q1 = ["2027-01", "2027-02", "2027-03"]


def almaty(day: date, hour: int = 10) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=ALMATY)


def facts(member: dict) -> dict:
    return {k: v for k, v in member.items() if k != "phone"}


def verified(application: dict, members: list[dict], incomes: list[tuple[str, str, str, str]]) -> Envelope:
    """What verification would announce for the application: the family and its Q3 incomes."""
    application_id = uuid.UUID(application["id"])
    return Envelope.wrap(VerificationCompleted(
        application=CaseContext(application_id=application_id, application_date=date(2026, 11, 10),
                                region_kato=REGION, settlement="urban", channel="egov",
                                bank_account=BankAccount(iban=HALYK_IBAN, bank_code="HSBKKZKX")),
        evidence_id=uuid.uuid4(), assessment_quarter="2026-Q3", members=[FamilyMember(**facts(m)) for m in members],
        incomes=[IncomeRecord(iin=i, type=t, month=m, amount=a) for i, m, t, a in incomes],
    ), source="verification", key=str(application_id))


async def test_the_quarter_turns_extended_twice_ended_once_and_resumed_after_a_kill(
        running_service, broker, internal_token, sandbox_url):
    granny = person(date(1950, 3, 3), "female", "applicant", phone="+77011230001")
    grandson = person(date(2019, 4, 4), "male", "grandchild")
    mother = person(date(1992, 5, 5), "female", "applicant", phone="+77011230002")
    daughter = person(date(2021, 6, 6), "female", "child")
    grandpa = person(date(1955, 7, 7), "male", "applicant", phone="+77011230003")
    granddaughter = person(date(2017, 8, 8), "female", "grandchild")
    families = {"unconditional": [granny, grandson], "conditional": [mother, daughter],
                "rose": [grandpa, granddaughter]}
    q3 = {"unconditional": [(granny["iin"], m, "pension", "60000.00") for m in Q3],
          "conditional": [],
          "rose": [(grandpa["iin"], m, "pension", "45000.00") for m in Q3]}
    q4 = {granny["iin"]: [(m, "pension", "64000.00") for m in Q4],
          mother["iin"]: [(m, "employment_measure", "90000.00") for m in Q4] + [(m, "wage", "12000.00") for m in Q4],
          grandpa["iin"]: [(m, "pension", "45000.00") for m in Q4] + [(m, "rent", "400000.00") for m in Q4],
          **{p["iin"]: [] for p in (grandson, daughter, granddaughter)}}

    with time_machine.travel(almaty(date(2026, 11, 10), 9), tick=True) as clock:
        async with running_service("intake") as intake, running_service("contracts") as contracts, \
                running_service("payments") as payments, \
                running_service("eligibility", QAMQOR_ELIGIBILITY_REASSESSMENT_CHUNK_SIZE="1") as eligibility:
            def portal(members: list[dict]) -> dict[str, str]:
                return internal_token("portal", citizen=members[0]["iin"])

            # ── 10 November: three families apply and are approved for 2026-Q4 ───────────────
            apps: dict[str, dict] = {}
            for name, members in families.items():
                created = await intake.post("/v1/applications", json=application_body(members),
                                            headers=portal(members) | {"Idempotency-Key": f"k-{name}"})
                assert created.status_code == 201, created.text
                apps[name] = created.json()
                await publish(broker.bootstrap, "qamqor.verification", verified(apps[name], members, q3[name]))
            ids = {name: app["id"] for name, app in apps.items()}

            async def application(name: str, status: str | None = None):  # noqa: ANN202
                shown = (await intake.get(f"/v1/applications/{ids[name]}", headers=portal(families[name]))).json()
                return shown if status is None or shown["status"] == status else None

            async def contract_of(name: str):  # noqa: ANN202
                found = (await contracts.get("/v1/contracts", params={"application_id": ids[name]},
                                             headers=internal_token("case_worker", regions=frozenset({"61"})))).json()
                return found if found else None

            [drafted] = await eventually(lambda: contract_of("conditional"), timeout=60)
            signed = await contracts.post(f"/v1/contracts/{drafted['id']}/sign", headers=internal_token(
                "portal", frozenset({"contracts:sign", "contracts:read"}), citizen=mother["iin"]))
            assert signed.status_code == 200, signed.text

            async def months_of(name: str, expected: list[str]):  # noqa: ANN202
                rows = (await payments.get("/v1/payments", params={"application_id": ids[name]},
                                           headers=portal(families[name]))).json()
                return rows if sorted(r["month"] for r in rows) == expected else None

            for name in families:
                await eventually(lambda n=name: months_of(n, ["2026-11", "2026-12"]), timeout=60)
                await eventually(lambda n=name: application(n, "payments_scheduled"), timeout=60)

            async def register_follows():  # noqa: ANN202
                async with eligibility.app.state.sessionmaker() as session:
                    return await session.scalar(select(Assignment.contract_state).where(
                        Assignment.application_id == uuid.UUID(ids["conditional"]))) == "signed"

            await eventually(register_follows, timeout=60)

            # The integration services share one broker: events other tests left unconsumed may
            # have added their families to this eligibility's register. The run is about these
            # three; the others are taken out so that its totals can be counted exactly.
            async with eligibility.app.state.sessionmaker() as session, session.begin():
                own = [uuid.UUID(i) for i in ids.values()]
                strangers = select(Assignment.family_id).where(Assignment.application_id.not_in(own))
                await session.execute(delete(AssignmentMember).where(AssignmentMember.family_id.in_(strangers)))
                await session.execute(delete(Assignment).where(Assignment.application_id.not_in(own)))

            # ── 20 December: the reassessment for 2027-Q1, killed after its first chunk ──────
            clock.move_to(almaty(date(2026, 12, 20)))
            for iin, entries in q4.items():
                await set_incomes(sandbox_url, iin, entries)
            await record_2027(eligibility, internal_token)
            reassessments = eligibility.app.state.reassessments
            reassessments.executor.extract = await extract_for(sandbox_url)
            killed: list[int] = []

            def kill_once(chunks: int) -> None:
                if not killed:
                    killed.append(chunks)
                    raise RunStopped("killed half-way")

            reassessments.executor.after_chunk = kill_once
            started = await eligibility.post("/v1/reassessments", json={"quarter": "2027-Q1"},
                                             headers=internal_token("admin", RUN))
            assert started.status_code == 202, started.text
            run_id = started.json()["id"]

            async def run_state():  # noqa: ANN202
                return (await eligibility.get(f"/v1/reassessments/{run_id}", headers=internal_token("admin", RUN))).json()

            half = await eventually(lambda: _when(run_state, lambda r: killed and r["progress"]["chunks_done"] == 1))
            assert half["status"] == "running" and half["progress"]["families_done"] == 1
            reassessments.executor.after_chunk = None
            again = await eligibility.post("/v1/reassessments", json={"quarter": "2027-Q1"},
                                           headers=internal_token("admin", RUN))
            assert again.status_code == 200 and again.json()["id"] == run_id
            done = await eventually(lambda: _when(run_state, lambda r: r["status"] == "completed"), timeout=60)
            assert done["progress"]["families_done"] == 3 and done["totals"]["extended"] == 2
            assert done["totals"]["ended"] == {"INCOME_NOT_BELOW_POVERTY_LINE": 1}

            # the single path's amounts for the extension, from the registry's Q4 figures
            params = await eligibility.app.state.parameters.current()

            def single(name: str):  # noqa: ANN202
                incomes = [IncomeRecord(iin=m["iin"], type=t, month=month, amount=a)
                           for m in families[name] for month, t, a in q4[m["iin"]]]
                return decide(Case(region_kato=REGION, application_date=date(2027, 1, 1), extension=True,
                                   members=members_of([FamilyMember(**facts(m)) for m in families[name]]),
                                   incomes=incomes_of(incomes)), params)

            # ── the extended: new amounts, one payment per month of 2027-Q1 ──────────────────
            for name in ("unconditional", "conditional"):
                expected = single(name)
                assert expected.eligible, name
                rows = await eventually(lambda n=name: months_of(n, ["2026-11", "2026-12", *Q1]), timeout=60)
                q1 = {r["month"]: r for r in rows if r["month"] in Q1}
                assert [q1[m.month]["total"] for m in expected.monthly] == [m.total for m in expected.monthly]
                assert len({q1[m]["decision_id"] for m in Q1}) == 1  # the extension's decision
                before = {r["total"] for r in rows if r["month"] in ("2026-11", "2026-12")}
                assert before.isdisjoint(r["total"] for r in q1.values()), (name, before)  # new amounts
                shown = await eventually(lambda n=name: _when(lambda: application(n), lambda a: any(
                    c["status"] == "extended" for c in a["timeline"])), timeout=60)
                assert shown["status"] == "payments_scheduled"
                [extended] = [c for c in shown["timeline"] if c["status"] == "extended"]
                assert extended["detail"]["period_quarter"] == "2027-Q1"
                assert extended["detail"]["total"] == sum(m.total for m in expected.monthly)
            # the employment measure was left out: only the mother's wage counts
            assert single("conditional").per_capita_income == 6000

            # the mother's contract runs on to 31 March: carried over, not drafted again
            async def carried():  # noqa: ANN202
                found = await contract_of("conditional")
                return found if found and found[0]["ends_on"] == "2027-03-31" else None

            [contract] = await eventually(carried, timeout=60)
            assert contract["id"] == drafted["id"] and contract["status"] == "signed"

            # ── the grandfather: refused, told why; his application ends with December ───────
            refused = await eventually(lambda: _when(lambda: application("rose"), lambda a: any(
                c["status"] == "not_extended" for c in a["timeline"])), timeout=60)
            [told] = [c for c in refused["timeline"] if c["status"] == "not_extended"]
            assert "INCOME_NOT_BELOW_POVERTY_LINE" in told["detail"]["reasons"]
            assert await months_of("rose", ["2026-11", "2026-12"])
            clock.move_to(almaty(date(2027, 1, 2)))
            assert await periods.sweep_once(sessionmaker=intake.app.state.sessionmaker,
                                            now=almaty(date(2027, 1, 2))) == 1
            assert (await application("rose"))["status"] == "ended"
            for name in ("unconditional", "conditional"):
                assert (await application(name))["status"] == "payments_scheduled"

            # ── exactly one decision and one set of payments per family per quarter ──────────
            async with eligibility.app.state.sessionmaker() as session:
                per_quarter = (await session.execute(select(Assignment.application_id, Assignment.period_quarter,
                                                            func.count()).group_by(Assignment.application_id,
                                                                                   Assignment.period_quarter))).all()
            assert sorted((str(a), q, n) for a, q, n in per_quarter if str(a) in ids.values()) == sorted(
                (ids[name], q, 1) for name in families for q in ("2026-Q4", "2027-Q1"))
            async with payments.app.state.sessionmaker() as session:
                per_month = (await session.execute(select(Payment.application_id, Payment.month, func.count())
                                                   .group_by(Payment.application_id, Payment.month))).all()
            assert all(n == 1 for _, _, n in per_month)
            assert sorted(m for a, m, _ in per_month if str(a) == ids["rose"]) == ["2026-11", "2026-12"]


async def _when(read, condition):  # noqa: ANN001, ANN202
    value = await read()
    return value if condition(value) else None
