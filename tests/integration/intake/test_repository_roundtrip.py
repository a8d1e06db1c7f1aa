"""An application read back from PostgreSQL is the application written: every member field, the
timeline in the order of its times (to the microsecond, in UTC, whatever offset it was written
with), each change's event id and detail; and saving writes only what changed."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import date, datetime, timedelta, timezone
from uuid import uuid4

import pytest
from sqlalchemy import select

from services.intake import domain, repository
from services.intake.main import MIGRATIONS_DIR
from services.intake.models import Application as ApplicationRow
from services.intake.models import ApplicationMember as MemberRow
from shared.calendar import ALMATY
from shared.db import drop_database, ensure_database, make_engine, make_sessionmaker, migrate
from shared.ids import uuid7
from tests.support import HALYK_IBAN, person


@pytest.fixture(scope="module")
async def sessionmaker(postgres, db_prefix):  # noqa: ANN001, ANN201
    url = postgres.url(f"{db_prefix}_intake_roundtrip")
    await drop_database(url)
    await ensure_database(url)
    await asyncio.to_thread(migrate, url, MIGRATIONS_DIR)
    engine = make_engine(url, pool_size=2)
    yield make_sessionmaker(engine)
    await engine.dispose()
    await drop_database(url)


def member(relation: str, born: date, sex: str, **extra) -> domain.Member:  # noqa: ANN003
    p = person(born, sex, relation)
    return domain.Member(**(p | {"birth_date": born} | extra))


async def test_an_application_reads_back_as_written_and_saves_only_what_changed(sessionmaker) -> None:
    members = (member("applicant", date(1985, 5, 17), "female", phone="+77011230001", employed=True),
               member("spouse", date(1983, 2, 29 - 1), "male", disability_group=2, carer=True),
               member("child", date(2008, 12, 31), "male", full_time_student=True),
               member("grandparent", date(1950, 1, 1), "female", full_name="Ä ö Қазақ 'quote\" name"))
    submitted = datetime(2026, 3, 20, 10, 0, 0, 123456, tzinfo=ALMATY)
    application = domain.Application(
        id=uuid7(), status=domain.SUBMITTED, channel="egov", region_kato="610000000", settlement="rural",
        application_date=date(2026, 3, 20), extension=False, expense_check_consent=True, bank_iban=HALYK_IBAN,
        bank_code="HSBKKZKX", submitted_by="portal-egov", submitted_at=submitted, members=members,
        timeline=(domain.StatusChange(domain.SUBMITTED, submitted),))
    async with sessionmaker() as session, session.begin():
        await repository.add(session, application)

    async with sessionmaker() as session, session.begin():
        read = await repository.get(session, application.id)
    assert read == application  # members field by field, the timeline, the times (aware, equal instants)
    assert read.timeline[0].at.tzinfo is not None and read.timeline[0].at.utcoffset() == timedelta(0)

    # Events arrive out of order: the timeline is kept in the order of their own times.
    verified = domain.StatusChange(domain.VERIFIED, submitted + timedelta(seconds=1, microseconds=7), uuid4(),
                                   {"incomes_found": 3, "assessment_quarter": "2025-Q4"})
    decided_at = (submitted + timedelta(seconds=2)).astimezone(timezone(timedelta(hours=-3)))
    decided = domain.StatusChange(domain.APPROVED, decided_at, uuid4(), {"reasons": ["A", "B"]})
    decision = {"eligible": True, "kind": "unconditional", "monthly": [{"month": "2026-04", "total": 25596}]}
    async with sessionmaker() as session, session.begin():
        loaded = await repository.get(session, application.id, for_update=True)
        await repository.save(session, replace(loaded, status=domain.APPROVED, decision=decision), decided)
    async with sessionmaker() as session, session.begin():
        row = (await session.execute(select(ApplicationRow.updated_at).where(ApplicationRow.id == application.id))
               ).scalar_one()
        loaded = await repository.get(session, application.id, for_update=True)
        await repository.save(session, loaded, verified)  # the late event: only a timeline entry
    async with sessionmaker() as session:
        read = await repository.get(session, application.id)
        still = (await session.execute(select(ApplicationRow.updated_at).where(ApplicationRow.id == application.id))
                 ).scalar_one()
        active = (await session.execute(select(MemberRow.active).where(MemberRow.application_id == application.id))
                  ).scalars().all()
    assert [c.status for c in read.timeline] == [domain.SUBMITTED, domain.VERIFIED, domain.APPROVED]
    assert read.timeline[1:] == (verified, decided)
    assert read.timeline[2].at == decided_at and read.timeline[2].at.utcoffset() == timedelta(0)
    assert read.status == domain.APPROVED and read.decision == decision and read.members == members
    assert still == row  # a timeline entry alone does not touch the application's row
    assert active == [True] * 4

    async with sessionmaker() as session, session.begin():  # rejected: the members are free again
        loaded = await repository.get(session, application.id, for_update=True)
        await repository.save(session, replace(loaded, status=domain.REJECTED), None)
    async with sessionmaker() as session:
        active = (await session.execute(select(MemberRow.active).where(MemberRow.application_id == application.id))
                  ).scalars().all()
        assert await repository.get(session, uuid4()) is None
    assert active == [False] * 4
