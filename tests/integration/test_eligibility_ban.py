"""Eligibility applies the ban (art. 128): contracts announces a termination, eligibility keeps it
per member, and a later application containing any member of that family is refused with
BAN_ACTIVE while its date is on or before the ban's end; the day after, it is decided as usual."""

from __future__ import annotations

import uuid
from datetime import date

from sqlalchemy import select

from services.eligibility.models import ContractTermination, DecisionRecord
from shared.events import Envelope
from shared.events.contracts import (
    BankAccount,
    CaseContext,
    ContractTerminated,
    FamilyMember,
    IncomeRecord,
    VerificationCompleted,
)
from tests.support import eventually, on_partition_of, person, publish

ADMIN = frozenset({"parameters:read", "parameters:write"})
TERMINATED_ON = date(2027, 1, 14)
BAN_UNTIL = date(2027, 7, 14)  # six months (ban_months) after the termination, inclusive


def evidence(members: list[dict], application_date: date) -> Envelope:
    application_id = uuid.uuid4()
    assessment = {5: "2027-Q1", 7: "2027-Q2"}[application_date.month]
    months = {"2027-Q1": ("2027-01", "2027-02", "2027-03"), "2027-Q2": ("2027-04", "2027-05", "2027-06")}[assessment]
    return Envelope.wrap(VerificationCompleted(
        application=CaseContext(application_id=application_id, application_date=application_date,
                                region_kato="610000000", settlement="urban", channel="egov",
                                bank_account=BankAccount(iban="KZ86125KZT5004100100", bank_code="HSBKKZKX")),
        evidence_id=uuid.uuid4(), assessment_quarter=assessment,
        members=[FamilyMember(**m) for m in members],
        incomes=[IncomeRecord(iin=members[0]["iin"], type="wage", month=m, amount="30000.00") for m in months],
    ), source="verification", key=str(application_id))


async def test_a_member_of_a_terminated_contracts_family_is_banned_until_its_end(running_service, broker,
                                                                                 internal_token):
    mother = person(date(1991, 3, 3), "female", "applicant")
    father = person(date(1989, 4, 4), "male", "spouse")
    son = person(date(2015, 5, 5), "male", "child")
    terminated = Envelope.wrap(ContractTerminated(
        contract_id=uuid.uuid4(), application_id=uuid.uuid4(), terminated_on=TERMINATED_ON,
        reason="refused_measures", member_iins=[mother["iin"], father["iin"], son["iin"]]),
        source="contracts", key=str(uuid.uuid4()))
    # The father applies again, now as the applicant of a new family with the son.
    father_applies = dict(father, relation="applicant")
    during = evidence([father_applies, son], date(2027, 5, 1))
    after = evidence([father_applies, son], date(2027, 7, 15))
    async with running_service("eligibility") as client:
        # 2027's figures (the shipped files end with 2026)
        for body in ({"name": "mci", "valid_from": "2027-01-01", "valid_to": "2027-12-31", "value": "4325"},
                     {"name": "subsistence_minimum", "valid_from": "2027-01-01", "valid_to": "2027-12-31",
                      "value": "50851"},
                     {"name": "median_income", "region_kato": "610000000", "valid_from": "2027-01-01",
                      "valid_to": "2027-12-31", "value": "101702"}):
            recorded = await client.post("/v1/parameters", json=body, headers=internal_token("admin", ADMIN))
            assert recorded.status_code == 201, recorded.text

        await publish(broker.bootstrap, "qamqor.contracts", terminated, times=2)  # delivered twice: kept once

        async def kept():
            async with client.app.state.sessionmaker() as session:
                return (await session.execute(select(ContractTermination).where(
                    ContractTermination.contract_id == terminated.payload().contract_id))).scalars().all()

        rows = await eventually(kept)
        assert sorted(r.iin for r in rows) == sorted([mother["iin"], father["iin"], son["iin"]])
        assert {r.terminated_on for r in rows} == {TERMINATED_ON}

        await publish(broker.bootstrap, "qamqor.verification", during)
        await publish(broker.bootstrap, "qamqor.verification", on_partition_of(after, during))

        async def decision_of(envelope: Envelope):
            async with client.app.state.sessionmaker() as session:
                return await session.scalar(select(DecisionRecord).where(
                    DecisionRecord.application_id == envelope.payload().application.application_id))

        refused = await eventually(lambda: decision_of(during))
        assert refused.result["eligible"] is False
        [ban] = [r for r in refused.result["reasons"] if r["code"] == "BAN_ACTIVE"]
        assert ban["params"]["ban_until"] == BAN_UNTIL.isoformat()
        assert ban["params"]["contract_terminated_on"] == TERMINATED_ON.isoformat()
        assert ban["params"]["ban_months"] == 6
        assert refused.case_input["history"]["contract_terminated_on"] == TERMINATED_ON.isoformat()

        considered = await eventually(lambda: decision_of(after))
        assert "BAN_ACTIVE" not in {r["code"] for r in considered.result["reasons"]}
        assert considered.result["eligible"] is True, considered.result["reasons"]
