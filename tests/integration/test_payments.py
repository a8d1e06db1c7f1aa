"""Payments: every month paid exactly once; conditional assignments wait for the contract;
banks report statuses only for their own orders."""

from __future__ import annotations

import uuid
from datetime import date, datetime, timezone

from sqlalchemy import func, select

from services.payments.models import Payment, PaymentOrder
from shared.events import Envelope
from shared.events.contracts import ContractSigned
from shared.outbox import outbox
from tests.support import (
    assert_documents_what_it_answers,
    assert_family_scoped,
    assert_refused_without_scope,
    decided_event,
    eventually,
    person,
    publish,
)

READ = frozenset({"payments:read"})
BANK = frozenset({"bank:callbacks"})
RELEASE = frozenset({"payments:release"})


async def test_schedule_once_per_month_and_bank_statuses(running_service, broker, internal_token):
    grandmother = person(date(1952, 8, 8), "female", "applicant")
    mother = person(date(1995, 8, 8), "female", "applicant")
    unconditional = decided_event(kind="unconditional", members=[grandmother])
    conditional = decided_event(kind="conditional", members=[mother])
    uncond_app = unconditional.data["application"]["application_id"]
    cond_app = conditional.data["application"]["application_id"]
    async with running_service("payments") as client:
        await publish(broker.bootstrap, "qamqor.eligibility", unconditional, times=3)
        await publish(broker.bootstrap, "qamqor.eligibility", conditional)

        async def schedule(app_id, citizen):
            async def check():
                rows = (await client.get("/v1/payments", params={"application_id": app_id},
                                         headers=internal_token("portal", READ, citizen=citizen))).json()
                return rows or None
            return check

        payments = await eventually(await schedule(uncond_app, grandmother["iin"]))
        assert [(p["month"], p["total"], p["status"], p["orders"]) for p in payments] == [
            ("2026-11", 25596, "planned", []), ("2026-12", 25596, "planned", [])]

        # Conditional: nothing until the contract is signed.
        assert (await client.get("/v1/payments", params={"application_id": cond_app},
                                 headers=internal_token("portal", READ, citizen=mother["iin"]))).json() == []
        signed = Envelope.wrap(ContractSigned(
            contract_id=uuid.uuid4(), application_id=uuid.UUID(cond_app),
            decision_id=uuid.UUID(conditional.data["decision_id"]), signed_at=datetime.now(timezone.utc),
        ), source="contracts", key=cond_app)
        await publish(broker.bootstrap, "qamqor.contracts", signed, times=2)
        assert len(await eventually(await schedule(cond_app, mother["iin"]))) == 2
        async with client.app.state.sessionmaker() as session:
            assert await session.scalar(select(func.count()).select_from(Payment).where(
                Payment.application_id.in_([uuid.UUID(uncond_app), uuid.UUID(cond_app)]))) == 4

        # Nothing for the banks before a release: a plan is not an order.
        orders = (await client.get("/v1/banks/HSBKKZKX/payment-orders", params={"limit": 1000},
                                   headers=internal_token("bank", BANK, bank_code="HSBKKZKX"))).json()
        assert orders == []
        released = await client.post("/v1/payments/releases", json={"month": "2026-11"},
                                     headers=internal_token("admin", RELEASE))
        assert released.status_code == 200, released.text
        batches = (await client.get("/v1/banks/HSBKKZKX/payment-orders", params={"limit": 1000},
                                    headers=internal_token("bank", BANK, bank_code="HSBKKZKX"))).json()
        order = next(o for b in batches for o in b["orders"] if o["payment_id"] == payments[0]["id"])
        assert (order["month"], order["component"], order["amount"], order["iban"]) == (
            "2026-11", "tsa", 25596, "KZ86125KZT5004100100")
        settle = {"order_id": order["id"], "status": "settled", "amount": "25596"}
        await assert_refused_without_scope(client, internal_token, "POST", "/v1/banks/HSBKKZKX/payment-status",
                                           "bank:callbacks", json=settle)
        async with client.app.state.sessionmaker() as session:
            assert await session.scalar(select(PaymentOrder.status).where(
                PaymentOrder.id == uuid.UUID(order["id"]))) == "released"
            assert await session.scalar(select(func.count()).select_from(outbox).where(
                outbox.c.event_type.in_(["payment.settled", "payment.failed"]))) == 0
        other_bank = await client.post("/v1/banks/KCJBKZKX/payment-status", json=settle,
                                       headers=internal_token("bank", BANK, bank_code="KCJBKZKX"))
        assert other_bank.status_code == 403  # not this bank's order
        spoofed = await client.post("/v1/banks/HSBKKZKX/payment-status", json=settle,
                                    headers=internal_token("bank", BANK, bank_code="KCJBKZKX"))
        assert spoofed.status_code == 403
        settled = await client.post("/v1/banks/HSBKKZKX/payment-status", json=settle,
                                    headers=internal_token("bank", BANK, bank_code="HSBKKZKX"))
        assert settled.status_code == 200 and settled.json()["status"] == "settled"
        flip = await client.post("/v1/banks/HSBKKZKX/payment-status",
                                 json={"order_id": order["id"], "status": "failed", "reason": "account_closed"},
                                 headers=internal_token("bank", BANK, bank_code="HSBKKZKX"))
        assert flip.status_code == 409


