"""Outages are waited out, not dead-lettered (issue 9, point 4): the real sandbox's income registry
is made to fail and then to return. While it is down an application waits — visibly, in its
timeline — and is retried from the database with backoff; it resumes by itself when the registry
answers again, and is given up on (a dead letter an operator can replay) only after the configured
wait. An event that can never succeed still goes to the dead-letter topic at once.

Time: the first test uses small configured delays; the others drive the retry loop's use case with
an injected `now`, so a wait of hours is passed over without sleeping."""

from __future__ import annotations

import uuid
from contextlib import asynccontextmanager
from datetime import date, timedelta

import httpx
from sqlalchemy import func, select

from services.verification import consumers as verification_consumers
from services.verification import service as verification_service
from services.verification.models import Evidence, WaitingApplication
from shared.events import Envelope
from shared.outbox import inbox, outbox
from tests.integration.test_verification import submitted_event
from tests.support import application_body, eventually, on_partition_of, person, publish, verification_systems, without_expenses

# Tried again after 0.05 s, then at most every 0.2 s: a few retries while the test looks.
FAST_RETRIES = {"QAMQOR_VERIFICATION_OUTAGE_FIRST_RETRY_SECONDS": "0.05",
                "QAMQOR_VERIFICATION_OUTAGE_MAX_RETRY_SECONDS": "0.2"}
# Retried by the loop only after an hour, given up on after two: the test moves time itself.
SLOW_RETRIES = {"QAMQOR_VERIFICATION_OUTAGE_FIRST_RETRY_SECONDS": "3600",
                "QAMQOR_VERIFICATION_OUTAGE_MAX_RETRY_SECONDS": "3600",
                "QAMQOR_VERIFICATION_OUTAGE_GIVE_UP_AFTER_SECONDS": "7200"}


@asynccontextmanager
async def registry_down(sandbox_url: str):
    """The sandbox's income registry answers 503 until the block ends (or `.back()` is called)."""
    async with httpx.AsyncClient(base_url=sandbox_url) as sandbox:
        async def set_down(down: bool) -> None:
            response = await sandbox.put("/sandbox/outages/income-registry", json={"down": down})
            assert response.status_code == 200 and response.json()["down"] is down, response.text

        await set_down(True)
        try:
            yield set_down
        finally:
            await set_down(False)


async def _waiting_row(client, application_id) -> WaitingApplication | None:  # noqa: ANN001
    async with client.app.state.sessionmaker() as session:
        return await session.get(WaitingApplication, uuid.UUID(str(application_id)))


async def _outbox_rows(client, key: str, event_type: str) -> list:  # noqa: ANN001
    async with client.app.state.sessionmaker() as session:
        return list((await session.execute(select(outbox).where(outbox.c.key == key,
                                                                outbox.c.event_type == event_type))).all())


async def test_an_outage_is_waited_out_and_the_application_resumes_by_itself(running_service, sandbox_url,
                                                                              internal_token):
    family = [person(date(1988, 4, 4), "female", "applicant"), person(date(2019, 4, 4), "male", "child")]
    portal = internal_token("portal", citizen=family[0]["iin"])
    await without_expenses(sandbox_url, family)
    async with registry_down(sandbox_url) as registry, \
            running_service("verification", **verification_systems(sandbox_url),
                            **FAST_RETRIES) as verification, \
            running_service("intake") as intake:
        created = await intake.post("/v1/applications", json=application_body(family, expense_check_consent=True),
                                    headers=portal | {"Idempotency-Key": str(uuid.uuid4())})
        assert created.status_code == 201, created.text
        application_id = created.json()["id"]

        async def application(status: str):  # noqa: ANN202
            shown = (await intake.get(f"/v1/applications/{application_id}", headers=portal)).json()
            return shown if shown["status"] == status else None

        # The citizen sees that the application waits, and on what.
        waits = await eventually(lambda: application("waiting_for_income_registry"))
        step = waits["timeline"][-1]
        assert step["status"] == "waiting_for_income_registry" and step["detail"]["system"] == "income_registry"

        # It is tried again and again while it waits, each failure noted without personal data...
        row = await eventually(lambda: _retried(verification, application_id))
        assert row.system == "income_registry" and row.last_error == "the income registry answered 503"
        assert not any(m["iin"] in row.last_error for m in family)
        # ...and the wait is announced once, not at every try.
        assert len(await _outbox_rows(verification, application_id, "verification.waiting")) == 1

        await registry(False)
        verified = await eventually(lambda: application("verified"))
        assert [s["status"] for s in verified["timeline"]] == ["submitted", "waiting_for_income_registry", "verified"]
        assert await _waiting_row(verification, application_id) is None
        async with verification.app.state.sessionmaker() as session:
            assert await session.scalar(select(func.count()).select_from(Evidence).where(
                Evidence.application_id == uuid.UUID(application_id))) == 1
        metrics = (await verification.get("/metrics")).text
        assert 'qamqor_applications_waiting{service="verification",system="income_registry"}' in metrics


async def _retried(client, application_id) -> WaitingApplication | None:  # noqa: ANN001
    row = await _waiting_row(client, application_id)
    return row if row is not None and row.attempts >= 3 else None


