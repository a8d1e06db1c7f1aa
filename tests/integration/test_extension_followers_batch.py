"""Contracts' and intake's batch forms of following a reassessment run (issue 12) on a real
database: a batch of events has exactly the effect of the same events handled one by one — a
signed contract carried over once, an unsigned one left, an application's timeline showing each
extension or refusal once — and a batch delivered again changes nothing."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import date

import pytest
from sqlalchemy import select

from services.contracts import domain as contracts
from services.contracts import repository as contracts_repository
from services.contracts import service as contracts_service
from services.contracts.main import MIGRATIONS_DIR as CONTRACTS_MIGRATIONS
from services.contracts.models import SocialContract as ContractRow
from services.intake import domain as intake
from services.intake import repository as intake_repository
from services.intake import service as intake_service
from services.intake.main import MIGRATIONS_DIR as INTAKE_MIGRATIONS
from shared.consumer import batch_form
from shared.events import Envelope
from tests.support import decided_event, migrated_database, person
from tests.unit.intake.support import form, member, submit
from tests.unit.test_extension_followers import AT, extension, signed_contract


def extended(application_id: uuid.UUID, **options) -> Envelope:  # noqa: ANN003
    return Envelope.wrap(extension(application_id, **options), source="eligibility", key=str(application_id))


async def one_by_one(sessionmaker, handler, events: list[Envelope]) -> None:  # noqa: ANN001
    for envelope in events:
        async with sessionmaker() as session, session.begin():
            await handler(session, envelope)


async def as_batch(sessionmaker, handler, events: list[Envelope]) -> None:  # noqa: ANN001
    async with sessionmaker() as session, session.begin():
        await batch_form(handler)(session, events)


# ---- contracts ---------------------------------------------------------------------------------

@pytest.fixture
async def contracts_db(postgres, db_prefix):  # noqa: ANN001, ANN201
    async with migrated_database(postgres, f"{db_prefix}_contrext", CONTRACTS_MIGRATIONS) as sessionmaker:
        yield sessionmaker


async def contract_families(sessionmaker) -> dict[str, uuid.UUID]:  # noqa: ANN001
    """A signed contract carried over (its extension delivered twice in the batch), a signed one
    whose family's extension does not carry it, a draft never signed, and a family with none."""
    signed = signed_contract()
    ids = {}
    async with sessionmaker() as session, session.begin():
        for role, contract in (("carried", signed), ("not_carried", signed),
                               ("draft", replace(signed, status=contracts.DRAFTED))):
            ids[role] = uuid.uuid4()
            await contracts_repository.add(session, replace(contract, id=uuid.uuid4(), application_id=ids[role]))
    ids["none"] = uuid.uuid4()
    return ids


async def contract_state(sessionmaker, ids: dict[str, uuid.UUID]) -> dict[str, tuple | None]:  # noqa: ANN001
    async with sessionmaker() as session:
        rows = {row.application_id: row for row in (await session.execute(select(ContractRow))).scalars()}
    return {role: None if (row := rows.get(application_id)) is None else (row.status, row.period_quarter, row.ends_on)
            for role, application_id in ids.items()}


def contract_events(ids: dict[str, uuid.UUID]) -> list[Envelope]:
    carried = extended(ids["carried"], carried=True)
    return [carried, extended(ids["not_carried"]), extended(ids["draft"], carried=True),
            extended(ids["none"], carried=True), carried]


async def test_contracts_carry_over_a_batch_as_one_by_one(contracts_db):  # noqa: ANN001
    each, together = await contract_families(contracts_db), await contract_families(contracts_db)
    handler = contracts_service.carry_over_on_extension
    await one_by_one(contracts_db, handler, contract_events(each))
    await as_batch(contracts_db, handler, contract_events(together))
    got = await contract_state(contracts_db, together)
    assert got == await contract_state(contracts_db, each)
    assert got == {"carried": (contracts.SIGNED, "2027-Q1", date(2027, 3, 31)),
                   "not_carried": (contracts.SIGNED, "2026-Q4", date(2026, 12, 31)),
                   "draft": (contracts.DRAFTED, "2026-Q4", date(2026, 12, 31)), "none": None}
    await as_batch(contracts_db, handler, contract_events(together))  # delivered again
    assert await contract_state(contracts_db, together) == got


# ---- intake ------------------------------------------------------------------------------------

@pytest.fixture
async def intake_db(postgres, db_prefix):  # noqa: ANN001, ANN201
    async with migrated_database(postgres, f"{db_prefix}_intext", INTAKE_MIGRATIONS) as sessionmaker:
        yield sessionmaker


async def intake_families(sessionmaker) -> dict[str, uuid.UUID]:  # noqa: ANN001
    """Approved applications (each a family of its own) and an application intake does not know."""
    ids = {}
    async with sessionmaker() as session, session.begin():
        for role in ("extended", "refused", "twice"):
            application = submit(form([member(person(date(1990, 5, 17), "female", "applicant"))]))[0]
            application = replace(application, id=uuid.uuid4())
            decided = decided_event(application_id=application.id).payload()
            application, _ = intake.follow(application, decided, event_id=uuid.uuid4(), at=AT)
            await intake_repository.add(session, application)
            ids[role] = application.id
    ids["unknown"] = uuid.uuid4()
    return ids


async def intake_state(sessionmaker, ids: dict[str, uuid.UUID]) -> dict[str, tuple | None]:  # noqa: ANN001
    async with sessionmaker() as session:
        out = {}
        for role, application_id in ids.items():
            application = await intake_repository.get(session, application_id)
            out[role] = None if application is None else (
                application.status, application.decision.get("period_quarter") if application.decision else None,
                [(c.status, c.event_id) for c in application.timeline])
        return out


def intake_events(ids: dict[str, uuid.UUID]) -> list[Envelope]:
    twice = extended(ids["twice"])
    return [twice, extended(ids["extended"]), extended(ids["refused"], eligible=False), extended(ids["unknown"]),
            twice]


def by_role(state: dict, events: list[Envelope], ids: dict[str, uuid.UUID]) -> dict:
    """The state with the run's events in the timeline only, each named by its place in `events`,
    to compare two sets of families."""
    names: dict[uuid.UUID, str] = {}
    for i, e in enumerate(events):
        names.setdefault(e.id, f"event-{i}")
    return {role: None if s is None else (s[0], s[1], [(status, names[event_id]) for status, event_id in s[2]
                                                      if event_id in names])
            for role, s in state.items()}


async def test_intake_follows_a_batch_as_one_by_one(intake_db):  # noqa: ANN001
    each, together = await intake_families(intake_db), await intake_families(intake_db)
    each_events, together_events = intake_events(each), intake_events(together)
    await one_by_one(intake_db, intake_service.follow_flow, each_events)
    await as_batch(intake_db, intake_service.follow_flow, together_events)
    got = by_role(await intake_state(intake_db, together), together_events, together)
    assert got == by_role(await intake_state(intake_db, each), each_events, each)
    approved = got["extended"][0]
    assert got["extended"] == (approved, "2027-Q1", [(intake.EXTENDED, "event-1")])
    assert got["twice"] == (approved, "2027-Q1", [(intake.EXTENDED, "event-0")])
    assert got["refused"] == (approved, "2026-Q4", [(intake.NOT_EXTENDED, "event-2")])
    assert got["unknown"] is None
    await as_batch(intake_db, intake_service.follow_flow, together_events)  # delivered again
    assert by_role(await intake_state(intake_db, together), together_events, together) == got
