"""Verification: evidence from the income registry (the sandbox, over HTTP), exactly once."""

from __future__ import annotations

import uuid
from datetime import date

import httpx
from sqlalchemy import func, select

from services.verification.models import Evidence
from shared.events import Envelope
from shared.events.contracts import ApplicationSubmitted, BankAccount, CaseContext, FamilyMember
from shared.outbox import inbox, outbox
from tests.support import assert_refused_without_scope, eventually, person, publish


def submitted_event(members: list[dict], application_date: date = date(2026, 11, 22)) -> Envelope:
    application_id = uuid.uuid4()
    return Envelope.wrap(ApplicationSubmitted(
        application=CaseContext(application_id=application_id, application_date=application_date,
                                region_kato="610000000", settlement="rural", channel="egov",
                                bank_account=BankAccount(iban="KZ86125KZT5004100100", bank_code="HSBKKZKX")),
        expense_check_consent=False,
        members=[FamilyMember(**{k: v for k, v in m.items()}) for m in members],
    ), source="intake", key=str(application_id))


async def test_gathers_assessment_quarter_incomes_once_even_if_delivered_twice(
        running_service, broker, sandbox_url, internal_token):
    mother = person(date(1990, 1, 1), "female", "applicant")
    async with httpx.AsyncClient(base_url=sandbox_url) as sandbox:
        await sandbox.put(f"/sandbox/persons/{mother['iin']}", json={"incomes": [
            {"month": "2026-06", "type": "wage", "amount": "99999.00"},  # Q2: outside the assessment quarter
            {"month": "2026-07", "type": "wage", "amount": "70000.00"},
            {"month": "2026-09", "type": "benefit", "amount": "15000.50"},
        ]})
    event = submitted_event([mother])
    async with running_service("verification", QAMQOR_VERIFICATION_INCOME_REGISTRY_URL=sandbox_url) as client:
        await publish(broker.bootstrap, "qamqor.intake", event, times=2, request_id="req-from-gateway-1")
        app_id = event.data["application"]["application_id"]

        async def evidence():
            response = await client.get(f"/v1/verifications/{app_id}", headers=internal_token("ops"))
            return response.json() if response.status_code == 200 else None

        found = await eventually(evidence)
        assert found["assessment_quarter"] == "2026-Q3"
        assert sorted((i["month"], i["type"], i["amount"]) for i in found["incomes"]) == [
            ("2026-07", "wage", "70000.00"), ("2026-09", "benefit", "15000.50")]

        async def settled():
            async with client.app.state.sessionmaker() as session:
                handled = await session.scalar(select(func.count()).select_from(inbox).where(inbox.c.event_id == event.id))
                rows = await session.scalar(select(func.count()).select_from(Evidence).where(
                    Evidence.application_id == uuid.UUID(app_id)))
                sent = await session.scalar(select(func.count()).select_from(outbox).where(
                    outbox.c.key == app_id, outbox.c.event_type == "verification.completed",
                    outbox.c.published_at.is_not(None)))
                return (handled, rows, sent) if sent else None

        assert await eventually(settled) == (1, 1, 1)
        async with client.app.state.sessionmaker() as session:
            headers = await session.scalar(select(outbox.c.headers).where(outbox.c.key == app_id))
        assert headers["x-request-id"] == "req-from-gateway-1"  # the request id travels with the events


async def test_the_evidence_route_refuses_a_caller_without_its_scope(running_service, internal_token):
    async with running_service("verification") as client:
        await assert_refused_without_scope(client, internal_token, "GET", f"/v1/verifications/{uuid.uuid4()}",
                                           "applications:read")
