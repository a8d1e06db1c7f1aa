"""Payments' batch form of following extensions (`extend_on_extensions`, issue 12) on a real
database: a batch has exactly the effect of its events handled one by one — each new month planned
once, nothing for a refusal or a family without an assignment, months after a withdrawal planned
cancelled, a conditional family still waiting for its contract left waiting, one payment.scheduled
per family planned — and a batch delivered again plans nothing more."""

from __future__ import annotations

import uuid
from datetime import datetime, timezone

import pytest
from sqlalchemy import select

from services.payments import service
from services.payments.main import MIGRATIONS_DIR
from services.payments.models import Assignment, Payment
from shared.consumer import batch_form
from shared.events import Envelope
from shared.events.contracts import ApplicationWithdrawn
from shared.outbox import outbox
from tests.support import decided_event, migrated_database
from tests.unit.test_extension_followers import extension

ROLES = ("extended", "refused", "withdrawn", "unknown", "twice", "waiting")


@pytest.fixture
async def sessionmaker(postgres, db_prefix):  # noqa: ANN001, ANN201
    async with migrated_database(postgres, f"{db_prefix}_payext", MIGRATIONS_DIR) as sessionmaker:
        yield sessionmaker


async def families(sessionmaker) -> dict[str, uuid.UUID]:  # noqa: ANN001
    """One family per role, assigned for 2026-Q4 as a decision does (the unconditional ones have
    2026-11 and 2026-12 planned); the withdrawn one withdrew; the unknown one has no assignment."""
    ids = {role: uuid.uuid4() for role in ROLES}
    async with sessionmaker() as session, session.begin():
        for role, application_id in ids.items():
            if role != "unknown":
                kind = "conditional" if role == "waiting" else "unconditional"
                await service.assign_on_approval(session, decided_event(kind=kind, application_id=application_id))
        withdrawn = ids["withdrawn"]
        await service.stop_on_withdrawal(session, Envelope.wrap(ApplicationWithdrawn(
            application_id=withdrawn, reason="other", withdrawn_at=datetime(2026, 12, 1, tzinfo=timezone.utc)),
            source="intake", key=str(withdrawn)))
    return ids


def extensions(ids: dict[str, uuid.UUID]) -> list[Envelope]:
    """The run's events in partition order: the `twice` family's extension is delivered twice."""
    def wrap(role: str, **options) -> Envelope:  # noqa: ANN003
        return Envelope.wrap(extension(ids[role], totals=(30000, 31000, 0), **options), source="eligibility",
                             key=str(ids[role]))

    twice = wrap("twice")
    return [wrap("extended"), twice, wrap("refused", eligible=False), wrap("withdrawn"), wrap("unknown"),
            wrap("waiting", carried=True), twice]


async def state(sessionmaker, ids: dict[str, uuid.UUID]) -> dict[str, dict]:  # noqa: ANN001
    """Per role: its plan months, its assignment's months and quarter, its payment.scheduled events."""
    async with sessionmaker() as session:
        out = {}
        for role, application_id in ids.items():
            payments = (await session.execute(select(Payment.month, Payment.total, Payment.status)
                                              .where(Payment.application_id == application_id)
                                              .order_by(Payment.month))).all()
            assignment = (await session.execute(select(Assignment.period_quarter, Assignment.monthly)
                                                .where(Assignment.application_id == application_id))).one_or_none()
            scheduled = (await session.execute(select(outbox.c.envelope).where(
                outbox.c.event_type == "payment.scheduled", outbox.c.key == str(application_id))
                .order_by(outbox.c.seq))).scalars().all()
            out[role] = {
                "payments": [tuple(p) for p in payments],
                "assignment": None if assignment is None else (
                    assignment.period_quarter, [m["month"] for m in assignment.monthly]),
                "scheduled": [[p["month"] for p in e["data"]["payments"]] for e in scheduled],
            }
        return out


async def handle_one_by_one(sessionmaker, events: list[Envelope]) -> None:  # noqa: ANN001
    for envelope in events:
        async with sessionmaker() as session, session.begin():
            await service.extend_on_extension(session, envelope)


async def handle_as_batch(sessionmaker, events: list[Envelope]) -> None:  # noqa: ANN001
    batch = batch_form(service.extend_on_extension)
    assert batch is service.extend_on_extensions
    async with sessionmaker() as session, session.begin():
        await batch(session, events)


async def test_a_batch_plans_what_the_events_one_by_one_plan(sessionmaker):  # noqa: ANN001
    one_by_one, together = await families(sessionmaker), await families(sessionmaker)
    await handle_one_by_one(sessionmaker, extensions(one_by_one))
    await handle_as_batch(sessionmaker, extensions(together))

    expected, got = await state(sessionmaker, one_by_one), await state(sessionmaker, together)
    assert got == expected
    # What that is: the new quarter's months with something to pay, once each.
    assert got["extended"]["payments"] == [("2026-11", 25596, "planned"), ("2026-12", 25596, "planned"),
                                           ("2027-01", 30000, "planned"), ("2027-02", 31000, "planned")]
    assert got["extended"]["assignment"] == ("2027-Q1", ["2026-11", "2026-12", "2027-01", "2027-02", "2027-03"])
    assert got["extended"]["scheduled"] == [["2026-11", "2026-12"], ["2027-01", "2027-02"]]
    assert got["twice"] == got["extended"]
    # A refusal plans nothing and leaves the assignment with the quarter it covers.
    assert [p[0] for p in got["refused"]["payments"]] == ["2026-11", "2026-12"]
    assert got["refused"]["assignment"][0] == "2026-Q4" and len(got["refused"]["scheduled"]) == 1
    # After a withdrawal, the new months show cancelled and are not announced.
    assert [(p[0], p[2]) for p in got["withdrawn"]["payments"]] == [
        ("2026-11", "cancelled"), ("2026-12", "cancelled"), ("2027-01", "cancelled"), ("2027-02", "cancelled")]
    assert len(got["withdrawn"]["scheduled"]) == 1
    assert got["unknown"] == {"payments": [], "assignment": None, "scheduled": []}
    # A conditional family whose contract is not signed keeps waiting: no month planned yet.
    assert got["waiting"]["payments"] == [] and got["waiting"]["assignment"][0] == "2027-Q1"


async def test_a_batch_delivered_again_plans_nothing_more(sessionmaker):  # noqa: ANN001
    ids = await families(sessionmaker)
    await handle_as_batch(sessionmaker, extensions(ids))
    first = await state(sessionmaker, ids)
    await handle_as_batch(sessionmaker, extensions(ids))
    await handle_one_by_one(sessionmaker, extensions(ids))
    assert await state(sessionmaker, ids) == first
    assert len(first["extended"]["payments"]) == 4
