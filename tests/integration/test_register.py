"""The register of current assignments (issue 12): an approved family decided on the single path
enters `assignments` and `assignment_members` in the decision's transaction; a refused one does
not; `stream_register` reads them back as the bulk path's columns, in chunks, resumably."""

from __future__ import annotations

import uuid
from datetime import date

from sqlalchemy import func, select

from services.eligibility.models import Assignment, AssignmentMember, DecisionRecord
from services.eligibility.reassessment import decide_columns
from services.eligibility.reassessment.register import composition_of, stream_register
from shared.events import Envelope
from shared.events.contracts import BankAccount, CaseContext, FamilyMember, IncomeRecord, VerificationCompleted
from tests.support import eventually, person, publish


def evidence(members: list[dict], wage: str) -> Envelope:
    application_id = uuid.uuid4()
    return Envelope.wrap(VerificationCompleted(
        application=CaseContext(application_id=application_id, application_date=date(2026, 11, 10),
                                region_kato="610000000", settlement="rural", channel="egov",
                                bank_account=BankAccount(iban="KZ86125KZT5004100100", bank_code="HSBKKZKX")),
        evidence_id=uuid.uuid4(), assessment_quarter="2026-Q3",
        members=[FamilyMember(**m) for m in members],
        incomes=[IncomeRecord(iin=members[0]["iin"], type="wage", month=m, amount=wage)
                 for m in ("2026-07", "2026-08", "2026-09")],
    ), source="verification", key=str(application_id))


async def test_an_approved_family_enters_the_register_and_streams_back_as_columns(running_service, broker):
    mother = person(date(1990, 2, 2), "female", "applicant", employed=True)
    son = person(date(2022, 6, 1), "male", "child")
    poor = evidence([mother, son], "30000.00")
    rich = evidence([person(date(1980, 1, 1), "male", "applicant", employed=True)], "900000.00")
    async with running_service("eligibility") as client:
        await publish(broker.bootstrap, "qamqor.verification", poor)
        await publish(broker.bootstrap, "qamqor.verification", rich)

        async def decided():
            async with client.app.state.sessionmaker() as session:
                return await session.scalar(select(func.count()).select_from(DecisionRecord).where(
                    DecisionRecord.application_id.in_([poor.payload().application.application_id,
                                                       rich.payload().application.application_id]))) == 2

        await eventually(decided)
        poor_id = poor.payload().application.application_id
        async with client.app.state.sessionmaker() as session:
            rows = (await session.execute(select(Assignment).where(Assignment.application_id.in_(
                [poor_id, rich.payload().application.application_id])))).scalars().all()
            assert [r.family_id for r in rows] == [poor_id]  # the refused family is not a recipient
            [row] = rows
            decision = await session.scalar(select(DecisionRecord).where(DecisionRecord.application_id == poor_id))
            assert row.decision_id == decision.id and row.period_quarter == "2026-Q4"
            assert row.eligible and row.kind == "conditional" and row.contract_state == "drafting"
            assert row.months == ["2026-11", "2026-12"]
            assert row.total == [m["total"] for m in decision.result["monthly"]]
            assert row.quarter_total == sum(row.total) and row.settlement == "rural"
            assert row.composition == composition_of(poor.payload().members) and row.member_count == 2
            members = (await session.execute(select(AssignmentMember).where(AssignmentMember.family_id == poor_id)
                                             .order_by(AssignmentMember.position))).scalars().all()
            assert [m.iin for m in members] == [mother["iin"], son["iin"]]

            chunks = [c async for c in stream_register(session, "2026-Q4", chunk_size=1)]
            mine = [c for c in chunks if c.family_id == [poor_id]]
            assert len(mine) == 1 and all(c.families == 1 for c in chunks)
            chunk = mine[0]
            assert chunk.iin.tolist() == [mother["iin"], son["iin"]]
            # Decided again as it was decided: the bulk path gives the same amounts.
            from services.eligibility.reassessment.register import income_columns
            incomes = income_columns([mother["iin"]] * 3, ["2026-07", "2026-08", "2026-09"], ["wage"] * 3,
                                     ["30000.00"] * 3)
            columns = chunk.to_columns(extension=False, income_iin=incomes[0], income_month=incomes[1],
                                       income_type=incomes[2], income_amount=incomes[3])
            again = decide_columns(columns, await client.app.state.parameters.current())
            assert bool(again.eligible[0]) and int(again.months[0]) == 2
            assert [int(again.tsa[j, 0] + again.child_supplement[j, 0]) for j in range(2)] == row.total
            # resuming after the last family read gives nothing more of it
            rest = [c async for c in stream_register(session, "2026-Q4", after_family_id=poor_id)]
            assert all(poor_id not in c.family_id for c in rest)
