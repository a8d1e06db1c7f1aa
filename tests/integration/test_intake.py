"""Intake against real PostgreSQL and the real broker. The portal submits and reads for the
citizen it acts for (a citizen-bound token): here, the family's applicant. Who sees what is in
tests/integration/intake/."""

from __future__ import annotations

import uuid
from datetime import date, timedelta

import httpx
import orjson
import pytest
from aiokafka import AIOKafkaConsumer
from sqlalchemy import func, select

from services.intake.models import Application
from shared.events import Envelope
from shared.events.contracts import VerificationCompleted
from shared.idempotency import idempotency_keys
from shared.outbox import outbox
from tests.support import application_body, assert_refused_without_scope, decided_event, eventually, person, publish


def _family():
    return [
        person(date(1990, 5, 17), "female", "applicant", phone="+77011234567"),
        person(date(2021, 3, 2), "male", "child"),
    ]


def _citizen(internal_token, family_or_body) -> dict[str, str]:  # noqa: ANN001
    """The portal acting for the family's applicant."""
    members = family_or_body["members"] if isinstance(family_or_body, dict) else family_or_body
    applicant = next((m for m in members if m.get("relation") == "applicant" and "iin" in m), members[0])
    return internal_token("portal", citizen=applicant["iin"])


async def test_submit_and_read_back(running_service, internal_token, broker):
    async with running_service("intake") as client:
        body = application_body(_family())
        headers = _citizen(internal_token, body) | {"Idempotency-Key": str(uuid.uuid4())}
        created = await client.post("/v1/applications", json=body, headers=headers)
        assert created.status_code == 201, created.text
        app = created.json()
        assert app["status"] == "submitted"
        assert [c["status"] for c in app["timeline"]] == ["submitted"]

        # Same key, same body: the same answer and no second application.
        again = await client.post("/v1/applications", json=body, headers=headers)
        assert again.status_code == 201 and again.json()["id"] == app["id"]

        # Same key, another body: refused.
        other = application_body(body["members"][:1] + [person(date(2022, 1, 5), "female", "child")])
        reused = await client.post("/v1/applications", json=other, headers=headers)
        assert reused.status_code == 422
        assert reused.headers["content-type"] == "application/problem+json"

        fetched = await client.get(f"/v1/applications/{app['id']}", headers=_citizen(internal_token, body))
        assert fetched.status_code == 200 and fetched.json()["members"][0]["iin"] == body["members"][0]["iin"]
        assert fetched.json()["members"][0]["phone"] == "+77011234567"  # the citizen's own family
        # The answer names whose data it carries; the gateway records the read.
        assert fetched.headers["x-qamqor-data-subjects"] == ",".join(m["iin"] for m in body["members"])
        assert created.headers["x-qamqor-data-subjects"] == fetched.headers["x-qamqor-data-subjects"]

        async with client.app.state.sessionmaker() as session:
            count = await session.scalar(select(func.count()).select_from(outbox).where(outbox.c.key == app["id"]))
        assert count == 1

        # The relay publishes application.submitted keyed by the application id.
        consumer = AIOKafkaConsumer("qamqor.intake", bootstrap_servers=broker.bootstrap,
                                    group_id=f"probe-{uuid.uuid4()}", auto_offset_reset="earliest")
        await consumer.start()
        try:
            found = None
            for _ in range(20):
                batch = await consumer.getmany(timeout_ms=500)
                for messages in batch.values():
                    for m in messages:
                        if m.key == app["id"].encode():
                            found = orjson.loads(m.value)
                if found:
                    break
        finally:
            await consumer.stop()
        assert found and found["type"] == "application.submitted"
        assert found["data"]["application"]["region_kato"] == "610000000"


async def test_one_active_application_per_person(running_service, internal_token):
    async with running_service("intake") as client:
        family = _family()
        first = await client.post("/v1/applications", json=application_body(family),
                                  headers=_citizen(internal_token, family) | {"Idempotency-Key": "k1"})
        assert first.status_code == 201
        second = await client.post("/v1/applications", json=application_body([family[0] | {"relation": "applicant"}]),
                                   headers=_citizen(internal_token, family) | {"Idempotency-Key": "k2"})
        assert second.status_code == 409
        problem = second.json()
        assert problem["errors"][0]["field"] == "members[0].iin"
        assert family[0]["iin"] not in second.text  # masked


