"""Case file: one conditional family from its decision to the ban on its next application, through
the real eligibility, contracts and payments services in one process (real PostgreSQL and broker),
each caller with the gateway's internal token, the clock travelled to the case's days.

- 4 January 2027: the family — Aigul (the applicant, unemployed), her husband Marat (able-bodied,
  unemployed) and their son Timur (three) — is decided eligible, conditionally, for January to
  March 2027. The contract is drafted from that decision.
- 5 January: Marat tries to sign the contract and is refused; Aigul signs it.
- 6 January: the case worker of Turkestan region offers Marat job placement and public works.
- 14 January: Marat refuses the public works: the contract is terminated on that day.
- 20 January: January is released; Halyk pulls its batch, acknowledges it and settles the family's
  orders — the decision's January total, tenge by tenge. February and March are never ordered.
- 1 May: Marat applies again, as the applicant of his own family: refused, BAN_ACTIVE until the
  ban's end (14 January + ban_months). The day after that end he is considered again.
"""

from __future__ import annotations

import hashlib
import uuid
from datetime import date, datetime, timedelta

import time_machine
from sqlalchemy import select

from services.eligibility.domain.rules import add_months
from services.eligibility.models import ContractTermination, DecisionRecord
from shared.calendar import ALMATY
from shared.events import Envelope
from shared.events.contracts import (
    BankAccount,
    CaseContext,
    FamilyMember,
    IncomeRecord,
    VerificationCompleted,
)
from shared.outbox import outbox
from tests.support import HALYK_IBAN, eventually, person, publish

HALYK = "HSBKKZKX"
REGION = "610000000"  # Turkestan region
TURKESTAN = frozenset({"61"})
TERMINATED_ON = date(2027, 1, 14)

PARAMETERS = frozenset({"parameters:read", "parameters:write"})
SIGN = frozenset({"contracts:sign", "contracts:read"})
CASE_WORK = frozenset({"contracts:write", "contracts:read", "payments:read"})
RELEASE = frozenset({"payments:release"})
BANK = frozenset({"bank:callbacks"})
STATS = frozenset({"stats:read"})
PORTAL_PAYMENTS = frozenset({"payments:read"})

QUARTER_MONTHS = {"2026-Q4": ("2026-10", "2026-11", "2026-12"), "2027-Q1": ("2027-01", "2027-02", "2027-03"),
                  "2027-Q2": ("2027-04", "2027-05", "2027-06")}


def almaty(day: date, hour: int = 10) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=ALMATY)


def evidence(members: list[dict], application_date: date, assessed: str, wage: int) -> Envelope:
    """`verification.completed` as verification emits it: the family, its account at Halyk and the
    applicant's wage over the assessed quarter."""
    application_id = uuid.uuid4()
    return Envelope.wrap(VerificationCompleted(
        application=CaseContext(application_id=application_id, application_date=application_date,
                                region_kato=REGION, settlement="urban", channel="egov",
                                bank_account=BankAccount(iban=HALYK_IBAN, bank_code=HALYK)),
        evidence_id=uuid.uuid4(), assessment_quarter=assessed,
        members=[FamilyMember(**m) for m in members],
        incomes=[IncomeRecord(iin=members[0]["iin"], type="wage", month=m, amount=f"{wage}.00")
                 for m in QUARTER_MONTHS[assessed]],
    ), source="verification", key=str(application_id))


