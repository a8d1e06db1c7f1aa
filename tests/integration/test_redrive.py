"""Sending an event again (shared/redrive.py), against a real service database: a re-drive
re-queues the latest row of each event type for the application, with the same ids; a replay or a
dead letter written twice is the same row queued anew; an undecodable message is dead-lettered as
where it is, once."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import select, update

from services.payments.main import MIGRATIONS_DIR
from shared.events import Envelope
from shared.outbox import inbox, outbox, record_event
from shared.redrive import (
    dead_letter,
    dead_letter_undecodable,
    republish_latest,
    requeue,
)
from tests.support import migrated_database


@pytest.fixture
async def sessionmaker(postgres, db_prefix):  # noqa: ANN001, ANN201
    """A migrated service database with no relay running: what is queued stays queued."""
    async with migrated_database(postgres, f"{db_prefix}_redrive", MIGRATIONS_DIR) as sessionmaker:
        yield sessionmaker


def _event(event_type: str, key: str) -> Envelope:
    return Envelope(type=event_type, source="payments", key=key, data={"n": str(uuid.uuid4())})


async def _rows(sessionmaker, **where):  # noqa: ANN001, ANN003, ANN202
    async with sessionmaker() as session:
        return (await session.execute(select(outbox).filter_by(**where).order_by(outbox.c.seq))).all()


async def test_a_re_drive_queues_again_the_latest_event_of_each_type_for_the_application(sessionmaker):
    key, other_key = str(uuid.uuid4()), str(uuid.uuid4())
    first, latest, settled = _event("payment.scheduled", key), _event("payment.scheduled", key), \
        _event("payment.settled", key)
    request, elsewhere = _event("reconciliation.requested", key), _event("payment.scheduled", other_key)
    async with sessionmaker() as session, session.begin():
        for event in (first, latest, settled, request, elsewhere):
            await record_event(session, "qamqor.payments", event)
        await dead_letter(session, _event("eligibility.decided", key), failed_in="payments",
                          original_topic="qamqor.eligibility", error="PermanentError: x")
        await session.execute(update(outbox).values(published_at=outbox.c.created_at))  # all sent

    async with sessionmaker() as session, session.begin():
        assert await republish_latest(session, key=key, reason="approved #2") == ["payment.scheduled",
                                                                                  "payment.settled"]
    queued = {row.event_id: row for row in await _rows(sessionmaker) if row.published_at is None}
    assert set(queued) == {latest.id, settled.id}  # not the earlier one, the dead letter, the request, the other key
    assert all(row.headers["x-qamqor-redrive"] == "approved #2" for row in queued.values())

    async with sessionmaker() as session, session.begin():
        assert await republish_latest(session, key=str(uuid.uuid4()), reason="submitted #1") == []


async def test_a_replay_or_a_dead_letter_written_again_is_the_same_row_queued_anew(sessionmaker):
    event = _event("eligibility.decided", str(uuid.uuid4()))
    for replay_id in ("r1", "r2"):
        async with sessionmaker() as session, session.begin():
            await requeue(session, topic="qamqor.eligibility", envelope=event.model_dump(mode="json"),
                          headers={"x-qamqor-replay": replay_id})
        [row] = await _rows(sessionmaker, event_id=event.id)
        assert row.published_at is None and row.headers["x-qamqor-replay"] == replay_id
        async with sessionmaker() as session, session.begin():
            await session.execute(update(outbox).values(published_at=outbox.c.created_at))

    for error in ("first", "again after a replay"):
        async with sessionmaker() as session, session.begin():
            await dead_letter(session, event, failed_in="payments", original_topic="qamqor.eligibility", error=error)
        [row] = await _rows(sessionmaker, event_id=event.id)
        assert (row.topic, row.headers["error"], row.published_at) == ("qamqor.dead-letter", error, None)
        async with sessionmaker() as session:
            assert await session.scalar(select(inbox.c.outcome).where(inbox.c.event_id == event.id)) == "dead_lettered"


async def test_an_undecodable_message_is_dead_lettered_once_as_where_it_is(sessionmaker):
    for first_time in (True, False):  # the same message delivered again
        async with sessionmaker() as session, session.begin():
            assert await dead_letter_undecodable(session, failed_in="payments", topic="qamqor.contracts", partition=2,
                                                 offset=41, error="JSONDecodeError: unexpected byte") is first_time
    [row] = await _rows(sessionmaker, topic="qamqor.dead-letter")
    assert row.event_type == "undecodable" and row.key == "qamqor.contracts/2/41"
    assert row.envelope["data"] == {"topic": "qamqor.contracts", "partition": 2, "offset": 41}
    assert row.headers == {"error": "JSONDecodeError: unexpected byte", "failed_in": "payments",
                           "original_topic": "qamqor.contracts"}
