"""Two submissions for the same person at the same moment end in one 201 and one 409, never a
500: the unique index on active members decides between them, and its refusal is answered like
the check that runs before it."""

from __future__ import annotations

import asyncio
from datetime import date

from sqlalchemy import func, select, text

from services.intake.models import Application, ApplicationMember
from shared.calendar import utcnow
from tests.support import HALYK_IBAN, application_body, eventually, person

PROBLEM_JSON = "application/problem+json"


async def test_concurrent_submissions_for_one_person_give_one_201_and_409s(running_service, internal_token):
    applicant = person(date(1983, 5, 5), "female", "applicant")
    family = [applicant, person(date(2015, 6, 6), "male", "child")]
    citizen = internal_token("portal", citizen=applicant["iin"])
    async with running_service("intake") as client:
        responses = await asyncio.gather(*(
            client.post("/v1/applications", json=application_body(family),
                        headers=citizen | {"Idempotency-Key": f"concurrent-{i}"}) for i in range(6)))
        statuses = sorted(r.status_code for r in responses)
        assert statuses == [201, 409, 409, 409, 409, 409], [r.text for r in responses]
        for refused in (r for r in responses if r.status_code == 409):
            assert refused.headers["content-type"] == PROBLEM_JSON
            assert refused.json()["type"].endswith("/active-application-exists")
        async with client.app.state.sessionmaker() as session:
            assert await session.scalar(select(func.count()).select_from(Application)) == 1


async def test_two_parents_applying_with_the_same_child_at_once(running_service, internal_token):
    child = person(date(2017, 7, 7), "female", "child")
    mother, father = person(date(1986, 1, 1), "female", "applicant"), person(date(1984, 2, 2), "male", "applicant")
    async with running_service("intake") as client:
        responses = await asyncio.gather(*(
            client.post("/v1/applications", json=application_body([parent, child]),
                        headers=internal_token("portal", citizen=parent["iin"]) | {"Idempotency-Key": "k"})
            for parent in (mother, father)))
        assert sorted(r.status_code for r in responses) == [201, 409], [r.text for r in responses]
        refused = next(r for r in responses if r.status_code == 409)
        assert refused.json()["errors"][0]["field"] == "members[1].iin"
        assert child["iin"] not in refused.text


async def test_a_submission_committed_between_the_check_and_the_write_is_a_409(running_service, internal_token):
    """The race made certain: another transaction holds an active row for the applicant, not yet
    committed, when the request checks (it sees nothing) and writes (it waits on the unique
    index); that transaction then commits, and the write is refused."""
    applicant = person(date(1982, 3, 3), "male", "applicant")
    async with running_service("intake") as client:
        sessionmaker = client.app.state.sessionmaker
        async with sessionmaker() as other:
            async with other.begin():
                other.add(Application(
                    status="submitted", channel="egov", region_kato="610000000", settlement="urban",
                    application_date=date(2026, 4, 1), extension=False, expense_check_consent=False,
                    bank_iban=HALYK_IBAN, bank_code="HSBKKZKX", submitted_by="elsewhere", submitted_at=utcnow(),
                    members=[ApplicationMember(position=0, iin=applicant["iin"], full_name="Elsewhere",
                                               birth_date=date(1982, 3, 3), sex="male", relation="applicant",
                                               employed=False, full_time_student=False, carer=False, active=True)]))
                await other.flush()
                request = asyncio.create_task(client.post(
                    "/v1/applications", json=application_body([applicant]),
                    headers=internal_token("portal", citizen=applicant["iin"]) | {"Idempotency-Key": "raced"}))

                async def waiting_on_the_index():
                    if request.done():
                        return True  # it did not wait: the assertion below says why
                    async with sessionmaker() as probe:
                        return await probe.scalar(text(
                            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                            "AND wait_event_type = 'Lock' AND query ILIKE 'INSERT INTO application_members%'"))

                await eventually(waiting_on_the_index)
                assert not request.done(), request.result().text
            # committed: the request's write is refused now
        response = await request
        assert response.status_code == 409, response.text
        assert response.headers["content-type"] == PROBLEM_JSON
        assert response.json()["errors"] == [{"field": "members[0].iin",
                                              "message": f"{applicant['iin'][:4]}******{applicant['iin'][-2:]} "
                                                         "already has an active application"}]
        async with sessionmaker() as session:
            assert await session.scalar(select(func.count()).select_from(Application)) == 1  # the other one
        # The key was not spent on the refusal: the citizen may retry it once the other is withdrawn.
        async with sessionmaker() as session:
            assert await session.scalar(text("SELECT count(*) FROM idempotency_keys")) == 0
