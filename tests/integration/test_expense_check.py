"""Verification's expense check against real PostgreSQL, the real broker and the sandbox over HTTP
(issue 10): no bank is asked before the family consented; the bank request dispatcher sends each
request once it is committed and again while the bank is down; a bank's answer is recorded once,
and refused when it does not fit; a silent bank makes the application overdue, once."""

from __future__ import annotations

import uuid
from datetime import date, timedelta

import httpx
from sqlalchemy import func, select

from services.verification import service as verification_service
from services.verification.models import BankRequestRow, Evidence, WaitingApplication
from shared.calendar import utcnow
from shared.events import Envelope
from shared.events.contracts import ApplicationSubmitted, ConsentGranted, ConsentRecord
from shared.outbox import inbox, outbox
from tests.integration.test_verification import submitted_event
from tests.support import eventually, person, publish, verification_systems

HALYK, CENTERCREDIT = "HSBKKZKX", "KCJBKZKX"


def _expense_checked(members: list[dict]) -> Envelope:
    """A submission as intake sends it when every adult must consent."""
    event = submitted_event(members)
    return Envelope.wrap(event.payload().model_copy(update={"consent_required": True}), source="intake",
                         key=event.key)


def _granted(event: Envelope, iin: str) -> Envelope:
    now = utcnow()
    submitted: ApplicationSubmitted = event.payload()  # type: ignore[assignment]
    record = ConsentRecord(
        consent_id=uuid.uuid4(), application_id=submitted.application.application_id, iin=iin,
        purpose="tsa_expense_check", data_categories=["bank_cashflow_aggregates"], assessment_quarter="2026-Q3",
        controller="Ministry", legal_basis="consent", banks=[], method="portal", status="granted",
        requested_at=now, expires_at=now + timedelta(days=1), answered_at=now, answered_via="portal")
    return Envelope.wrap(ConsentGranted(consent=record, family_consent="granted"), source="intake", key=event.key)


async def _count(client, model, **where) -> int:  # noqa: ANN001
    async with client.app.state.sessionmaker() as session:
        return await session.scalar(select(func.count()).select_from(model).filter_by(**where))


async def _outbox(client, key: str, event_type: str) -> list:  # noqa: ANN001
    async with client.app.state.sessionmaker() as session:
        return list((await session.execute(select(outbox).where(outbox.c.key == key,
                                                                outbox.c.event_type == event_type))).all())


async def _requests(client, application_id: str) -> list[BankRequestRow]:  # noqa: ANN001
    async with client.app.state.sessionmaker() as session:
        return list((await session.execute(select(BankRequestRow).where(
            BankRequestRow.application_id == uuid.UUID(application_id)))).scalars())


async def _family_at(sandbox: httpx.AsyncClient, bank: str, *, behaviour: dict) -> dict:
    adult = person(date(1987, 4, 4), "female", "applicant")
    await sandbox.put(f"/sandbox/persons/{adult['iin']}", json={"incomes": []})
    await sandbox.put(f"/sandbox/persons/{adult['iin']}/purchases", json={"purchases": []})
    await sandbox.put(f"/sandbox/persons/{adult['iin']}/accounts", json={"banks": [bank]})
    (await sandbox.put(f"/sandbox/banks/{bank}/behaviour", json=behaviour)).raise_for_status()
    return adult


