"""Contracts: drafted on a conditional approval, signed once."""

from __future__ import annotations

from datetime import date

from sqlalchemy import func, select

from shared.outbox import outbox
from tests.support import decided_event, eventually, person, publish

READ = frozenset({"contracts:read"})
SIGN = frozenset({"contracts:sign", "contracts:read"})


async def test_conditional_approval_drafts_a_contract_that_signs_once(running_service, broker, internal_token):
    mother = person(date(1991, 1, 1), "female", "applicant")
    father = person(date(1989, 1, 1), "male", "spouse", employed=True)
    event = decided_event(kind="conditional", members=[mother, father], able_bodied=[mother["iin"], father["iin"]])
    app_id = event.data["application"]["application_id"]
    async with running_service("contracts") as client:
        await publish(broker.bootstrap, "qamqor.eligibility", event, times=2)
        # an unconditional approval drafts nothing
        await publish(broker.bootstrap, "qamqor.eligibility", decided_event(kind="unconditional"))

        async def drafted():
            listed = (await client.get("/v1/contracts", headers=internal_token("case_worker", READ))).json()
            return listed if listed else None

        contracts = await eventually(drafted)
        assert len(contracts) == 1 and contracts[0]["application_id"] == app_id
        assert contracts[0]["obligations"] == [
            {"iin": mother["iin"], "measure": "job_placement"}, {"iin": father["iin"], "measure": "stay_employed"}]

        contract_id = contracts[0]["id"]
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