async def test_a_conditional_family_terminated_mid_quarter_is_paid_january_only_and_banned(
        running_service, broker, internal_token):
    aigul = person(date(1991, 3, 3), "female", "applicant")
    marat = person(date(1989, 4, 4), "male", "spouse")
    timur = person(date(2023, 5, 5), "male", "child")
    application = evidence([aigul, marat, timur], date(2027, 1, 4), "2026-Q4", wage=30000)
    app_id = application.key

    with time_machine.travel(almaty(date(2027, 1, 4), 9), tick=True) as clock:
        async with running_service("eligibility") as eligibility, running_service("contracts") as contracts, \
                running_service("payments") as payments:
            # The administrator records 2027's figures (the shipped files end with 2026).
            for body in ({"name": "mci", "valid_from": "2027-01-01", "valid_to": "2027-12-31", "value": "4325"},
                         {"name": "subsistence_minimum", "valid_from": "2027-01-01", "valid_to": "2027-12-31",
                          "value": "50851"},
                         {"name": "median_income", "region_kato": REGION, "valid_from": "2027-01-01",
                          "valid_to": "2027-12-31", "value": "101702"}):
                recorded = await eligibility.post("/v1/parameters", json=body,
                                                  headers=internal_token("admin", PARAMETERS))
                assert recorded.status_code == 201, recorded.text

            # ── 4 January: decided eligible, conditionally, for the first quarter ──────────────
            await publish(broker.bootstrap, "qamqor.verification", application)

            async def announced(service, event_type: str, key: str = app_id):  # noqa: ANN001, ANN202
                async with service.app.state.sessionmaker() as session:
                    rows = (await session.execute(select(outbox.c.envelope).where(
                        outbox.c.event_type == event_type, outbox.c.key == key))).scalars().all()
                return [row["data"] for row in rows]

            [decision] = await eventually(lambda: announced(eligibility, "eligibility.decided"), timeout=60)
            assert (decision["eligible"], decision["kind"], decision["period_quarter"]) == (True, "conditional",
                                                                                            "2027-Q1")
            assert sorted(decision["able_bodied_iins"]) == sorted([aigul["iin"], marat["iin"]])
            due = {m["month"]: m for m in decision["monthly"]}
            assert list(due) == ["2027-01", "2027-02", "2027-03"]
            assert all(m["tsa"] > 0 and m["child_supplement"] > 0 and m["total"] == m["tsa"] + m["child_supplement"]
                       for m in due.values()), due

            worker = lambda: internal_token("case_worker", CASE_WORK, caller_id="cw-turkestan",  # noqa: E731
                                            regions=TURKESTAN)

            async def contract_of_family():  # noqa: ANN202
                found = (await contracts.get("/v1/contracts", params={"application_id": app_id},
                                             headers=worker())).json()
                return found[0] if found else None

            contract = await eventually(contract_of_family, timeout=60)
            cid = contract["id"]
            assert contract["status"] == "drafted" and contract["ends_on"] == "2027-03-31"
            assert f"ИИН {marat['iin']}" in contract["text"]["ru"]

            async def plan_months(expected: list[str]):  # noqa: ANN202
                """The family's plan months as the portal shows them to Aigul, once their statuses are
                `expected`."""
                rows = (await payments.get("/v1/payments", params={"application_id": app_id}, headers=internal_token(
                    "portal", PORTAL_PAYMENTS, citizen=aigul["iin"]))).json()
                return rows if [r["status"] for r in rows] == expected else None

            # ── 5 January: the husband may not sign; the applicant signs ────────────────────────
            clock.move_to(almaty(date(2027, 1, 5)))
            by_marat = await contracts.post(f"/v1/contracts/{cid}/sign", headers=internal_token(
                "portal", SIGN, citizen=marat["iin"]))
            assert by_marat.status_code == 403 and by_marat.json()["type"].endswith("/applicant-signs"), by_marat.text
            signed = await contracts.post(f"/v1/contracts/{cid}/sign", headers=internal_token(
                "portal", SIGN, caller_id="portal-egov", citizen=aigul["iin"]))
            assert signed.status_code == 200 and signed.json()["status"] == "signed", signed.text
            # A deadline, not a measurement: the session's one broker may hold other tests' events
            # that this fresh service reads through first.
            months = await eventually(lambda: plan_months(["planned", "planned", "planned"]), timeout=60)
            assert [(m["month"], m["tsa"], m["child_supplement"], m["total"]) for m in months] == [
                (k, v["tsa"], v["child_supplement"], v["total"]) for k, v in due.items()]

            # ── 6 January: two measures for the husband ─────────────────────────────────────────
            clock.move_to(almaty(date(2027, 1, 6)))
            measures = f"/v1/contracts/{cid}/measures"
            for measure, note in (("job_placement", "Referred to the employment centre of Turkestan"),
                                  ("public_works", "Landscaping of the city park, 3 months")):
                offered = await contracts.post(measures, headers=worker(), json={
                    "member_iin": marat["iin"], "measure": measure, "note": note})
                assert offered.status_code == 201, offered.text
            placement, works = offered.json()["measures"]
            assert (placement["measure"], works["measure"]) == ("job_placement", "public_works")
            accepted = await contracts.patch(f"{measures}/{placement['id']}", headers=worker(), json={
                "status": "accepted", "note": "Agreed to interviews", "on": "2027-01-06"})
            assert accepted.status_code == 200, accepted.text

            # ── 14 January: he refuses the public works — the contract ends that day ────────────
            clock.move_to(almaty(TERMINATED_ON, 11))
            refused = await contracts.patch(f"{measures}/{works['id']}", headers=worker(), json={
                "status": "refused", "note": "Refused the public works in writing", "on": TERMINATED_ON.isoformat()})
            assert refused.status_code == 200, refused.text
            ended = refused.json()
            assert (ended["status"], ended["terminated_on"], ended["termination_reason"]) == (
                "terminated", "2027-01-14", "refused_measures")
            [terminated] = await announced(contracts, "contract.terminated")
            assert terminated["terminated_on"] == "2027-01-14"
            assert sorted(terminated["member_iins"]) == sorted([aigul["iin"], marat["iin"], timur["iin"]])
            # Payments stops the whole family's payments after January.
            months = await eventually(lambda: plan_months(["planned", "cancelled", "cancelled"]), timeout=60)
            plan_ids = {m["id"]: m["month"] for m in months}

            # ── 20 January: January is released, pulled, acknowledged and settled ─────────────
            clock.move_to(almaty(date(2027, 1, 20)))
            admin = internal_token("admin", RELEASE)
            january = await payments.post("/v1/payments/releases", json={"month": "2027-01"}, headers=admin)
            assert january.status_code == 200, january.text
            bank = internal_token("bank", BANK, bank_code=HALYK)
            batches = (await payments.get(f"/v1/banks/{HALYK}/payment-orders", params={"limit": 100},
                                          headers=bank)).json()
            [batch] = [b for b in batches if b["month"] == "2027-01"]
            lines = sorted(f"{o['id']}|{o['month']}|{o['component']}|{o['amount']}|{o['iban']}"
                           for o in batch["orders"])
            assert batch["checksum"] == hashlib.sha256("\n".join(lines).encode()).hexdigest()
            assert (batch["count"], batch["total"]) == (len(batch["orders"]), sum(o["amount"] for o in batch["orders"]))
            ack = await payments.post(f"/v1/banks/{HALYK}/batches/{batch['id']}/ack",
                                      json={"checksum": batch["checksum"]}, headers=bank)
            assert ack.status_code == 200 and ack.json()["acknowledged_at"], ack.text
            ours = sorted((o for o in batch["orders"] if o["payment_id"] in plan_ids), key=lambda o: o["component"])
            assert [(o["component"], o["amount"], o["iban"]) for o in ours] == [
                ("child_supplement", due["2027-01"]["child_supplement"], HALYK_IBAN),
                ("tsa", due["2027-01"]["tsa"], HALYK_IBAN)]
            for order in ours:
                settled = await payments.post(f"/v1/banks/{HALYK}/payment-status", headers=bank, json={
                    "order_id": order["id"], "status": "settled", "amount": str(order["amount"])})
                assert settled.status_code == 200, settled.text

            # February and March: their releases make nothing for this family.
            for month in ("2027-02", "2027-03"):
                released = await payments.post("/v1/payments/releases", json={"month": month}, headers=admin)
                assert released.status_code == 200, released.text
            months = await plan_months(["settled", "cancelled", "cancelled"])
            assert months, "the family's months are not settled, cancelled, cancelled"
            january_paid = sum(o["amount"] for o in months[0]["orders"] if o["status"] == "settled")
            assert january_paid == due["2027-01"]["total"] == months[0]["total"]
            assert months[1]["orders"] == [] and months[2]["orders"] == []
            all_orders = [o for b in (await payments.get(f"/v1/banks/{HALYK}/payment-orders", params={
                "limit": 100, "acknowledged": "true"}, headers=bank)).json() + (await payments.get(
                    f"/v1/banks/{HALYK}/payment-orders", params={"limit": 100}, headers=bank)).json()
                for o in b["orders"]]
            assert {o["month"] for o in all_orders if o["payment_id"] in plan_ids} == {"2027-01"}

            # Reconciliation: January paid exactly the decision's total; nothing after it.
            ops = internal_token("ops", STATS)

            async def reconciliation(month: str) -> dict:
                answer = await payments.get("/v1/payments/reconciliation", params={"month": month, "bank_code": HALYK},
                                            headers=ops)
                assert answer.status_code == 200, answer.text
                return answer.json()

            jan = await reconciliation("2027-01")
            [halyk] = jan["banks"]
            assert halyk["settled"] == {"count": 2, "tenge": due["2027-01"]["total"]}  # nobody else was settled
            assert halyk["unexplained_tenge"] == 0 and jan["mismatches"] == [] and jan["anomalies"] == []
            for month in ("2027-02", "2027-03"):
                later = await reconciliation(month)
                figures = later["banks"][0] if later["banks"] else None
                assert figures is not None and figures["cancelled"]["tenge"] >= due[month]["total"], later
                assert figures["settled"] == {"count": 0, "tenge": 0} and later["mismatches"] == [], later
                assert not any(o["payment_id"] in plan_ids for o in all_orders if o["month"] == month)

            # ── Eligibility keeps the termination for each member ───────────────────────────────
            async def kept():  # noqa: ANN202
                async with eligibility.app.state.sessionmaker() as session:
                    return (await session.execute(select(ContractTermination).where(
                        ContractTermination.contract_id == uuid.UUID(cid)))).scalars().all()

            rows = await eventually(kept)
            assert {(r.iin, r.terminated_on) for r in rows} == {(m["iin"], TERMINATED_ON) for m in (aigul, marat, timur)}

            async def decision_of(envelope: Envelope):  # noqa: ANN202
                async with eligibility.app.state.sessionmaker() as session:
                    return await session.scalar(select(DecisionRecord).where(
                        DecisionRecord.application_id == envelope.payload().application.application_id))

            # ── 1 May: Marat applies again, for his own family with Timur: the ban holds ───────
            marat_applies = dict(marat, relation="applicant")
            clock.move_to(almaty(date(2027, 5, 1)))
            during = evidence([marat_applies, timur], date(2027, 5, 1), "2027-Q1", wage=30000)
            await publish(broker.bootstrap, "qamqor.verification", during)
            refused_again = await eventually(lambda: decision_of(during))
            assert refused_again.result["eligible"] is False
            [ban] = [r for r in refused_again.result["reasons"] if r["code"] == "BAN_ACTIVE"]
            facts = ban["params"]
            assert facts["contract_terminated_on"] == TERMINATED_ON.isoformat()
            ban_until = add_months(TERMINATED_ON, facts["ban_months"])
            assert facts["ban_until"] == ban_until.isoformat() == "2027-07-14"
            # Marat reads the refusal on the portal, in Russian: it names the ban's end, and made
            # again with what was known that day it is the same decision.
            shown = await eligibility.get(f"/v1/eligibility/decisions/{refused_again.id}", params={"recompute": "true"},
                                          headers=internal_token("portal", frozenset({"applications:read"}),
                                                                 citizen=marat["iin"]) | {"accept-language": "ru"})
            assert shown.status_code == 200, shown.text
            assert shown.json()["recomputed_identical"] is True, shown.json()["recomputed"]
            [reason] = [r for r in shown.json()["recomputed"]["reasons"] if r["code"] == "BAN_ACTIVE"]
            assert reason["params"] == facts and "2027-07-14" in reason["message"], reason

            # ── The first day after the ban: he is considered again ─────────────────────────────
            day_after = ban_until + timedelta(days=1)
            clock.move_to(almaty(day_after))
            after = evidence([marat_applies, timur], day_after, "2027-Q2", wage=30000)
            await publish(broker.bootstrap, "qamqor.verification", after)
            considered = await eventually(lambda: decision_of(after))
            assert "BAN_ACTIVE" not in {r["code"] for r in considered.result["reasons"]}
            assert considered.result["eligible"] is True, considered.result["reasons"]
