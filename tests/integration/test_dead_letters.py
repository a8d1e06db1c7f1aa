"""The dead-letter topic is an operator's tool (issue 9, point 5): reporting keeps every dead letter
— what failed, where, why, how often — shows it to an administrator without the event's content,
and replays it: the original envelope, unchanged, to its original topic with `x-qamqor-replay`.
The backlog ops read shows the re-drives, the applications waiting for a system and the dead
letters."""

from __future__ import annotations

import uuid
from datetime import date, datetime, timezone

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from shared.events import Envelope
from shared.events.contracts import ApplicationSubmitted, ReconciliationRequested, VerificationWaiting
from tests.support import (
    assert_documents_what_it_answers,
    assert_refused_without_scope,
    decided_event,
    eventually,
    person,
    publish,
)

OPERATOR = frozenset({"operations:admin"})
STATS = frozenset({"stats:read"})


async def dead_letter(bootstrap: str, envelope: Envelope | bytes, *, failed_in: str, original_topic: str,
                      error: str, times: int = 1) -> None:
    """Put a dead letter on the topic as a service's relay does (optionally delivered again)."""
    value = envelope if isinstance(envelope, bytes) else orjson.dumps(envelope.model_dump(mode="json"))
    headers = [("error", error.encode()), ("failed_in", failed_in.encode()),
               ("original_topic", original_topic.encode())]
    if isinstance(envelope, Envelope):
        headers.append(("event_type", envelope.type.encode()))
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        for _ in range(times):
            await producer.send_and_wait("qamqor.dead-letter", value, key=b"k", headers=headers)
    finally:
        await producer.stop()


async def replayed_on(bootstrap: str, topic: str, event_id: uuid.UUID) -> list[tuple[dict, dict]]:
    """(envelope, headers) of every message of `topic` carrying event `event_id`."""
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=f"probe-{uuid.uuid4()}",
                                auto_offset_reset="earliest", enable_auto_commit=False)
    await consumer.start()
    found = []
    try:
        while True:
            batches = await consumer.getmany(timeout_ms=1000)
            if not batches:
                return found
            for message in (m for batch in batches.values() for m in batch):
                envelope = orjson.loads(message.value)
                if isinstance(envelope, dict) and envelope.get("id") == str(event_id):
                    found.append((envelope, {k: v.decode() for k, v in message.headers}))
    finally:
        await consumer.stop()


