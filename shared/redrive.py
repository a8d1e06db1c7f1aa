"""Sending an event again — the three ways the platform does it (docs/operations.md):

- **Re-drive.** The reconciliation sweep (intake) found an application that made no progress and
  asks the services that own its next step to re-publish their latest outbox rows for its key.
  The rows are sent again with the SAME event ids: a consumer that had them finds them in its
  inbox and ignores them; one that never got them (the broker lost them) handles them now.
- **Replay.** An operator re-sends a dead letter's original envelope to its original topic with
  the header `x-qamqor-replay` (reporting does it through its outbox); a consumer that had
  dead-lettered the event handles it again, once.
- **Dead-lettering parked work.** Work a service parked instead of failing (an application
  waiting for an external system) and finally gives up on goes to the dead-letter topic exactly
  as a consumer would have sent it, and its inbox row says `dead_lettered`, so that a replay
  takes effect. A message that is not an event at all is dead-lettered as where it is
  (`dead_letter_undecodable`), never its bytes.

A row is sent again by queueing it anew in the outbox (`published_at` cleared), never by a second
row: the outbox holds each event id once.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy import cast, func, select, text, update
from sqlalchemy.dialects.postgresql import JSONB, distinct_on, insert
from sqlalchemy.ext.asyncio import AsyncSession

from shared.events import Envelope
from shared.events.contracts import DEAD_LETTER_TOPIC, ReconciliationRequested
from shared.observability import request_id_var
from shared.outbox import OUTBOX_CHANNEL, inbox, outbox
from shared import tracing

log = logging.getLogger("qamqor.redrive")

# Headers of a dead letter (shared.consumer writes the same three) and of an event sent again.
ERROR_HEADER = "error"
FAILED_IN_HEADER = "failed_in"
ORIGINAL_TOPIC_HEADER = "original_topic"
REPLAY_HEADER = "x-qamqor-replay"
REDRIVE_HEADER = "x-qamqor-redrive"

# Not re-driven: dead letters are the operator's to replay, and a re-sent re-drive request would
# only ask again for what is being re-sent.
_NOT_REDRIVEN_TYPES = ("reconciliation.requested",)


async def _wake_relay(session: AsyncSession) -> None:
    await session.execute(text(f"SELECT pg_notify('{OUTBOX_CHANNEL}', '')"))


async def republish_latest(session: AsyncSession, *, key: str, reason: str) -> list[str]:
    """Queue again this service's latest outbox row of each event type for `key` (an
    application id); the relay sends them at its next round, in their original order. Returns
    the event types queued (none when this service never wrote anything for the key)."""
    latest = (
        select(outbox.c.seq)
        .ext(distinct_on(outbox.c.event_type))
        .where(outbox.c.key == key, outbox.c.topic != DEAD_LETTER_TOPIC,
               outbox.c.event_type.not_in(_NOT_REDRIVEN_TYPES))
        .order_by(outbox.c.event_type, outbox.c.seq.desc())
    )
    queued = await session.execute(
        update(outbox)
        .where(outbox.c.seq.in_(latest.scalar_subquery()))
        # created_at is when the row was last queued: the relay's lag metric measures from it.
        .values(published_at=None, created_at=func.now(), attempts=0, last_error=None,
                headers=outbox.c.headers.op("||")(cast({REDRIVE_HEADER: reason}, JSONB)))
        .returning(outbox.c.event_type)
    )
    types = sorted(queued.scalars())
    if types:
        await _wake_relay(session)
    return types


async def requeue(session: AsyncSession, *, topic: str, envelope: dict[str, Any], headers: dict[str, str]) -> None:
    """Queue `envelope` (as JSON) for `topic` under its own event id, whether or not this outbox
    held it before: a replay sent a second time, or a dead letter written again after a replay
    failed again, is the same row queued anew."""
    headers = dict(headers)
    request_id = request_id_var.get()
    if request_id:
        headers.setdefault("x-request-id", request_id)
    tracing.trace_event(headers, topic, envelope["type"], envelope["id"], envelope["key"])
    statement = insert(outbox).values(event_id=envelope["id"], topic=topic, key=envelope["key"],
                                      event_type=envelope["type"], envelope=envelope, headers=headers)
    await session.execute(statement.on_conflict_do_update(
        index_elements=[outbox.c.event_id],
        set_={"topic": statement.excluded.topic, "headers": statement.excluded.headers, "published_at": None,
              "created_at": func.now(), "attempts": 0, "last_error": None}))
    await _wake_relay(session)


async def dead_letter(session: AsyncSession, envelope: Envelope, *, failed_in: str, original_topic: str,
                      error: str) -> None:
    """Send `envelope`, which this service consumed from `original_topic` and cannot handle, to
    the dead-letter topic, and mark it so in the inbox (a replay of it is then handled again).
    `error` must carry no personal data (shared.consumer.failure_text)."""
    statement = insert(inbox).values(
        event_id=envelope.id, event_type=envelope.type, source=envelope.source, key=envelope.key,
        topic=original_topic, partition=-1, offset=-1, outcome="dead_lettered")
    await session.execute(statement.on_conflict_do_update(index_elements=[inbox.c.event_id],
                                                          set_={"outcome": "dead_lettered"}))
    await requeue(session, topic=DEAD_LETTER_TOPIC, envelope=envelope.model_dump(mode="json"), headers={
        ERROR_HEADER: error[:2000], FAILED_IN_HEADER: failed_in, ORIGINAL_TOPIC_HEADER: original_topic})


UNDECODABLE = "undecodable"


async def dead_letter_undecodable(session: AsyncSession, *, failed_in: str, topic: str, partition: int, offset: int,
                                  error: str) -> bool:
    """Send a message that is not an event at all (not JSON, not an envelope) to the dead-letter
    topic, as an envelope of type `undecodable` that says where the message is — never its bytes,
    which may hold personal data. Its id is derived from that position, so the same message
    delivered again is dead-lettered once (False then). Not replayable: there is nothing to handle."""
    position = f"{topic}/{partition}/{offset}"
    envelope = Envelope(id=uuid.uuid5(uuid.NAMESPACE_URL, f"kafka:{position}"), type=UNDECODABLE, source=failed_in,
                        key=position, data={"topic": topic, "partition": partition, "offset": offset})
    noted = await session.execute(
        insert(inbox).values(event_id=envelope.id, event_type=UNDECODABLE, source=failed_in, key=position,
                             topic=topic, partition=partition, offset=offset, outcome="dead_lettered")
        .on_conflict_do_nothing(index_elements=[inbox.c.event_id]).returning(inbox.c.event_id))
    if noted.first() is None:
        return False
    await requeue(session, topic=DEAD_LETTER_TOPIC, envelope=envelope.model_dump(mode="json"), headers={
        ERROR_HEADER: error[:2000], FAILED_IN_HEADER: failed_in, ORIGINAL_TOPIC_HEADER: topic})
    return True


def redrive_handler(service: str) -> Callable[[AsyncSession, Envelope], Awaitable[None]]:
    """The handler of `reconciliation.requested` for `service`: when the sweep names it, it
    re-publishes its latest events for the application."""

    async def on_reconciliation_requested(session: AsyncSession, envelope: Envelope) -> None:
        request: ReconciliationRequested = envelope.payload()  # type: ignore[assignment]
        if service not in request.redrive:
            return
        types = await republish_latest(session, key=str(request.application_id),
                                       reason=f"{request.status} #{request.attempt}")
        log.info("re-drive of an application stuck in %s (attempt %d): re-publishing %s", request.status,
                 request.attempt, ", ".join(types) or "nothing (no event of this service for it)",
                 extra={"key": envelope.key, "event_id": str(envelope.id)})

    return on_reconciliation_requested