async def test_a_banks_answer_is_recorded_once_and_one_that_does_not_fit_is_refused(
        running_service, broker, sandbox_url, internal_token):
    async with httpx.AsyncClient(base_url=sandbox_url) as sandbox:
        adult = await _family_at(sandbox, HALYK, behaviour={"failure": "silent"})  # acknowledges, never answers
        submitted = _expense_checked([adult])
        app_id = submitted.key
        try:
            async with running_service("verification", **verification_systems(sandbox_url)) as client:
                await publish(broker.bootstrap, "qamqor.intake", submitted)
                # Gathered, then waiting for the family: no request to any bank, no evidence.
                async def handled():  # noqa: ANN202
                    async with client.app.state.sessionmaker() as session:
                        return await session.scalar(select(inbox.c.outcome).where(inbox.c.event_id == submitted.id))
                assert await eventually(handled)
                assert await _requests(client, app_id) == []
                assert await _count(client, Evidence, application_id=uuid.UUID(app_id)) == 0
                await publish(broker.bootstrap, "qamqor.intake", _granted(submitted, adult["iin"]))

                async def sent():  # noqa: ANN202
                    rows = await _requests(client, app_id)
                    return rows if rows and rows[0].acknowledged_at is not None else None

                [request] = await eventually(sent)
                assert request.bank_code == HALYK and request.iin == adult["iin"] and request.quarter == "2026-Q3"
                [asked] = (await sandbox.get("/sandbox/banks/requests", params={"iin": adult["iin"]})).json()["requests"]
                assert asked["request_id"] == str(request.id)

                bank = internal_token("bank", scopes={"bank:callbacks"}, bank_code=HALYK)
                other_bank = internal_token("bank", scopes={"bank:callbacks"}, bank_code=CENTERCREDIT)
                body = {"request_id": str(request.id), "iin": adult["iin"], "quarter": "2026-Q3",
                        "total_spending": "412000.50", "non_mortgage_loans": "0.00", "savings_deposits": "0.00"}
                path = f"/v1/banks/{HALYK}/cashflow"

                async def post(json, headers=bank, to=path):  # noqa: ANN001, ANN202
                    return await client.post(to, json=json, headers=headers)

                # Hostile input: a clear 422 naming the field, nothing written.
                for bad, field in ((body | {"total_spending": "-1"}, "total_spending"),
                                   (body | {"total_spending": "1.001"}, "total_spending"),
                                   (body | {"total_spending": 412000.5}, "total_spending"),  # never a float
                                   (body | {"iin": "12345"}, "iin"), (body | {"quarter": "2026-Q5"}, "quarter"),
                                   (body | {"request_id": "not-a-uuid"}, "request_id"),
                                   ({k: v for k, v in body.items() if k != "savings_deposits"}, "savings_deposits"),
                                   (body | {"extra": "1"}, "extra")):
                    refused = await post(bad)
                    assert refused.status_code == 422, (bad, refused.text)
                    assert refused.headers["content-type"] == "application/problem+json"
                    assert any(field in e["field"] for e in refused.json()["errors"]), refused.json()
                # Another caller kind, another bank, a request nobody sent, another person: refused.
                assert (await post(body, headers=internal_token("portal", citizen=adult["iin"]))).status_code == 403
                assert (await post(body, headers=other_bank)).status_code == 403  # its token, Halyk's path
                foreign = await post(body, headers=other_bank, to=f"/v1/banks/{CENTERCREDIT}/cashflow")
                assert foreign.status_code == 403 and foreign.json()["type"].endswith("other-banks-request")
                unknown = await post(body | {"request_id": str(uuid.uuid4())})
                assert unknown.status_code == 409 and unknown.json()["errors"][0]["field"] == "request_id"
                mismatch = await post(body | {"iin": person(date(1970, 1, 1), "male", "spouse")["iin"]})
                assert mismatch.status_code == 409 and mismatch.json()["errors"][0]["field"] == "iin"
                assert await _count(client, Evidence, application_id=uuid.UUID(app_id)) == 0

                recorded = await post(body)
                assert recorded.status_code == 200 and recorded.json()["status"] == "recorded"
                again = await post(body)
                assert again.status_code == 200 and again.json()["status"] == "already_recorded"
                changed = await post(body | {"total_spending": "1.00"})
                assert changed.status_code == 409 and changed.json()["type"].endswith("already-answered")

                assert await _count(client, Evidence, application_id=uuid.UUID(app_id)) == 1
                [completed] = await _outbox(client, app_id, "verification.completed")
                expenses = completed.envelope["data"]["expenses"]
                assert expenses == {"consent": True, "purchases": [], "account_spending": "412000.50",
                                    "non_mortgage_loans": "0.00", "savings_deposits": "0.00"}
        finally:
            await sandbox.put(f"/sandbox/banks/{HALYK}/behaviour", json={})


async def test_a_consent_that_finds_the_accounts_registry_down_is_kept_while_the_application_waits(
        running_service, broker, sandbox_url):
    """The consent event changes the check, then the accounts registry fails: the check is written
    back with the consent all the same, and the retry loop asks the banks once the registry is back."""
    async with httpx.AsyncClient(base_url=sandbox_url) as sandbox:
        adult = await _family_at(sandbox, HALYK, behaviour={"failure": "silent"})
        submitted = _expense_checked([adult])
        app_id = uuid.UUID(submitted.key)
        granted = _granted(submitted, adult["iin"])

        async def accounts_down(down: bool) -> None:
            (await sandbox.put("/sandbox/outages/accounts-registry", json={"down": down})).raise_for_status()

        try:
            async with running_service("verification", **verification_systems(sandbox_url),
                                       QAMQOR_VERIFICATION_OUTAGE_FIRST_RETRY_SECONDS="0.05",
                                       QAMQOR_VERIFICATION_OUTAGE_MAX_RETRY_SECONDS="0.2") as client:
                sessionmaker = client.app.state.sessionmaker
                await publish(broker.bootstrap, "qamqor.intake", submitted)

                async def handled(event_id):  # noqa: ANN001, ANN202
                    async with sessionmaker() as session:
                        return await session.scalar(select(inbox.c.outcome).where(inbox.c.event_id == event_id))
                assert await eventually(lambda: handled(submitted.id))
                await accounts_down(True)
                await publish(broker.bootstrap, "qamqor.intake", granted)

                async def waiting():  # noqa: ANN202
                    async with sessionmaker() as session:
                        return await session.get(WaitingApplication, app_id)
                assert (await eventually(waiting)).system == "accounts_registry"
                async with sessionmaker() as session:
                    check, _ = await verification_service.repository.lock_check(session, app_id)
                assert check.family_consent == "granted" and check.gathered is not None
                assert [r["iin"] for r in check.consents.values()] == [adult["iin"]]
                assert check.banks_asked_at is None and await _requests(client, str(app_id)) == []

                await accounts_down(False)
                [request] = await eventually(lambda: _requests(client, str(app_id)))
                assert request.bank_code == HALYK and request.iin == adult["iin"]
                assert await eventually(lambda: _gone(sessionmaker, app_id))
        finally:
            await accounts_down(False)
            await sandbox.put(f"/sandbox/banks/{HALYK}/behaviour", json={})


