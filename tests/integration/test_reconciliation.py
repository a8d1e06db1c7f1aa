"""Nothing stays stuck, whatever the broker loses (issue 9, point 2). An event is lost the way a
broker loses it: its outbox row says published, and nothing reached a consumer. Intake's sweep,
at an injected time past the status's limit, asks the owners of the next step to re-drive the
application from their outboxes; it completes. A re-drive of what was delivered changes nothing,
and re-drives are bounded and spaced."""

from __future__ import annotations

import asyncio
import uuid
from datetime import date, timedelta

from sqlalchemy import func, select, update
from typer.testing import CliRunner

from qamqor_cli.main import app as cli
from services.eligibility.models import DecisionRecord
from services.intake import reconciliation
from services.intake import service as intake_service
from services.intake.models import Application, Redrive
from services.intake.schemas import ApplicationIn
from services.verification.models import Evidence
from shared.calendar import utcnow
from shared.events import Envelope
from shared.events.contracts import CaseContext, EligibilityDeferred, ReconciliationRequested
from shared.identity import Caller
from shared.outbox import inbox, outbox
from tests.support import application_body, eventually, person, publish, verification_systems, without_expenses


def _family() -> list[dict]:
    return [person(date(1985, 2, 2), "female", "applicant"), person(date(2016, 2, 2), "male", "child")]


async def _lost_submission(intake, family: list[dict]) -> str:  # noqa: ANN001
    """An application intake accepted whose `application.submitted` the broker lost: the relay
    marked it published, and no consumer ever saw it."""
    citizen = family[0]["iin"]
    caller = Caller(id="portal-test", kind="portal", scopes=frozenset({"applications:write"}), citizen_iin=citizen)
    async with intake.app.state.sessionmaker() as session, session.begin():
        status, created = await intake_service.submit(
            session=session, caller=caller, citizen=citizen, idempotency_key=str(uuid.uuid4()),
            body=ApplicationIn.model_validate(application_body(family, expense_check_consent=True)))
        assert status == 201
        await session.execute(update(outbox).where(outbox.c.key == created["id"]).values(published_at=func.now()))
    return created["id"]


async def _sweep(intake, now):  # noqa: ANN001, ANN202
    async with intake.app.state.sessionmaker() as session, session.begin():
        return await reconciliation.sweep(session, policy=reconciliation.ReconciliationPolicy.of(
            intake.app.state.settings), now=now)


async def _rows(client, key: str, event_type: str) -> list:  # noqa: ANN001
    async with client.app.state.sessionmaker() as session:
        return list((await session.execute(select(outbox).where(
            outbox.c.key == key, outbox.c.event_type == event_type).order_by(outbox.c.seq))).all())


async def _handled(client, event_id: uuid.UUID) -> bool:  # noqa: ANN001
    async with client.app.state.sessionmaker() as session:
        return await session.scalar(select(inbox.c.outcome).where(inbox.c.event_id == event_id)) is not None


async def _count(client, model, **where) -> int:  # noqa: ANN001
    async with client.app.state.sessionmaker() as session:
        return await session.scalar(select(func.count()).select_from(model).filter_by(**where))


async def test_a_lost_event_is_re_driven_and_a_re_drive_of_what_was_delivered_changes_nothing(
        running_service, broker, sandbox_url, internal_token):
    family = _family()
    portal = internal_token("portal", citizen=family[0]["iin"])
    async with running_service("intake") as intake, \
            running_service("verification", **verification_systems(sandbox_url)) as verification, \
            running_service("eligibility") as eligibility:
        await without_expenses(sandbox_url, family)
        application_id = await _lost_submission(intake, family)
        app_uuid = uuid.UUID(application_id)

        async def application(*statuses: str):  # noqa: ANN202
            shown = (await intake.get(f"/v1/applications/{application_id}", headers=portal)).json()
            return shown if shown["status"] in statuses else None

        assert await application("submitted")
        # Within its time limit (10 minutes in `submitted`) the sweep leaves it alone.
        assert await _sweep(intake, utcnow()) == []

        [redriven] = await _sweep(intake, utcnow() + timedelta(hours=1))
        assert (redriven.application_id, redriven.status, redriven.owner, redriven.redrive, redriven.attempt,
                redriven.last) == (app_uuid, "submitted", "verification", ("intake", "verification"), 1, False)
        # Intake re-published its own submission (same event id), and asked verification to.
        [submission] = await _rows(intake, application_id, "application.submitted")
        assert submission.headers["x-qamqor-redrive"] == "submitted #1"
        [request] = await _rows(intake, application_id, "reconciliation.requested")
        assert request.envelope["data"]["redrive"] == ["intake", "verification"]

        # The application completes: verified, then decided.
        async def decided_and_complete():  # noqa: ANN202
            # The services report in parallel: intake may hear of the decision before the verification.
            shown = await application("approved", "rejected")
            return shown if shown is not None and len(shown["timeline"]) == 3 else None

        decided = await eventually(decided_and_complete, timeout=30)
        assert [s["status"] for s in decided["timeline"]] == ["submitted", "verified", decided["status"]]
        assert await _count(verification, Evidence, application_id=app_uuid) == 1
        assert await _count(eligibility, DecisionRecord, application_id=app_uuid) == 1
        async with intake.app.state.sessionmaker() as session:
            assert await session.scalar(select(Redrive.attempts).where(Redrive.application_id == app_uuid)) == 1

        # A re-drive of what was delivered: verification and eligibility re-publish their latest
        # events for it, with the same ids...
        await publish(broker.bootstrap, "qamqor.intake", Envelope.wrap(ReconciliationRequested(
            application_id=app_uuid, status="verified", owner="eligibility", redrive=["verification", "eligibility"],
            attempt=1, max_attempts=5, stuck_since=utcnow()), source="intake", key=application_id))

        async def republished(client, event_type: str):  # noqa: ANN001, ANN202
            [row] = await _rows(client, application_id, event_type)
            return row if row.headers.get("x-qamqor-redrive") == "verified #1" and row.published_at else None

        completed = await eventually(lambda: republished(verification, "verification.completed"))
        decision = await eventually(lambda: republished(eligibility, "eligibility.decided"))

        # ...and the services that had them ignore them. Markers published after them on their
        # partitions show when they have been consumed: another family's evidence (eligibility
        # decides it; intake, which does not know it, notes it) and a deferral (intake notes it).
        other = uuid.uuid4()
        other_context = {**completed.envelope["data"]["application"], "application_id": str(other)}
        evidence_marker = Envelope(type="verification.completed", source="verification", key=application_id,
                                   data={**completed.envelope["data"], "application": other_context,
                                         "evidence_id": str(uuid.uuid4())})
        deferral_marker = Envelope.wrap(EligibilityDeferred(
            application=CaseContext.model_validate(other_context), reason="MISSING_PARAMETER", detail="marker"),
            source="eligibility", key=application_id)
        await publish(broker.bootstrap, "qamqor.verification", evidence_marker)
        await publish(broker.bootstrap, "qamqor.eligibility", deferral_marker)
        assert await eventually(lambda: _count(eligibility, DecisionRecord, application_id=other))
        assert await eventually(lambda: _handled(intake, evidence_marker.id))
        assert await eventually(lambda: _handled(intake, deferral_marker.id))

        assert await _count(eligibility, DecisionRecord, application_id=app_uuid) == 1
        assert len(await _rows(eligibility, application_id, "eligibility.decided")) == 1
        assert len(await _rows(verification, application_id, "verification.completed")) == 1
        assert (await application(decided["status"]))["timeline"] == decided["timeline"]
        for event_id in (completed.event_id, decision.event_id):
            async with intake.app.state.sessionmaker() as session:
                assert await session.scalar(select(inbox.c.outcome).where(inbox.c.event_id == event_id)) == "handled"


