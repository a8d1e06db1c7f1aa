"""Consent requests against real PostgreSQL: made with the submission for every adult, asked by
SMS once the gateway takes it, answered by SMS or in the portal, withdrawn, and expired by a sweep
that reads nothing but the database — each change announced in the outbox of the same
transaction. Time is injected (`at`, `now`); nothing waits for a clock."""

from __future__ import annotations

import asyncio
import logging
from datetime import date, datetime, timedelta
from uuid import UUID

import pytest
from sqlalchemy import select, text, update

from services.intake import domain, repository, service
from services.intake.main import MIGRATIONS_DIR
from services.intake.models import Application as ApplicationRow
from services.intake.models import ConsentRequest as ConsentRow
from shared.business_days import DecreedDay
from shared.calendar import ALMATY
from shared.db import drop_database, ensure_database, make_engine, make_sessionmaker, migrate
from shared.events import Envelope
from shared.identity import Caller
from shared.ids import uuid7
from shared.outbox import outbox
from tests.support import HALYK_IBAN, person

PEPPER = b"integration-test-secret"
# Friday 20 March 2026, the eve of Nauryz (21-23 March, observed on 24 and 25): the answer is
# due by the end of Thursday 26 March.
SUBMITTED_AT = datetime(2026, 3, 20, 10, 0, tzinfo=ALMATY)
SMS_TAKEN_AT = datetime(2026, 3, 20, 10, 5, tzinfo=ALMATY)
DEADLINE = datetime(2026, 3, 27, tzinfo=ALMATY)


@pytest.fixture(scope="module")
async def sessionmaker(postgres, db_prefix):  # noqa: ANN001, ANN201
    """Intake's database migrated to head, with no relay: every event stays in the outbox to read."""
    url = postgres.url(f"{db_prefix}_consent")
    await drop_database(url)
    await ensure_database(url)
    await asyncio.to_thread(migrate, url, MIGRATIONS_DIR)
    engine = make_engine(url, pool_size=4)
    yield make_sessionmaker(engine)
    await engine.dispose()
    await drop_database(url)


def member(p: dict) -> domain.Member:
    return domain.Member(**(p | {"birth_date": date.fromisoformat(p["birth_date"])}))


class Family:
    def __init__(self, *, region: str = "610000000") -> None:
        self.mother = member(person(date(1985, 5, 17), "female", "applicant", phone="+77011230001"))
        self.father = member(person(date(1983, 2, 1), "male", "spouse", phone="+77051230002"))
        self.son = member(person(date(2005, 9, 9), "male", "child", phone="+77471230003"))
        self.grandmother = member(person(date(1950, 9, 9), "female", "grandparent"))  # no phone: the portal
        self.girl = member(person(date(2015, 1, 1), "female", "child"))
        self.region = region

    @property
    def members(self) -> tuple[domain.Member, ...]:
        return self.mother, self.father, self.son, self.grandmother, self.girl


async def submit(sessionmaker, family: Family, at: datetime = SUBMITTED_AT) -> UUID:  # noqa: ANN001
    """What the submission does: the application and its consent requests, one transaction."""
    form = domain.ApplicationForm(channel="egov", region_kato=family.region, settlement="urban", bank_iban=HALYK_IBAN,
                                  bank_code="HSBKKZKX", expense_check_consent=True, members=family.members)
    async with sessionmaker() as session, session.begin():
        application, _ = domain.submit(
            form, submitted_by="portal-egov", at=at, members_on_active_applications=set(),
            banks=await repository.banks(session),
            parameters=await repository.parameter_values(session, domain.ADULT_AGE), new_id=uuid7)
        await repository.add(session, application)
        await service.request_consents(session=session, application=application)
    return application.id


async def send_sms(sessionmaker, at: datetime = SMS_TAKEN_AT) -> dict[str, str]:  # noqa: ANN001
    """What the SMS dispatcher does: a code per waiting request, then the gateway takes the SMS.
    Returns each phone's code."""
    codes: dict[str, str] = {}
    async with sessionmaker() as session, session.begin():
        waiting = await repository.consents_awaiting_sms(session, limit=10)
    for request in waiting:
        async with sessionmaker() as session, session.begin():
            issued = await service.issue_consent_code(session=session, consent_id=request.id,
                                                      salt=service.new_code_salt(), pepper=PEPPER)
            assert issued is not None
            codes[request.phone] = issued[1]
        async with sessionmaker() as session, session.begin():
            await service.consent_sms_taken(session=session, consent_id=request.id, at=at)
    return codes


async def by_sms(sessionmaker, from_phone: str, text_: str, at: datetime):  # noqa: ANN001, ANN201
    async with sessionmaker() as session, session.begin():
        return await service.answer_consent_by_sms(session=session, from_phone=from_phone, text=text_,
                                                   received_at=at, pepper=PEPPER)


async def requests(sessionmaker, application_id: UUID) -> dict[str, object]:  # noqa: ANN001
    async with sessionmaker() as session:
        return {r.iin: r for r in await repository.consents_of(session, application_id)}