async def test_dead_letters_are_kept_shown_and_replayed_once_each(running_service, broker, internal_token):
    operator = internal_token("admin", OPERATOR)
    iin = person(date(1990, 3, 3), "female", "applicant")["iin"]
    decided = decided_event()  # payments and contracts both failed on it
    other = decided_event()  # only payments
    garbage = f"JSONDecodeError: unexpected byte ({uuid.uuid4()})"  # names this test's undecodable message
    async with running_service("reporting") as reporting:
        await dead_letter(broker.bootstrap, decided, failed_in="payments", original_topic="qamqor.eligibility",
                          error=f"KeyError: {iin}", times=2)  # delivered twice: one failure
        await dead_letter(broker.bootstrap, decided, failed_in="contracts", original_topic="qamqor.eligibility",
                          error="ValidationError: [{\"loc\": [\"obligations\"]}]")
        await dead_letter(broker.bootstrap, other, failed_in="payments", original_topic="qamqor.eligibility",
                          error="PermanentError: no such bank")
        await dead_letter(broker.bootstrap, b"\xff garbage", failed_in="intake", original_topic="qamqor.payments",
                          error=garbage)

        async def listed(**params):  # noqa: ANN003, ANN202
            """This test's dead letters (others' may be on the topic too)."""
            response = await reporting.get("/v1/dead-letters", params={"limit": 500} | params, headers=operator)
            assert response.status_code == 200, response.text
            return [r for r in response.json() if r["event_id"] in (str(decided.id), str(other.id))
                    or r["error"] == garbage]

        async def all_four():  # noqa: ANN202
            rows = await listed()
            return rows if len(rows) == 4 else None

        async def unreplayed_metric(service: str) -> float:
            line = next(line for line in (await reporting.get("/metrics")).text.splitlines()
                        if line.startswith(f'qamqor_dead_letters_unreplayed{{failed_in="{service}"}}'))
            return float(line.split()[-1])

        async def unreplayed_listed(service: str) -> int:
            response = await reporting.get("/v1/dead-letters", params={"limit": 500, "pending": "true",
                                                                       "failed_in": service}, headers=operator)
            return len(response.json())

        rows = await eventually(all_four)
        mine = {(r["event_id"], r["failed_in"]): r for r in rows}
        kept = mine[(str(decided.id), "payments")]
        assert kept["times"] == 1 and kept["event_type"] == "eligibility.decided" and kept["key"] == decided.key
        assert kept["pending"] and kept["replayable"] and kept["replays"] == 0
        assert iin not in kept["error"] and kept["error"].startswith("KeyError: ")
        assert "data" not in kept and "envelope" not in kept  # never the event's content
        [raw] = [r for r in rows if r["failed_in"] == "intake"]
        assert raw["event_type"] == "undecodable" and not raw["replayable"]
        assert [r["failed_in"] for r in await listed(event_type="eligibility.decided", failed_in="payments")] == [
            "payments", "payments"]

        shown = await reporting.get(f"/v1/dead-letters/{decided.id}", headers=operator)
        assert shown.status_code == 200, shown.text
        assert sorted(f["failed_in"] for f in shown.json()["failures"]) == ["contracts", "payments"]
        # the dead-letter depth at /metrics: what is not replayed, per service
        depth = await unreplayed_metric("payments")
        assert depth == await unreplayed_listed("payments") and depth >= 2

        # One event, replayed after the fix: the original envelope, to the topic it came from.
        replay = await reporting.post(f"/v1/dead-letters/{decided.id}/replay", headers=operator)
        assert replay.status_code == 200, replay.text
        replay_id = replay.json()["replay_id"]
        assert replay.json()["replayed"] == [str(decided.id)]

        async def sent():  # noqa: ANN202
            return await replayed_on(broker.bootstrap, "qamqor.eligibility", decided.id) or None

        found = await eventually(sent)
        replays = [(envelope, headers) for envelope, headers in found if headers.get("x-qamqor-replay") == replay_id]
        assert len(replays) == 1
        assert replays[0][0] == decided.model_dump(mode="json")
        after = {(r["event_id"], r["failed_in"]): r for r in await listed()}
        assert not after[(str(decided.id), "payments")]["pending"]
        assert after[(str(decided.id), "contracts")]["replay_id"] == replay_id
        assert await unreplayed_metric("payments") == depth - 1

        # It failed again in payments: pending again, failed twice there.
        await dead_letter(broker.bootstrap, decided, failed_in="payments", original_topic="qamqor.eligibility",
                          error="KeyError: still")

        async def failed_again():  # noqa: ANN202
            row = {(r["event_id"], r["failed_in"]): r for r in await listed()}[(str(decided.id), "payments")]
            return row if row["times"] == 2 else None

        again = await eventually(failed_again)
        assert again["pending"] and again["error"] == "KeyError: still" and again["replays"] == 1

        # Nothing to replay in an undecodable message; an unknown event is not found.
        refused = await reporting.post(f"/v1/dead-letters/{raw['event_id']}/replay", headers=operator)
        assert refused.status_code == 409 and refused.json()["type"].endswith("not-replayable")
        assert (await reporting.post(f"/v1/dead-letters/{uuid.uuid4()}/replay", headers=operator)).status_code == 404
        assert (await reporting.get(f"/v1/dead-letters/{uuid.uuid4()}", headers=operator)).status_code == 404

        # Replay by filter (all of one service's pending ones), or all; never by accident.
        unnamed = await reporting.post("/v1/dead-letters/replay", json={}, headers=operator)
        assert unnamed.status_code == 422
        assert unnamed.json()["errors"] == [{"field": "body.all", "message": "must be true when no filter "
                                             "(event_type, failed_in, original_topic) is given"}]
        by_service = await reporting.post("/v1/dead-letters/replay", json={"failed_in": "payments"}, headers=operator)
        assert by_service.status_code == 200, by_service.text
        assert sorted(by_service.json()["replayed"]) == sorted([str(decided.id), str(other.id)])
        assert by_service.json()["remaining"] == 0
        nothing_mine = await reporting.post("/v1/dead-letters/replay", json={"all": True}, headers=operator)
        assert nothing_mine.status_code == 200, nothing_mine.text
        assert not {str(decided.id), str(other.id)} & set(nothing_mine.json()["replayed"])
        assert [r["failed_in"] for r in await listed(pending="true")] == ["intake"]  # nothing to replay there