async def test_re_drives_are_bounded_and_each_waits_twice_as_long(running_service):
    async with running_service("intake", QAMQOR_INTAKE_RECONCILIATION_MAX_ATTEMPTS="3") as intake:
        application_id = await _lost_submission(intake, _family())
        t0 = utcnow() + timedelta(hours=1)
        # The limit in `submitted` is 10 minutes: the 2nd re-drive is due 10 minutes after the
        # 1st, the 3rd (the last) 20 minutes after the 2nd; then none.
        sweeps = [t0, t0 + timedelta(minutes=9), t0 + timedelta(minutes=10), t0 + timedelta(minutes=29),
                  t0 + timedelta(minutes=30), t0 + timedelta(hours=5)]
        attempts = [[(r.attempt, r.last) for r in await _sweep(intake, now)] for now in sweeps]
        assert attempts == [[(1, False)], [], [(2, False)], [], [(3, True)], []]

        requests = await _rows(intake, application_id, "reconciliation.requested")
        assert [(r.envelope["data"]["attempt"], r.envelope["data"]["max_attempts"]) for r in requests] == [
            (1, 3), (2, 3), (3, 3)]
        [submission] = await _rows(intake, application_id, "application.submitted")
        assert submission.headers["x-qamqor-redrive"] == "submitted #3"


async def test_an_operator_sweeps_once_from_the_command_line(running_service):
    async with running_service("intake") as intake:
        application_id = await _lost_submission(intake, _family())
        async with intake.app.state.sessionmaker() as session, session.begin():
            # submitted an hour ago: past the 10 minutes' limit
            await session.execute(update(Application).where(Application.id == uuid.UUID(application_id))
                                  .values(updated_at=func.now() - timedelta(hours=1)))
        runner = CliRunner()
        dry = await asyncio.to_thread(runner.invoke, cli, ["reconcile", "--dry-run"])
        assert dry.exit_code == 0, dry.output
        assert application_id in dry.output and "would re-drive 1 stuck application(s)." in dry.output
        assert await _rows(intake, application_id, "reconciliation.requested") == []

        once = await asyncio.to_thread(runner.invoke, cli, ["reconcile", "--once"])
        assert once.exit_code == 0, once.output
        [line] = [line for line in once.output.splitlines() if line.startswith(application_id)]
        assert line.split()[1:2] == ["submitted"] and "intake, verification" in line and line.endswith("1/5")
        assert "re-drove 1 stuck application(s)." in once.output
        assert len(await _rows(intake, application_id, "reconciliation.requested")) == 1


async def test_a_family_still_asked_for_its_consent_is_not_re_driven(running_service, internal_token):
    family = _family()
    portal = internal_token("portal", citizen=family[0]["iin"])
    async with running_service("intake") as intake:
        created = await intake.post("/v1/applications", json=application_body(family),  # no consent given yet
                                    headers=portal | {"Idempotency-Key": str(uuid.uuid4())})
        assert created.status_code == 201, created.text
        [member] = [m for m in created.json()["members"] if m["consent"] is not None]
        assert member["consent"]["status"] == "requested"
        # An hour later the application is still `submitted`: its adult has not answered, which is
        # not a lost event; the sweep leaves it to the consent's own deadline.
        assert await _sweep(intake, utcnow() + timedelta(hours=1)) == []
        answered = await intake.post(f"/v1/consents/{member['consent']['id']}/reply", json={"answer": "yes"},
                                     headers=portal)
        assert answered.status_code == 200, answered.text
        # Once settled, a submission that moves no further is re-driven as before.
        [redriven] = await _sweep(intake, utcnow() + timedelta(hours=1))
        assert redriven.status == "submitted"
