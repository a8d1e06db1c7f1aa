"""Verification: evidence from the income registry (the sandbox, over HTTP), exactly once."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime

import httpx
from sqlalchemy import func, select

from services.verification import domain, repository
from services.verification.models import Evidence
from shared.events import Envelope
from shared.events.contracts import ApplicationSubmitted, BankAccount, CaseContext, FamilyMember
from shared.outbox import inbox, outbox
from tests.support import assert_documents_what_it_answers, assert_family_scoped, assert_refused_without_scope, eventually, person, publish, verification_systems


def submitted_event(members: list[dict], application_date: date = date(2026, 11, 22),
                    region: str = "610000000") -> Envelope:
    application_id = uuid.uuid4()
    return Envelope.wrap(ApplicationSubmitted(
        application=CaseContext(application_id=application_id, application_date=application_date,
                                region_kato=region, settlement="rural", channel="egov",
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
    async with running_service("verification", **verification_systems(sandbox_url)) as client:
        await publish(broker.bootstrap, "qamqor.intake", event, times=2, request_id="req-from-gateway-1")
        app_id = event.data["application"]["application_id"]

        async def evidence():
            response = await client.get(f"/v1/verifications/{app_id}",
                                        headers=internal_token("portal", citizen=mother["iin"]))
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


async def test_evidence_is_read_by_the_family_and_the_case_workers_of_its_region_only(running_service,
                                                                                       internal_token):
    father = person(date(1984, 3, 3), "male", "applicant")
    son = person(date(2012, 3, 3), "male", "child")
    event = submitted_event([father, son], region="350000000")
    evidence, _ = domain.freeze(event.payload(), [], evidence_id=uuid.uuid4(), at=datetime(2026, 11, 22, tzinfo=UTC))
    async with running_service("verification") as client:
        async with client.app.state.sessionmaker() as session, session.begin():
            await repository.add(session, evidence)
        path = f"/v1/verifications/{evidence.application_id}"
        shown = await assert_family_scoped(client, internal_token, path, scope="applications:read",
                                           member_iin=son["iin"], region_kato="350000000")
        assert shown.json()["evidence_id"] == str(evidence.id)
        # the answer names every member whose incomes it shows
        assert shown.headers["x-qamqor-data-subjects"] == f"{father['iin']},{son['iin']}"
        unknown = await client.get(f"/v1/verifications/{uuid.uuid4()}",
                                   headers=internal_token("portal", citizen=son["iin"]))
        assert unknown.status_code == 404 and unknown.json()["detail"].startswith("No evidence gathered yet")


def test_the_openapi_documents_each_answer_and_error():
    assert_documents_what_it_answers("verification")