async def test_payments_are_read_by_the_family_and_the_case_workers_of_its_region_only(
        running_service, broker, internal_token):
    father = person(date(1980, 9, 9), "male", "applicant")
    daughter = person(date(2021, 9, 9), "female", "child")
    decided = decided_event(kind="unconditional", members=[father, daughter], region="550000000")
    app_id = decided.data["application"]["application_id"]
    async with running_service("payments") as client:
        await publish(broker.bootstrap, "qamqor.eligibility", decided)
        as_daughter = internal_token("portal", READ, citizen=daughter["iin"])

        async def scheduled():
            return (await client.get("/v1/payments", params={"application_id": app_id}, headers=as_daughter)).json()

        payments = await eventually(scheduled)
        listed = await assert_family_scoped(client, internal_token, "/v1/payments", params={"application_id": app_id},
                                            scope="payments:read", member_iin=daughter["iin"],
                                            region_kato="550000000", listing=True)
        assert listed.json() == payments
        assert listed.headers["x-qamqor-data-subjects"] == f"{father['iin']},{daughter['iin']}"
        one = await assert_family_scoped(client, internal_token, f"/v1/payments/{payments[0]['id']}",
                                         scope="payments:read", member_iin=daughter["iin"], region_kato="550000000")
        assert one.json() == payments[0]
        # the bank routes name a bank code the way the route table does
        odd = await client.get("/v1/banks/hsbk/payment-orders",
                               headers=internal_token("bank", BANK, bank_code="hsbk"))
        assert odd.status_code == 422 and odd.json()["errors"][0]["field"] == "path.bank_code"


async def test_every_route_refuses_a_caller_without_its_scope(running_service, internal_token):
    some_id = uuid.uuid4()
    async with running_service("payments") as client:
        for method, path, scope, request in [
            ("GET", "/v1/payments", "payments:read", {"params": {"application_id": str(some_id)}}),
            ("GET", f"/v1/payments/{some_id}", "payments:read", {}),
            ("GET", "/v1/banks/HSBKKZKX/payment-orders", "bank:callbacks", {}),
            ("POST", "/v1/banks/HSBKKZKX/payment-status", "bank:callbacks",
             {"json": {"order_id": str(some_id), "status": "settled", "amount": "1"}}),
            ("POST", f"/v1/banks/HSBKKZKX/batches/{some_id}/ack", "bank:callbacks", {"json": {"checksum": "0" * 64}}),
            ("POST", "/v1/payments/releases", "payments:release", {"json": {"month": "2026-12"}}),
            ("GET", "/v1/payments/reconciliation", "stats:read", {"params": {"month": "2026-12"}}),
            ("POST", f"/v1/payments/{some_id}/reissue", "payments:write",
             {"json": {"iban": "KZ86125KZT5004100100", "bank_code": "HSBKKZKX"}}),
        ]:
            await assert_refused_without_scope(client, internal_token, method, path, scope, **request)


def test_the_openapi_documents_each_answer_and_error():
    assert_documents_what_it_answers("payments")


async def test_a_signature_and_a_termination_before_the_decision_are_parked_not_dead_lettered(
        running_service, broker, internal_token):
    from services.payments.models import ContractFacts
    from shared.events.contracts import ContractTerminated

    mother = person(date(1993, 7, 7), "female", "applicant")
    conditional = decided_event(kind="conditional", members=[mother])
    app_id = uuid.UUID(conditional.data["application"]["application_id"])
    decision_id = uuid.UUID(conditional.data["decision_id"])
    async with running_service("payments") as client:
        await publish(broker.bootstrap, "qamqor.contracts", Envelope.wrap(ContractSigned(
            contract_id=uuid.uuid4(), application_id=app_id, decision_id=decision_id,
            signed_at=datetime.now(timezone.utc)), source="contracts", key=str(app_id)))
        await publish(broker.bootstrap, "qamqor.contracts", Envelope.wrap(ContractTerminated(
            contract_id=uuid.uuid4(), application_id=app_id, terminated_on=date(2026, 11, 14),
            reason="non_fulfilment", member_iins=[mother["iin"]]), source="contracts", key=str(app_id)))

        async def parked():
            async with client.app.state.sessionmaker() as session:
                facts = await session.get(ContractFacts, app_id)
                return facts if facts is not None and facts.signed_decision_id and facts.terminated_on else None
        await eventually(parked)
        await publish(broker.bootstrap, "qamqor.eligibility", conditional)

        async def planned():
            return (await client.get("/v1/payments", params={"application_id": str(app_id)},
                                     headers=internal_token("portal", READ, citizen=mother["iin"]))).json() or None
        months = await eventually(planned)
        # November, the termination month, is paid; December never is.
        assert [(m["month"], m["status"]) for m in months] == [("2026-11", "planned"), ("2026-12", "cancelled")]
        async with client.app.state.sessionmaker() as session:
            [scheduled] = (await session.execute(select(outbox.c.envelope).where(
                outbox.c.event_type == "payment.scheduled", outbox.c.key == str(app_id)))).scalars().all()
        assert [p["month"] for p in scheduled["data"]["payments"]] == ["2026-11"]