async def test_a_long_outage_is_given_up_on_visibly_and_the_others_resume_when_the_registry_returns(
        running_service, broker, sandbox_url):
    first = submitted_event([person(date(1981, 5, 5), "male", "applicant")])
    second = submitted_event([person(date(1982, 6, 6), "female", "applicant")])
    first_id, second_id = first.key, second.key
    async with registry_down(sandbox_url) as registry, \
            running_service("verification", **verification_systems(sandbox_url),
                            **SLOW_RETRIES) as verification:
        app = verification.app
        policy = verification_consumers.outage_policy(app.state.settings)

        async def retry_at(now):  # noqa: ANN001, ANN202 - the retry loop's round, at an injected time
            return await verification_service.retry_waiting(
                sessionmaker=app.state.sessionmaker, registries=verification_consumers.registries(app), policy=policy,
                availability=app.state.availability, now=now)

        async def tried(application_id: str):  # noqa: ANN202
            row = await _waiting_row(verification, application_id)
            return row if row is not None and row.attempts >= 1 else None

        await publish(broker.bootstrap, "qamqor.intake", first)
        waiting_first = await eventually(lambda: tried(first_id))

        # The registry is known to be down now: the next application is parked without a call from
        # the consumer (its announcement says 0 attempts), and the retry loop tries it at once.
        await publish(broker.bootstrap, "qamqor.intake", second)
        waiting_second = await eventually(lambda: tried(second_id))
        [announced] = await _outbox_rows(verification, second_id, "verification.waiting")
        assert announced.envelope["data"]["attempts"] == 0
        assert waiting_second.next_attempt_at - waiting_second.since >= timedelta(minutes=30)  # now it backs off

        # Two hours pass without an answer: the first application's wait ends. It goes to the
        # dead-letter topic, as the consumer would have sent it, for an operator to replay.
        await retry_at(waiting_first.since + timedelta(hours=2))
        assert await _waiting_row(verification, first_id) is None
        [dead] = [row for row in await _outbox_rows(verification, first_id, "application.submitted")
                  if row.topic == "qamqor.dead-letter"]
        assert dead.event_id == first.id and dead.envelope["id"] == str(first.id)
        assert dead.headers["failed_in"] == "verification" and dead.headers["original_topic"] == "qamqor.intake"
        assert dead.headers["error"].startswith("income_registry unavailable: waited 2.0 h since ")
        assert dead.headers["error"].endswith("; last: the income registry answered 503")
        async with app.state.sessionmaker() as session:
            assert await session.scalar(select(inbox.c.outcome).where(inbox.c.event_id == first.id)) == "dead_lettered"
        metrics = (await verification.get("/metrics")).text
        assert 'qamqor_applications_given_up_total{service="verification",system="income_registry"}' in metrics

        # The second has waited less: it is tried again at the end of its own wait at the latest...
        still = await _waiting_row(verification, second_id)
        assert still is not None and still.attempts >= 2
        assert still.next_attempt_at <= still.since + timedelta(hours=2)
        # ...and the registry answers again by then: its evidence is gathered, nothing waits.
        await registry(False)
        await retry_at(still.next_attempt_at)
        assert await _waiting_row(verification, second_id) is None
        [completed] = await _outbox_rows(verification, second_id, "verification.completed")
        assert completed.envelope["causation_id"] == str(second.id)
        assert not app.state.availability.is_down("income_registry")  # new applications call it again


async def test_an_event_that_can_never_succeed_still_goes_to_the_dead_letter_topic_at_once(
        running_service, broker, sandbox_url):
    # the registry refuses our request (the IIN is malformed): waiting would not help
    refused = submitted_event([person(date(1983, 7, 7), "male", "applicant", iin="12345")])
    # not an application.submitted at all: its members are missing
    invalid = Envelope(type="application.submitted", source="intake", key=str(uuid.uuid4()),
                       data={"application": refused.data["application"], "expense_check_consent": False})
    fine = submitted_event([person(date(1984, 8, 8), "female", "applicant")])
    async with running_service("verification", **verification_systems(sandbox_url)) as verification:
        await publish(broker.bootstrap, "qamqor.intake", refused)
        await publish(broker.bootstrap, "qamqor.intake", on_partition_of(invalid, refused))
        # published after them on their partition: once it is verified, they have been handled
        await publish(broker.bootstrap, "qamqor.intake", on_partition_of(fine, refused))
        fine_id = fine.data["application"]["application_id"]
        assert await eventually(lambda: _outbox_rows(verification, fine_id, "verification.completed"))

        async with verification.app.state.sessionmaker() as session:
            dead = {row.event_id: row for row in (await session.execute(
                select(outbox).where(outbox.c.topic == "qamqor.dead-letter",
                                     outbox.c.event_id.in_([refused.id, invalid.id])))).all()}
            waiting = await session.scalar(select(func.count()).select_from(WaitingApplication).where(
                WaitingApplication.application_id.in_([uuid.UUID(refused.key)])))
        assert set(dead) == {refused.id, invalid.id}
        assert dead[refused.id].headers["error"] == "PermanentError: the income registry answered 422"
        assert dead[invalid.id].headers["error"].startswith("ValidationError: ")
        assert all(row.headers["failed_in"] == "verification" for row in dead.values())
        assert waiting == 0