async def events(sessionmaker, application_id: UUID) -> list[tuple[str, str, str, str]]:  # noqa: ANN001
    """(type, iin, status, family) of the application's consent events, in the order recorded."""
    async with sessionmaker() as session:
        rows = (await session.execute(select(outbox.c.envelope).where(
            outbox.c.key == str(application_id), outbox.c.event_type.like("consent.%")).order_by(outbox.c.seq)))
    announced = [Envelope.model_validate(row).payload() for row in rows.scalars()]
    return [(type(e).event_type, e.consent.iin, e.consent.status, e.family_consent) for e in announced]


async def test_a_familys_consents_from_request_to_grant_refusal_withdrawal_and_expiry(sessionmaker, caplog):
    caplog.set_level(logging.DEBUG)
    f = Family()
    app_id = await submit(sessionmaker, f)
    made = await requests(sessionmaker, app_id)
    # Every adult, once; not the girl. The applicant's portal consent is hers alone.
    assert list(made) == [f.mother.iin, f.father.iin, f.son.iin, f.grandmother.iin]
    assert {iin: (r.method, r.status) for iin, r in made.items()} == {
        f.mother.iin: ("portal", "granted"), f.father.iin: ("sms_1414", "requested"),
        f.son.iin: ("sms_1414", "requested"), f.grandmother.iin: ("portal", "requested")}
    assert made[f.grandmother.iin].expires_at == DEADLINE
    assert made[f.father.iin].assessment_quarter == "2025-Q4" and made[f.father.iin].banks == ()
    assert await events(sessionmaker, app_id) == [
        ("consent.requested", f.mother.iin, "requested", "pending"),
        ("consent.granted", f.mother.iin, "granted", "pending"),
        ("consent.requested", f.grandmother.iin, "requested", "pending"),
    ]

    codes = await send_sms(sessionmaker)
    assert set(codes) == {f.father.phone, f.son.phone}
    asked = await requests(sessionmaker, app_id)
    for adult in (f.father, f.son):
        assert (asked[adult.iin].requested_at, asked[adult.iin].expires_at) == (SMS_TAKEN_AT, DEADLINE)
    async with sessionmaker() as session:  # the code is nowhere in the database
        stored = (await session.execute(text("SELECT row_to_json(c)::text FROM consent_requests c"))).scalars().all()
    assert not any(code in row for code in codes.values() for row in stored)
    assert await send_sms(sessionmaker) == {}  # nothing waits any more

    # The father says yes from his phone, as the SMS gateway writes the number.
    father = await by_sms(sessionmaker, "8" + f.father.phone[2:], f"Иә {codes[f.father.phone]}",
                          SMS_TAKEN_AT + timedelta(hours=1))
    assert father.outcome == "granted"

    # The son's code from another phone, and a wrong code from his own, change nothing.
    stranger = await by_sms(sessionmaker, "+77770000000", f"ДА {codes[f.son.phone]}", SMS_TAKEN_AT)
    wrong_code = await by_sms(sessionmaker, f.son.phone, f"ДА {int(codes[f.son.phone]) ^ 1:06d}", SMS_TAKEN_AT)
    assert (stranger.outcome, wrong_code.outcome) == ("wrong_number", "wrong_code")

    # The grandmother answers in the portal; her daughter cannot answer for her.
    grandmother_id = made[f.grandmother.iin].id
    async with sessionmaker() as session, session.begin():
        for_her = await service.answer_consent_in_portal(session=session, consent_id=grandmother_id,
                                                         citizen_iin=f.mother.iin, answer="no", at=SMS_TAKEN_AT)
        by_her = await service.answer_consent_in_portal(session=session, consent_id=grandmother_id,
                                                        citizen_iin=f.grandmother.iin, answer="no", at=SMS_TAKEN_AT)
    assert (for_her.outcome, by_her.outcome) == ("not_the_member", "refused")

    # The father takes his consent back before the decision.
    async with sessionmaker() as session, session.begin():
        withdrawn = await service.withdraw_consent(session=session, consent_id=made[f.father.iin].id,
                                                   citizen_iin=f.father.iin, at=SMS_TAKEN_AT + timedelta(days=1))
    assert withdrawn.outcome == "withdrawn"

    # The son never answers: the sweep expires him at the deadline, not a moment before, once.
    async with sessionmaker() as session, session.begin():
        assert await service.expire_consents(session=session, now=DEADLINE - timedelta(microseconds=1)) == 0
    async with sessionmaker() as session, session.begin():
        assert await service.expire_consents(session=session, now=DEADLINE) == 1
    async with sessionmaker() as session, session.begin():
        assert await service.expire_consents(session=session, now=DEADLINE + timedelta(days=1)) == 0
    late = await by_sms(sessionmaker, f.son.phone, f"ДА {codes[f.son.phone]}", DEADLINE - timedelta(minutes=1))
    assert late.outcome == "late"  # already expired: a reply that took long to arrive changes nothing

    final = await requests(sessionmaker, app_id)
    assert {iin: r.status for iin, r in final.items()} == {
        f.mother.iin: "granted", f.father.iin: "withdrawn", f.son.iin: "expired", f.grandmother.iin: "refused"}
    assert final[f.father.iin].answered_at == SMS_TAKEN_AT + timedelta(hours=1)
    assert final[f.father.iin].withdrawn_at == SMS_TAKEN_AT + timedelta(days=1)
    assert final[f.son.iin].answered_at is None
    assert (await events(sessionmaker, app_id))[3:] == [
        ("consent.requested", f.father.iin, "requested", "pending"),
        ("consent.requested", f.son.iin, "requested", "pending"),
        ("consent.granted", f.father.iin, "granted", "pending"),
        ("consent.refused", f.grandmother.iin, "refused", "not_given"),
        ("consent.withdrawn", f.father.iin, "withdrawn", "not_given"),
        ("consent.expired", f.son.iin, "expired", "not_given"),
    ]

    logged = "\n".join(r.getMessage() + str(r.__dict__) for r in caplog.records)
    assert "7705*****02" in logged  # the father's reply, masked
    for secret in [*codes.values(), *(m.iin for m in f.members), f.father.phone, f.son.phone, "+77770000000"]:
        assert secret not in logged


