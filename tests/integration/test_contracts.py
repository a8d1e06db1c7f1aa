"""Contracts: drafted on a conditional approval, signed once."""

from __future__ import annotations

import uuid
from datetime import date

from sqlalchemy import func, select

from services.contracts.models import SocialContract
from shared.outbox import outbox
from tests.support import (
    assert_documents_what_it_answers,
    assert_family_scoped,
    assert_refused_without_scope,
    data_subjects,
    decided_event,
    eventually,
    on_partition_of,
    person,
    publish,
    someone_else,
)

READ = frozenset({"contracts:read"})
SIGN = frozenset({"contracts:sign", "contracts:read"})
TURKESTAN = frozenset({"61"})  # decided_event's region: 610000000


async def test_conditional_approval_drafts_a_contract_that_signs_once(running_service, broker, internal_token):
    mother = person(date(1991, 1, 1), "female", "applicant")
    father = person(date(1989, 1, 1), "male", "spouse", employed=True)
    event = decided_event(kind="conditional", members=[mother, father], able_bodied=[mother["iin"], father["iin"]])
    app_id = event.data["application"]["application_id"]
    unconditional = decided_event(kind="unconditional")
    async with running_service("contracts") as client:
        # an unconditional approval drafts nothing: published first on the same partition, it
        # has been handled once the conditional one's contract shows
        await publish(broker.bootstrap, "qamqor.eligibility", on_partition_of(unconditional, event))
        await publish(broker.bootstrap, "qamqor.eligibility", event, times=2)

        async def contracts_of(application_id: str) -> list[dict]:
            return (await client.get("/v1/contracts", params={"application_id": application_id},
                                     headers=internal_token("case_worker", READ, regions=TURKESTAN))).json()

        contracts = await eventually(lambda: contracts_of(app_id))
        assert await contracts_of(unconditional.data["application"]["application_id"]) == []
        assert len(contracts) == 1 and contracts[0]["application_id"] == app_id
        assert contracts[0]["status"] == "drafted"
        assert contracts[0]["obligations"] == [
            {"iin": mother["iin"], "measure": "job_placement"}, {"iin": father["iin"], "measure": "stay_employed"}]

        contract_id = contracts[0]["id"]
        await assert_refused_without_scope(client, internal_token, "POST", f"/v1/contracts/{contract_id}/sign",
                                           "contracts:sign")
        async with client.app.state.sessionmaker() as session:
            assert await session.scalar(select(SocialContract.status).where(
                SocialContract.id == uuid.UUID(contract_id))) == "drafted"
            assert await session.scalar(select(func.count()).select_from(outbox).where(
                outbox.c.event_type == "contract.signed")) == 0

        # only the applicant signs, through a portal acting for her
        sign = f"/v1/contracts/{contract_id}/sign"
        by_father = await client.post(sign, headers=internal_token("portal", SIGN, citizen=father["iin"]))
        assert by_father.status_code == 403 and by_father.json()["type"].endswith("/applicant-signs")
        assert "applicant" in by_father.json()["detail"] and father["iin"] not in by_father.text
        by_outsider = await client.post(sign, headers=internal_token("portal", SIGN, citizen=someone_else()))
        assert by_outsider.status_code == 404
        by_portal_alone = await client.post(sign, headers=internal_token("portal", SIGN))
        assert by_portal_alone.status_code == 403
        assert by_portal_alone.json()["type"].endswith("/citizen-token-required")
        for kind in ("case_worker", "ops", "admin"):
            by_other = await client.post(sign, headers=internal_token(kind, SIGN, regions=TURKESTAN))
            assert by_other.status_code == 403, (kind, by_other.text)
        async with client.app.state.sessionmaker() as session:
            assert await session.scalar(select(SocialContract.status).where(
                SocialContract.id == uuid.UUID(contract_id))) == "drafted"

        as_mother = internal_token("portal", SIGN, caller_id="portal-egov", citizen=mother["iin"])
        first = await client.post(sign, headers=as_mother)
        second = await client.post(sign, headers=as_mother)
        assert first.status_code == second.status_code == 200
        assert first.json()["status"] == "signed" and second.json()["signed_at"] == first.json()["signed_at"]
        assert (first.json()["signed_by"], first.json()["signed_via"]) == (mother["iin"], "portal-egov")
        assert data_subjects(first) == {mother["iin"], father["iin"]}
        async with client.app.state.sessionmaker() as session:
            signed_events = await session.scalar(select(func.count()).select_from(outbox).where(
                outbox.c.event_type == "contract.signed"))
        assert signed_events == 1

        missing = await client.post("/v1/contracts/01900000-0000-7000-8000-000000000000/sign", headers=as_mother)
        assert missing.status_code == 404


async def test_a_contract_is_read_by_its_family_and_the_case_workers_of_its_region_only(
        running_service, broker, internal_token):
    mother = person(date(1992, 2, 2), "female", "applicant")
    son = person(date(2010, 2, 2), "male", "child")
    event = decided_event(kind="conditional", members=[mother, son], able_bodied=[mother["iin"]],
                          region="350000000")
    app_id = event.data["application"]["application_id"]
    async with running_service("contracts") as client:
        await publish(broker.bootstrap, "qamqor.eligibility", event)
        as_son = internal_token("portal", READ, citizen=son["iin"])

        async def drafted():
            return (await client.get("/v1/contracts", params={"application_id": app_id}, headers=as_son)).json()

        [contract] = await eventually(drafted)
        assert contract["applicant_iin"] == mother["iin"] and contract["status"] == "drafted"
        # a member who is not the applicant reads it; so do the case workers of Karaganda (35)
        await assert_family_scoped(client, internal_token, f"/v1/contracts/{contract['id']}", scope="contracts:read",
                                   member_iin=son["iin"], region_kato="350000000")
        await assert_family_scoped(client, internal_token, "/v1/contracts", params={"application_id": app_id},
                                   scope="contracts:read", member_iin=son["iin"], region_kato="350000000",
                                   listing=True)
        # unfiltered, a citizen's list holds their own families' contracts only
        mine = (await client.get("/v1/contracts", params={"limit": 500}, headers=as_son)).json()
        assert [c["id"] for c in mine] == [contract["id"]]
        by_status = await client.get("/v1/contracts", params={"status": "cancelled"}, headers=as_son)
        assert by_status.status_code == 422 and by_status.json()["errors"][0]["field"] == "query.status"


async def test_every_route_refuses_a_caller_without_its_scope(running_service, internal_token):
    some_id = uuid.uuid4()
    async with running_service("contracts") as client:
        for method, path, scope in [
            ("GET", "/v1/contracts", "contracts:read"),
            ("GET", f"/v1/contracts/{some_id}", "contracts:read"),
            ("POST", f"/v1/contracts/{some_id}/sign", "contracts:sign"),  # 403 before any 404
        ]:
            await assert_refused_without_scope(client, internal_token, method, path, scope)


def test_the_openapi_documents_each_answer_and_error():
    assert_documents_what_it_answers("contracts")