async def test_a_withdrawal_stops_every_month_whether_it_comes_before_or_after_the_decision(
        running_service, broker, internal_token):
    from shared.events.contracts import ApplicationWithdrawn

    def withdrawn(app_id: str) -> Envelope:
        return Envelope.wrap(ApplicationWithdrawn(application_id=uuid.UUID(app_id), reason="no_longer_needed",
                                                  withdrawn_at=datetime.now(timezone.utc)),
                             source="intake", key=app_id)

    first, second = person(date(1951, 2, 2), "female", "applicant"), person(date(1950, 3, 3), "male", "applicant")
    decided_first = decided_event(kind="unconditional", members=[first])
    decided_second = decided_event(kind="unconditional", members=[second])
    first_app = decided_first.data["application"]["application_id"]
    second_app = decided_second.data["application"]["application_id"]
    async with running_service("payments") as client:
        async def months(app_id: str, citizen: str, wanted: str):  # noqa: ANN202
            async def check():  # noqa: ANN202
                rows = (await client.get("/v1/payments", params={"application_id": app_id},
                                         headers=internal_token("portal", READ, citizen=citizen))).json()
                return rows if rows and all(r["status"] == wanted for r in rows) else None
            return await eventually(check, timeout=60)  # the shared broker may hold a backlog to read first

        # After the decision: the planned months are cancelled.
        await publish(broker.bootstrap, "qamqor.eligibility", decided_first)
        await months(first_app, first["iin"], "planned")
        await publish(broker.bootstrap, "qamqor.intake", withdrawn(first_app), times=2)
        assert len(await months(first_app, first["iin"], "cancelled")) == 2
        # Before it (the events crossed): parked, then applied to the decision.
        await publish(broker.bootstrap, "qamqor.intake", withdrawn(second_app))
        await publish(broker.bootstrap, "qamqor.eligibility", decided_second)
        assert len(await months(second_app, second["iin"], "cancelled")) == 2
        # A release orders nothing for either family.
        released = await client.post("/v1/payments/releases", json={"month": "2026-12"},
                                     headers=internal_token("admin", RELEASE))
        assert released.status_code in (200, 201), released.text
        async with client.app.state.sessionmaker() as session:
            assert await session.scalar(select(func.count()).select_from(PaymentOrder).where(
                PaymentOrder.application_id.in_([uuid.UUID(first_app), uuid.UUID(second_app)]))) == 0


async def test_a_decision_and_a_withdrawal_handled_at_the_same_moment_leave_nothing_to_pay(running_service):
    """Two lanes (the eligibility and intake topics) may handle one application's decision and its
    withdrawal at once: they take turns, so the withdrawal is applied whichever comes first."""
    import asyncio

    from services.payments import service
    from shared.events.contracts import ApplicationWithdrawn

    async with running_service("payments") as client:
        sessionmaker = client.app.state.sessionmaker

        async def handle(handler, envelope) -> None:  # noqa: ANN001
            async with sessionmaker() as session, session.begin():
                await handler(session, envelope)

        apps = []
        for _ in range(12):
            decided = decided_event(kind="unconditional", members=[person(date(1950, 5, 5), "female", "applicant")])
            app_id = decided.data["application"]["application_id"]
            withdrawn = Envelope.wrap(ApplicationWithdrawn(application_id=uuid.UUID(app_id), reason="other",
                                                           withdrawn_at=datetime.now(timezone.utc)),
                                      source="intake", key=app_id)
            await asyncio.gather(handle(service.assign_on_approval, decided),
                                 handle(service.stop_on_withdrawal, withdrawn))
            apps.append(uuid.UUID(app_id))
        async with sessionmaker() as session:
            statuses = (await session.execute(select(Payment.status).where(Payment.application_id.in_(apps)))).scalars()
            assert set(statuses) == {"cancelled"}