async def _gone(sessionmaker, application_id: uuid.UUID) -> bool:  # noqa: ANN001
    async with sessionmaker() as session:
        return await session.get(WaitingApplication, application_id) is None


async def test_a_bank_that_is_down_is_asked_again_and_a_silent_one_makes_the_application_overdue_once(
        running_service, broker, sandbox_url, internal_token):
    async with httpx.AsyncClient(base_url=sandbox_url) as sandbox:
        adult = await _family_at(sandbox, CENTERCREDIT, behaviour={"failure": "down"})
        submitted = _expense_checked([adult])
        app_id = submitted.key
        try:
            async with running_service("verification", **verification_systems(sandbox_url),
                                       QAMQOR_VERIFICATION_OUTAGE_FIRST_RETRY_SECONDS="0.05",
                                       QAMQOR_VERIFICATION_OUTAGE_MAX_RETRY_SECONDS="0.2") as client:
                await publish(broker.bootstrap, "qamqor.intake", submitted)
                await publish(broker.bootstrap, "qamqor.intake", _granted(submitted, adult["iin"]))

                async def failing():  # noqa: ANN202
                    rows = await _requests(client, app_id)
                    return rows[0] if rows and rows[0].attempts >= 2 else None

                request = await eventually(failing)
                assert request.acknowledged_at is None and request.last_error == f"bank {CENTERCREDIT} answered 503"
                assert adult["iin"] not in request.last_error

                # Back, but silent: the request is taken, the answer never comes.
                await sandbox.put(f"/sandbox/banks/{CENTERCREDIT}/behaviour", json={"failure": "silent"})

                async def acknowledged():  # noqa: ANN202
                    rows = await _requests(client, app_id)
                    return rows[0] if rows[0].acknowledged_at is not None else None

                await eventually(acknowledged)
                sessionmaker = client.app.state.sessionmaker
                async with sessionmaker() as session:
                    check, _ = await verification_service.repository.lock_check(session, uuid.UUID(app_id))
                deadline = check.bank_deadline
                assert deadline > check.banks_asked_at
                # The sweep, at an injected time: nothing before the deadline, one event at it, none after.
                assert await verification_service.mark_overdue(sessionmaker=sessionmaker,
                                                               now=deadline - timedelta(seconds=1)) == 0
                assert await verification_service.mark_overdue(sessionmaker=sessionmaker, now=deadline) == 1
                assert await verification_service.mark_overdue(sessionmaker=sessionmaker,
                                                               now=deadline + timedelta(days=3)) == 0
                [overdue] = await _outbox(client, app_id, "verification.overdue")
                assert overdue.envelope["data"]["banks"] == [CENTERCREDIT]
                assert await _count(client, Evidence, application_id=uuid.UUID(app_id)) == 0  # never on missing data
                metrics = (await client.get("/metrics")).text
                assert 'qamqor_verifications_overdue{service="verification"} 1.0' in metrics

                # The late answer still completes it.
                late = await client.post(f"/v1/banks/{CENTERCREDIT}/cashflow", headers=internal_token(
                    "bank", scopes={"bank:callbacks"}, bank_code=CENTERCREDIT), json={
                    "request_id": str(request.id), "iin": adult["iin"], "quarter": "2026-Q3",
                    "total_spending": "10.00", "non_mortgage_loans": "0.00", "savings_deposits": "0.00"})
                assert late.status_code == 200 and late.json()["status"] == "recorded"
                assert len(await _outbox(client, app_id, "verification.completed")) == 1
        finally:
            await sandbox.put(f"/sandbox/banks/{CENTERCREDIT}/behaviour", json={})