@pytest.mark.parametrize("mutate, field", [
    (lambda b: b["members"][0].update(iin="791028302729"), "members[0].iin"),
    (lambda b: b["members"][0].update(birth_date="1991-05-17"), "members[0].birth_date"),
    (lambda b: b["members"][0].update(sex="male"), "members[0].sex"),
    (lambda b: b["members"][1].update(relation="applicant"), "members"),
    (lambda b: b.update(region_kato="990000000"), "region_kato"),
    (lambda b: b.update(region_kato="611010000"), "region_kato"),  # a Turkestan prefix, not a classifier code
    (lambda b: b["members"].append(dict(b["members"][1])), "members[2].iin"),
    (lambda b: b["members"][0].pop("full_name"), "members[0].full_name"),
    (lambda b: b["members"][0].update(full_name="   "), "members[0].full_name"),
    (lambda b: b["members"][0].update(full_name="A" * 201), "members[0].full_name"),
    (lambda b: b["members"][1].update(full_name="Timur\x00"), "members[1].full_name"),
    (lambda b: b["members"][1].update(full_name="Timur\nNurlanov"), "members[1].full_name"),
    (lambda b: b["members"][0].update(phone="87011234567"), "members[0].phone"),
    (lambda b: b["members"][0].update(iin="90051740123x"), "members[0].iin"),
    (lambda b: b["bank_account"].update(iban="XX"), "bank_account.iban"),
    (lambda b: b["bank_account"].update(iban="KZ21601KZT5004100100"), "bank_account.iban"),  # check digits
    # The README's old example: the National Bank's account paired with Halyk's BIC.
    (lambda b: b["bank_account"].update(iban="KZ86125KZT5004100100"), "bank_account.bank_code"),
    (lambda b: b["bank_account"].update(bank_code="NBRKKZKX"), "bank_account.bank_code"),
    (lambda b: b["bank_account"].update(bank_code="hsbkkzkx"), "bank_account.bank_code"),
    (lambda b: b.update(extension=True), "extension"),  # the system sets it
    (lambda b: b["members"][0].update(birth_date="2015-05-17", iin=person(date(2015, 5, 17), "female",
                                                                          "applicant")["iin"]),
     "members[0].birth_date"),  # a child cannot apply
])
async def test_bad_input_is_422_and_writes_nothing(running_service, internal_token, mutate, field):
    async with running_service("intake") as client:
        body = application_body(_family())
        mutate(body)
        response = await client.post("/v1/applications", json=body,
                                     headers=_citizen(internal_token, body) | {"Idempotency-Key": str(uuid.uuid4())})
        assert response.status_code == 422, response.text
        problem = response.json()
        assert response.headers["content-type"] == "application/problem+json"
        assert {"type", "title", "status", "detail"} <= problem.keys()
        assert field in [e["field"] for e in problem["errors"]]
        for member in body["members"]:  # no personal data in the problem
            for value in (member.get("iin"), member.get("full_name"), member.get("birth_date"), member.get("phone")):
                assert not value or value.strip() == "" or value not in response.text
        async with client.app.state.sessionmaker() as session:
            assert await session.scalar(select(func.count()).select_from(outbox)) == 0
            assert await session.scalar(select(func.count()).select_from(Application)) == 0


async def test_requests_without_internal_token_are_refused(running_service):
    async with running_service("intake") as client:
        response = await client.get(f"/v1/applications/{uuid.uuid4()}")
        assert response.status_code == 401
        assert response.headers["content-type"] == "application/problem+json"
        assert (await client.get("/health")).status_code == 200


async def test_unknown_application_is_404(running_service, internal_token):
    async with running_service("intake") as client:
        citizen = internal_token("portal", citizen=_family()[0]["iin"])
        response = await client.get(f"/v1/applications/{uuid.uuid4()}", headers=citizen)
        assert response.status_code == 404
        bad = await client.get("/v1/applications/not-a-uuid", headers=citizen)
        assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "path.application_id"


async def test_every_route_refuses_a_caller_without_its_scope_and_writes_nothing(running_service, internal_token):
    async with running_service("intake") as client:
        await assert_refused_without_scope(client, internal_token, "POST", "/v1/applications", "applications:write",
                                           json=application_body(_family()), headers={"Idempotency-Key": "k-403"})
        await assert_refused_without_scope(client, internal_token, "GET", "/v1/applications", "applications:read")
        await assert_refused_without_scope(client, internal_token, "GET", f"/v1/applications/{uuid.uuid4()}",
                                           "applications:read")
        await assert_refused_without_scope(client, internal_token, "GET", "/v1/fdc/families/900517401231/status",
                                           "applications:read")
        await assert_refused_without_scope(client, internal_token, "GET", "/v1/reference/banks", "parameters:read")
        await assert_refused_without_scope(client, internal_token, "PUT", "/v1/reference/banks/BRKEKZKA",
                                           "parameters:write", json={"code": "914", "name": "Bereke Bank"})
        async with client.app.state.sessionmaker() as session:
            for table in (Application.__table__, idempotency_keys, outbox):
                assert await session.scalar(select(func.count()).select_from(table)) == 0, table.name


