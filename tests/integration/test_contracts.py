"""Contracts: drafted on a conditional approval, signed once."""

from __future__ import annotations

import uuid
from datetime import date

from sqlalchemy import func, select

from services.contracts.models import SocialContract
from shared.outbox import outbox
from tests.support import (
    assert_refused_without_scope,
    decided_event,
    eventually,
    on_partition_of,
    person,
    publish,
)

READ = frozenset({"contracts:read"})
SIGN = frozenset({"contracts:sign", "contracts:read"})


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
                                     headers=internal_token("case_worker", READ))).json()

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

        first = await client.post(f"/v1/contracts/{contract_id}/sign", headers=internal_token("portal", SIGN))
        second = await client.post(f"/v1/contracts/{contract_id}/sign", headers=internal_token("portal", SIGN))
        assert first.status_code == second.status_code == 200
        assert first.json()["status"] == "signed" and second.json()["signed_at"] == first.json()["signed_at"]
        async with client.app.state.sessionmaker() as session:
            signed_events = await session.scalar(select(func.count()).select_from(outbox).where(
                outbox.c.event_type == "contract.signed"))
        assert signed_events == 1

        missing = await client.post("/v1/contracts/01900000-0000-7000-8000-000000000000/sign",
                                    headers=internal_token("portal", SIGN))
        assert missing.status_code == 404


async def test_every_route_refuses_a_caller_without_its_scope(running_service, internal_token):
    some_id = uuid.uuid4()
    async with running_service("contracts") as client:
        for method, path, scope in [
            ("GET", "/v1/contracts", "contracts:read"),
            ("GET", f"/v1/contracts/{some_id}", "contracts:read"),
            ("POST", f"/v1/contracts/{some_id}/sign", "contracts:sign"),  # 403 before any 404
        ]:
            await assert_refused_without_scope(client, internal_token, method, path, scope)