# No other test has an application in Ulytau: the backlog of this region is this test's own.
REGION = "620000000"


async def test_the_backlog_shows_re_drives_waiting_applications_and_dead_letters(running_service, broker,
                                                                                 internal_token):
    stuck, moved_on, waits = (decided_event(region=REGION) for _ in range(3))
    at = datetime(2026, 12, 5, 8, 0, tzinfo=timezone.utc)

    def redrive(event: Envelope, status: str, attempt: int, max_attempts: int = 5) -> Envelope:
        return Envelope.wrap(ReconciliationRequested(
            application_id=uuid.UUID(event.key), status=status, owner="payments", redrive=["eligibility", "payments"],
            attempt=attempt, max_attempts=max_attempts, stuck_since=at), source="intake", key=event.key)

    async with running_service("reporting") as reporting:
        # stuck approved (decided, no payments) after its last re-drive; another re-driven and then paid
        for event in (stuck, moved_on):
            await publish(broker.bootstrap, "qamqor.eligibility", event)
        await publish(broker.bootstrap, "qamqor.intake", redrive(stuck, "approved", 1, max_attempts=2))
        await publish(broker.bootstrap, "qamqor.intake", redrive(stuck, "approved", 2, max_attempts=2))
        await publish(broker.bootstrap, "qamqor.intake", redrive(moved_on, "approved", 1))
        await publish(broker.bootstrap, "qamqor.contracts", Envelope(
            type="contract.drafted", source="contracts", key=moved_on.key,
            data={"contract_id": str(uuid.uuid4()), "application_id": moved_on.key,
                  "decision_id": moved_on.data["decision_id"], "obligations": []}))
        await publish(broker.bootstrap, "qamqor.intake", Envelope.wrap(ApplicationSubmitted(
            application=waits.payload().application, expense_check_consent=False, members=waits.payload().members),
            source="intake", key=waits.key))
        await publish(broker.bootstrap, "qamqor.verification", Envelope.wrap(VerificationWaiting(
            application_id=uuid.UUID(waits.key), system="income_registry", since=at, attempts=1),
            source="verification", key=waits.key))
        await dead_letter(broker.bootstrap, stuck, failed_in="payments", original_topic="qamqor.eligibility",
                          error="PermanentError: x")

        async def backlog():  # noqa: ANN202
            response = await reporting.get("/v1/stats/backlog", params={"region_kato": REGION},
                                           headers=internal_token("ops", STATS))
            assert response.status_code == 200, response.text
            body = response.json()
            approved = next(s for s in body["statuses"] if s["status"] == "approved")
            ready = approved["redriven"] == 2 and body["waiting_for_systems"] == 1 and approved["applications"] == 1 \
                and body["dead_letters"]["total"] >= 1
            return body if ready else None

        body = await eventually(backlog)
        assert [s["status"] for s in body["statuses"]] == ["submitted", "verified", "approved", "contract_signed"]
        approved = next(s for s in body["statuses"] if s["status"] == "approved")
        assert approved == {"status": "approved", "stage": "decided", "applications": 1, "redriven": 2,
                            "still_stuck": 1, "left_to_operator": 1}
        assert body["undecided"] == 1  # the one waiting for the registry
        # the dead letters: every region's, as an operator lists them
        listed = (await reporting.get("/v1/dead-letters", params={"limit": 500},
                                      headers=internal_token("admin", OPERATOR))).json()
        assert body["dead_letters"] == {"unreplayed": len({r["event_id"] for r in listed if r["pending"]}),
                                        "total": len({r["event_id"] for r in listed})}


async def test_the_operations_routes_refuse_a_caller_without_their_scope(running_service, internal_token):
    async with running_service("reporting") as reporting:
        event_id = uuid.uuid4()
        for method, path, body in (("GET", "/v1/dead-letters", None), ("GET", f"/v1/dead-letters/{event_id}", None),
                                   ("POST", f"/v1/dead-letters/{event_id}/replay", None),
                                   ("POST", "/v1/dead-letters/replay", {"all": True})):
            await assert_refused_without_scope(reporting, internal_token, method, path, "operations:admin",
                                               **({"json": body} if body else {}))
        await assert_refused_without_scope(reporting, internal_token, "GET", "/v1/stats/backlog", "stats:read")


def test_the_openapi_documents_the_operations_routes():
    assert_documents_what_it_answers("reporting")