async def test_the_status_follows_the_decision_and_a_rejection_frees_the_family(running_service, internal_token,
                                                                               broker):
    family = _family()
    async with running_service("intake") as client:
        created = await client.post("/v1/applications", json=application_body(family),
                                    headers=_citizen(internal_token, family) | {"Idempotency-Key": str(uuid.uuid4())})
        app_id = created.json()["id"]
        decided = decided_event(eligible=False, application_id=uuid.UUID(app_id))
        decided = decided.model_copy(update={"occurred_at": decided.occurred_at + timedelta(seconds=2)})
        await publish(broker.bootstrap, "qamqor.eligibility", decided, times=2)

        async def rejected():
            application = (await client.get(f"/v1/applications/{app_id}",
                                            headers=_citizen(internal_token, family))).json()
            return application if application["status"] == "rejected" else None

        application = await eventually(rejected)
        assert [c["status"] for c in application["timeline"]] == ["submitted", "rejected"]
        assert application["timeline"][1]["detail"] == {"reasons": ["INCOME_BELOW_POVERTY_LINE"]}
        assert application["decision"]["eligible"] is False

        # Verification's report, which happened before the decision, arrives after it (the topics
        # are consumed in parallel): the status stays, and the timeline shows it in its place.
        verified = Envelope.wrap(VerificationCompleted(
            application=decided.payload().application, evidence_id=uuid.uuid4(), assessment_quarter="2026-Q1",
            members=[], incomes=[]), source="verification", key=app_id).model_copy(
            update={"occurred_at": decided.occurred_at - timedelta(seconds=1)})
        await publish(broker.bootstrap, "qamqor.verification", verified)

        async def with_verification():
            application = (await client.get(f"/v1/applications/{app_id}",
                                            headers=_citizen(internal_token, family))).json()
            return application if len(application["timeline"]) == 3 else None

        application = await eventually(with_verification)
        assert application["status"] == "rejected"
        assert [c["status"] for c in application["timeline"]] == ["submitted", "verified", "rejected"]

        # A rejected application no longer holds its members: the family may apply again.
        again = await client.post("/v1/applications", json=application_body(family),
                                  headers=_citizen(internal_token, family) | {"Idempotency-Key": str(uuid.uuid4())})
        assert again.status_code == 201, again.text

        # ... and goes on along the flow: its application.submitted is published. Waiting for it
        # also keeps the relay's wake-up (NOTIFY) from coinciding with the shutdown: on Python 3.11
        # asyncio.wait_for then swallows the relay's cancellation and the shutdown never ends.
        async def published():
            async with client.app.state.sessionmaker() as session:
                return await session.scalar(select(outbox.c.published_at).where(
                    outbox.c.key == again.json()["id"], outbox.c.event_type == "application.submitted"))

        assert await eventually(published)


async def test_an_api_process_and_a_worker_process_share_intakes_work(running_service, internal_token, broker):
    """`qamqor up` runs intake as two processes (QAMQOR_INTAKE_ROLE): the "api" serves the routes
    and only writes the outbox; the "worker" publishes it and applies the events a citizen reads."""
    from services.intake.main import create_app
    from services.intake.settings import IntakeSettings

    async with running_service("intake", QAMQOR_INTAKE_ROLE="api") as api:
        assert api.app.state.relay is None
        family = _family()
        created = await api.post("/v1/applications", json=application_body(family),
                                 headers=_citizen(internal_token, family) | {"Idempotency-Key": str(uuid.uuid4())})
        assert created.status_code == 201, created.text
        app_id = created.json()["id"]
        async with api.app.state.sessionmaker() as session:  # nothing in this process publishes
            assert await session.scalar(select(func.count()).select_from(outbox).where(
                outbox.c.published_at.is_(None))) == 1
        assert (await api.get("/ready")).json()["checks"]["consumer"] is True  # none to wait for

        worker = create_app(IntakeSettings(role="worker"))
        async with worker.router.lifespan_context(worker):
            transport = httpx.ASGITransport(app=worker)
            async with httpx.AsyncClient(transport=transport, base_url="http://intake-worker") as work:
                # The worker serves no routes of the API, only the probes.
                unrouted = await work.get(f"/v1/applications/{app_id}", headers=_citizen(internal_token, family))
                assert unrouted.status_code == 404
                assert (await work.get("/health")).json()["role"] == "worker"

                async def published():
                    async with api.app.state.sessionmaker() as session:
                        return await session.scalar(select(func.count()).select_from(outbox).where(
                            outbox.c.published_at.is_(None))) == 0

                await eventually(published)
                await publish(broker.bootstrap, "qamqor.eligibility",
                              decided_event(eligible=False, application_id=uuid.UUID(app_id)))

                async def rejected():
                    application = (await api.get(f"/v1/applications/{app_id}",
                                                 headers=_citizen(internal_token, family))).json()
                    return application if application["status"] == "rejected" else None

                assert [c["status"] for c in (await eventually(rejected))["timeline"]] == ["submitted", "rejected"]
