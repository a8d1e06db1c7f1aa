"""An application's life ends (issue 12): a family withdraws its application until a payment is
scheduled (`application.withdrawn` announced once, in the same transaction), and an assigned
application stops holding its members once its assignment period is over — at the door, or by
the period-end sweep — so they may apply again. The clock is travelled to the days concerned."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import replace
from datetime import date, datetime

import pytest
import time_machine
from sqlalchemy import select

from services.intake import domain, periods, repository
from shared.calendar import ALMATY
from shared.outbox import outbox
from tests.support import application_body, decided_event, person

PROBLEM_JSON = "application/problem+json"
FAMILY = [person(date(1988, 8, 8), "female", "applicant"), person(date(2019, 9, 9), "male", "child")]


def almaty(day: date, hour: int = 10) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=ALMATY)


def portal(internal_token, iin: str = FAMILY[0]["iin"]) -> dict[str, str]:  # noqa: ANN001
    return internal_token("portal", citizen=iin)


async def submit(client, internal_token, family=FAMILY):  # noqa: ANN001, ANN201
    return await client.post("/v1/applications", json=application_body(family),
                             headers=portal(internal_token, family[0]["iin"]) | {"Idempotency-Key": str(uuid.uuid4())})


async def decide(client, application_id: str, *, status: str | None = None) -> None:  # noqa: ANN001
    """Eligibility approves the application for 2026-Q4 (November and December paid); `status`:
    then moved on to it (as contracts and payments would)."""
    envelope = decided_event(application_id=uuid.UUID(application_id))
    async with client.app.state.sessionmaker() as session, session.begin():
        application = await repository.get(session, uuid.UUID(application_id), for_update=True)
        followed, change = domain.follow(application, envelope.payload(), event_id=envelope.id,
                                         at=envelope.occurred_at)
        if status is not None:
            followed = replace(followed, status=status)
        await repository.save(session, followed, change)


async def withdrawn_events(client, application_id: str) -> list[dict]:  # noqa: ANN001
    async with client.app.state.sessionmaker() as session:
        rows = await session.execute(select(outbox.c.envelope).where(
            outbox.c.key == application_id, outbox.c.event_type == "application.withdrawn"))
        return [row.envelope for row in rows]


async def test_a_family_withdraws_before_payment_and_may_apply_again(running_service, internal_token):
    with time_machine.travel(almaty(date(2026, 11, 22)), tick=True):
        async with running_service("intake") as client:
            created = await submit(client, internal_token)
            assert created.status_code == 201, created.text
            app_id = created.json()["id"]
            assert (await submit(client, internal_token)).status_code == 409  # it holds its members

            # The child's citizen token is a member of the family too.
            response = await client.post(f"/v1/applications/{app_id}/withdraw", json={"reason": "no_longer_needed"},
                                         headers=portal(internal_token, FAMILY[1]["iin"]))
            assert response.status_code == 200, response.text
            assert response.json()["status"] == "withdrawn"
            assert response.json()["timeline"][-1]["detail"] == {"reason": "no_longer_needed"}

            events = await withdrawn_events(client, app_id)
            assert len(events) == 1
            assert events[0]["data"]["application_id"] == app_id
            assert events[0]["data"]["reason"] == "no_longer_needed"
            assert not any(m["iin"] in str(events[0]) for m in FAMILY)  # no personal data

            again = await client.post(f"/v1/applications/{app_id}/withdraw", json={"reason": "other"},
                                      headers=portal(internal_token))
            assert again.status_code == 409 and again.headers["content-type"] == PROBLEM_JSON
            assert again.json()["type"].endswith("/not-withdrawable")
            assert len(await withdrawn_events(client, app_id)) == 1  # announced once

            applied_again = await submit(client, internal_token)
            assert applied_again.status_code == 201, applied_again.text


@pytest.mark.parametrize("status", ["payments_scheduled", "contract_signed"])
async def test_an_application_paid_is_not_withdrawn(running_service, internal_token, status):
    with time_machine.travel(almaty(date(2026, 11, 22)), tick=True):
        async with running_service("intake") as client:
            app_id = (await submit(client, internal_token)).json()["id"]
            await decide(client, app_id, status=status)
            response = await client.post(f"/v1/applications/{app_id}/withdraw", json={"reason": "other"},
                                         headers=portal(internal_token))
            assert response.status_code == 409, response.text
            assert response.headers["content-type"] == PROBLEM_JSON
            assert response.json()["errors"] == [{"field": "status", "message": f"'{status}' is past withdrawal"}]
            assert await withdrawn_events(client, app_id) == []


@pytest.mark.parametrize("body", [
    {}, {"reason": ""}, {"reason": "my IIN is 880808400000"}, {"reason": "other\x00"}, {"reason": 7},
    {"reason": ["other"]}, {"reason": "other", "extra": 1}, {"reason": "o" * 10_000},
])
async def test_a_hostile_withdrawal_is_refused_naming_the_reason(running_service, internal_token, body):
    async with running_service("intake") as client:
        app_id = (await submit(client, internal_token)).json()["id"]
        response = await client.post(f"/v1/applications/{app_id}/withdraw", json=body, headers=portal(internal_token))
        assert response.status_code == 422, response.text
        assert response.headers["content-type"] == PROBLEM_JSON
        fields = {e["field"] for e in response.json()["errors"]}
        assert fields & {"reason", "extra", "body"}, fields
        if "extra" not in body:
            assert "reason" in fields
        assert await withdrawn_events(client, app_id) == []


@pytest.mark.parametrize("who, status", [
    ("stranger", 404), ("case worker", 403), ("ops", 403), ("fdc", 403), ("portal alone", 403),
])
async def test_only_a_member_of_the_family_withdraws(running_service, internal_token, who, status):
    async with running_service("intake") as client:
        app_id = (await submit(client, internal_token)).json()["id"]
        headers = {
            "stranger": lambda: portal(internal_token, person(date(1970, 1, 1), "male", "applicant")["iin"]),
            "case worker": lambda: internal_token("case_worker", frozenset({"applications:write"}), regions={"61"}),
            "ops": lambda: internal_token("ops", frozenset({"applications:write"})),
            "fdc": lambda: internal_token("fdc", frozenset({"applications:write"})),
            "portal alone": lambda: internal_token("portal"),
        }[who]()
        response = await client.post(f"/v1/applications/{app_id}/withdraw", json={"reason": "other"}, headers=headers)
        assert response.status_code == status, response.text
        missing = await client.post(f"/v1/applications/{uuid.uuid4()}/withdraw", json={"reason": "other"},
                                    headers=portal(internal_token))
        assert missing.status_code == 404
        got = await client.get(f"/v1/applications/{app_id}", headers=portal(internal_token))
        assert got.json()["status"] == "submitted"
        assert await withdrawn_events(client, app_id) == []


async def test_the_scope_is_applications_write(running_service, internal_token):
    async with running_service("intake") as client:
        app_id = (await submit(client, internal_token)).json()["id"]
        response = await client.post(f"/v1/applications/{app_id}/withdraw", json={"reason": "other"},
                                     headers=internal_token("portal", frozenset({"applications:read"}),
                                                            citizen=FAMILY[0]["iin"]))
        assert response.status_code == 403


async def test_members_apply_again_once_the_period_is_over(running_service, internal_token):
    with time_machine.travel(almaty(date(2026, 11, 22)), tick=True) as clock:
        async with running_service("intake") as client:
            app_id = (await submit(client, internal_token)).json()["id"]
            await decide(client, app_id, status="payments_scheduled")

            clock.move_to(almaty(date(2026, 12, 31), 23))  # the period's last day, in Almaty
            refused = await submit(client, internal_token)
            assert refused.status_code == 409 and refused.headers["content-type"] == PROBLEM_JSON

            clock.move_to(almaty(date(2027, 1, 1), 0))  # 2026-12-31T19:00Z: the next day in Almaty
            accepted = await submit(client, internal_token)
            assert accepted.status_code == 201, accepted.text
            old = (await client.get(f"/v1/applications/{app_id}", headers=portal(internal_token))).json()
            assert old["status"] == "ended"
            assert old["timeline"][-1]["detail"] == {"period_to": "2026-12", "period_quarter": "2026-Q4"}


async def test_the_period_end_sweep_ends_what_is_over(running_service, internal_token):
    other = [person(date(1977, 7, 7), "male", "applicant")]
    with time_machine.travel(almaty(date(2026, 11, 22)), tick=True):
        async with running_service("intake") as client:
            over = (await submit(client, internal_token)).json()["id"]
            await decide(client, over, status="contract_signed")
            pending = (await submit(client, internal_token, other)).json()["id"]  # not decided: not ended
            sessionmaker = client.app.state.sessionmaker

            assert await periods.sweep_once(sessionmaker=sessionmaker, now=almaty(date(2026, 12, 31), 23)) == 0
            assert await periods.sweep_once(sessionmaker=sessionmaker, now=almaty(date(2027, 1, 1), 0), batch=1) == 1
            assert await periods.sweep_once(sessionmaker=sessionmaker, now=almaty(date(2027, 1, 2))) == 0
            async with sessionmaker() as session:
                assert (await repository.get(session, uuid.UUID(over))).status == "ended"
                assert (await repository.get(session, uuid.UUID(pending))).status == "submitted"
                assert await repository.active_iins(session, [m["iin"] for m in FAMILY + other]) == {other[0]["iin"]}


async def test_a_contract_applied_while_its_decision_waits_for_the_lock_shows_once_the_decision_is_in(
        running_service, internal_token):
    """Intake follows contracts and eligibility in parallel transactions. The contract drafted for
    a decision is applied first (held: there is no decision yet) while the decision's transaction
    waits for the application's lock; once it has the lock it must see the held step, committed
    meanwhile, and show it."""
    from sqlalchemy import text

    from services.intake.service import follow_flow
    from shared.events import Envelope
    from shared.events.contracts import ContractDrafted

    with time_machine.travel(almaty(date(2026, 11, 22)), tick=True):
        async with running_service("intake") as client:
            created = await submit(client, internal_token)
            assert created.status_code == 201, created.text
            app_id = uuid.UUID(created.json()["id"])
            decision = decided_event(application_id=app_id, kind="conditional")
            drafted = Envelope.wrap(ContractDrafted(contract_id=uuid.uuid4(), application_id=app_id,
                                                    decision_id=decision.payload().decision_id, obligations=[]),
                                    source="contracts", key=str(app_id))
            sessionmaker = client.app.state.sessionmaker

            async def follow_decision() -> None:
                async with sessionmaker() as session, session.begin():
                    await follow_flow(session, decision)

            async with sessionmaker() as session, session.begin():
                await follow_flow(session, drafted)
                assert (await repository.get(session, app_id)).status == domain.SUBMITTED  # held
                waiting = asyncio.create_task(follow_decision())
                async with sessionmaker() as watcher:
                    for _ in range(400):  # until the decision's transaction waits for the lock
                        locked = await watcher.scalar(text(
                            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                            "AND datname = current_database()"))
                        if locked or waiting.done():
                            break
                        await asyncio.sleep(0.01)
                    assert locked == 1
            await waiting
            shown = (await client.get(f"/v1/applications/{app_id}", headers=portal(internal_token))).json()
            assert shown["status"] == "contract_drafted" and shown["decision"]["kind"] == "conditional"
            assert [c["status"] for c in shown["timeline"]][-2:] == ["approved", "contract_drafted"]