async def test_when_the_last_two_adults_grant_at_once_exactly_one_event_says_the_family_granted(sessionmaker):
    f = Family()
    app_id = await submit(sessionmaker, f)
    grandmother = (await requests(sessionmaker, app_id))[f.grandmother.iin]
    async with sessionmaker() as session, session.begin():
        await service.answer_consent_in_portal(session=session, consent_id=grandmother.id,
                                               citizen_iin=f.grandmother.iin, answer="yes", at=SMS_TAKEN_AT)
    codes = await send_sms(sessionmaker)
    father, son = await asyncio.gather(
        by_sms(sessionmaker, f.father.phone, f"ДА {codes[f.father.phone]}", SMS_TAKEN_AT),
        by_sms(sessionmaker, f.son.phone, f"YES {codes[f.son.phone]}", SMS_TAKEN_AT))
    assert (father.outcome, son.outcome) == ("granted", "granted")
    granted = [e for e in await events(sessionmaker, app_id) if e[0] == "consent.granted"]
    assert [family for *_, family in granted].count("granted") == 1 and granted[-1][3] == "granted"
    # The same SMS delivered twice has one effect.
    again = await by_sms(sessionmaker, f.son.phone, f"YES {codes[f.son.phone]}", SMS_TAKEN_AT)
    assert again.outcome == "already_answered"
    assert len([e for e in await events(sessionmaker, app_id) if e[0] == "consent.granted"]) == len(granted)


async def test_a_consent_can_no_longer_be_withdrawn_once_the_application_is_decided(sessionmaker):
    f = Family()
    app_id = await submit(sessionmaker, f)
    mother = (await requests(sessionmaker, app_id))[f.mother.iin]
    async with sessionmaker() as session, session.begin():
        await session.execute(update(ApplicationRow).where(ApplicationRow.id == app_id)
                              .values(status=domain.REJECTED, decision={"eligible": False}))
    async with sessionmaker() as session, session.begin():
        result = await service.withdraw_consent(session=session, consent_id=mother.id, citizen_iin=f.mother.iin,
                                                at=SMS_TAKEN_AT)
    assert result.outcome == "decided"
    assert (await requests(sessionmaker, app_id))[f.mother.iin].status == "granted"


async def test_a_decreed_day_off_moves_the_deadline_and_a_later_decree_for_that_day_replaces_it(sessionmaker):
    admin = Caller(id="admin-1", kind="admin", scopes=frozenset())
    friday = datetime(2026, 6, 12, 10, 0, tzinfo=ALMATY)
    async with sessionmaker() as session, session.begin():
        await service.record_decree(session=session, caller=admin,
                                    decree=DecreedDay(date(2026, 6, 15), working=True, reason="a typo"))
        await service.record_decree(session=session, caller=admin,
                                    decree=DecreedDay(date(2026, 6, 15), working=False, reason="decree No. 1"))
    f = Family()
    app_id = await submit(sessionmaker, f, at=friday)
    grandmother = (await requests(sessionmaker, app_id))[f.grandmother.iin]
    assert grandmother.expires_at == datetime(2026, 6, 17, tzinfo=ALMATY)  # Monday off: end of Tuesday
    codes = await send_sms(sessionmaker, at=friday)
    assert len(codes) == 2
    async with sessionmaker() as session:
        calendar = await repository.business_calendar(session)
    assert calendar.non_business_reason(date(2026, 6, 15)) == "decreed non-working: decree No. 1"


async def test_no_consent_is_asked_where_the_policy_does_not_require_it(sessionmaker):
    async with sessionmaker() as session, session.begin():
        await repository.add_parameter_value(session, uuid7(), domain.ParameterValue(
            "consent_required", "750000000", date(2026, 1, 1), None, False, SUBMITTED_AT))
    app_id = await submit(sessionmaker, Family(region="750000000"))
    assert await requests(sessionmaker, app_id) == {}
    assert await events(sessionmaker, app_id) == []
    async with sessionmaker() as session:
        assert await session.scalar(select(ConsentRow.id).where(ConsentRow.application_id == app_id)) is None
