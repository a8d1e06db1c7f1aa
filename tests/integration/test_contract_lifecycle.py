"""A social contract's life through the real contracts service and PostgreSQL: signing by the
applicant only, measures and their notes by the case workers of the family's region, breaches and
termination (one contract.terminated naming the whole family), outcome figures, and the sweep
that lapses unsigned contracts and completes signed ones at an injected `now`."""

from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta, timezone

from sqlalchemy import select

from services.contracts import service
from shared.calendar import ALMATY, Quarter, business_date, utcnow
from shared.outbox import outbox
from shared.events import Envelope
from tests.support import decided_event, eventually, on_partition_of, person, publish

READ = frozenset({"contracts:read"})
SIGN = frozenset({"contracts:sign", "contracts:read"})
WRITE = frozenset({"contracts:write", "contracts:read"})
STATS = frozenset({"stats:read"})
TURKESTAN = frozenset({"61"})


def conditional_decision(members: list[dict], able_bodied: list[str]):  # noqa: ANN201
    """A conditional approval assigned for the quarter of today (so the contract's period runs now)."""
    event = decided_event(kind="conditional", members=members, able_bodied=able_bodied)
    event.data["period_quarter"] = str(Quarter.of(business_date()))
    return event


async def drafted_contract(client, broker, internal_token, event) -> dict:  # noqa: ANN001
    await publish(broker.bootstrap, "qamqor.eligibility", event)
    app_id = event.data["application"]["application_id"]

    async def found():
        return (await client.get("/v1/contracts", params={"application_id": app_id},
                                 headers=internal_token("case_worker", READ, regions=TURKESTAN))).json()

    [contract] = await eventually(found)
    return contract


async def events_of(client, event_type: str, key: str) -> list[dict]:  # noqa: ANN001
    async with client.app.state.sessionmaker() as session:
        rows = (await session.execute(select(outbox.c.envelope).where(
            outbox.c.event_type == event_type, outbox.c.key == key))).scalars().all()
    return [row["data"] for row in rows]


async def test_measures_breaches_and_termination_through_the_routes(running_service, broker, internal_token):
    mother = person(date(1990, 6, 6), "female", "applicant")
    father = person(date(1988, 7, 7), "male", "spouse", employed=True)
    son = person(date(2016, 8, 8), "male", "child")
    event = conditional_decision([mother, father, son], [mother["iin"], father["iin"]])
    key = event.data["application"]["application_id"]
    today = business_date().isoformat()
    worker = internal_token("case_worker", WRITE, caller_id="cw-turkestan", regions=TURKESTAN)
    async with running_service("contracts") as client:
        contract = await drafted_contract(client, broker, internal_token, event)
        cid = contract["id"]
        # the text the family signs, in Kazakh and Russian, names each able-bodied member's obligation
        assert f"Член семьи с ИИН {mother['iin']} обязуется" in contract["text"]["ru"]
        assert f"ЖСН {father['iin']} отбасы мүшесі" in contract["text"]["kk"]
        assert contract["sign_by"] and contract["ends_on"] == Quarter.of(business_date()).last_day.isoformat()

        # measures need a signed contract
        early = await client.post(f"/v1/contracts/{cid}/measures", headers=worker,
                                  json={"member_iin": mother["iin"], "measure": "training"})
        assert early.status_code == 409 and early.json()["type"].endswith("/contract-not-active")
        # the wrong person signing: another member, and a stranger
        by_father = await client.post(f"/v1/contracts/{cid}/sign", headers=internal_token(
            "portal", SIGN, citizen=father["iin"]))
        assert by_father.status_code == 403
        signed = await client.post(f"/v1/contracts/{cid}/sign", headers=internal_token(
            "portal", SIGN, caller_id="portal-egov", citizen=mother["iin"]))
        assert signed.status_code == 200 and signed.json()["status"] == "signed"

        measures = f"/v1/contracts/{cid}/measures"
        # who may record: a case worker of the family's region only
        for headers, status in [
            (internal_token("case_worker", WRITE, regions=frozenset({"35"})), 404),
            (internal_token("portal", WRITE, citizen=mother["iin"]), 403),
            (internal_token("ops", WRITE), 403),
            (internal_token("case_worker", READ, regions=TURKESTAN), 403),  # without contracts:write
        ]:
            refused = await client.post(measures, headers=headers, json={"member_iin": mother["iin"],
                                                                         "measure": "training"})
            assert refused.status_code == status, (headers, refused.text)
        # hostile or wrong input: 422 naming the field
        for body, field in [
            ({"member_iin": son["iin"], "measure": "training"}, "member_iin"),      # a child: no obligation
            ({"member_iin": "12345", "measure": "training"}, "member_iin"),
            ({"member_iin": mother["iin"], "measure": "cooking"}, "measure"),
            ({"member_iin": mother["iin"], "measure": "stay_employed"}, "measure"),  # she is not employed
            ({"member_iin": mother["iin"], "measure": "training", "note": "a\x00b"}, "note"),
            ({"member_iin": mother["iin"], "measure": "training", "extra": 1}, "extra"),
        ]:
            bad = await client.post(measures, headers=worker, json=body)
            assert bad.status_code == 422, (body, bad.text)
            assert bad.json()["errors"][0]["field"] == field, (body, bad.json())

        training = await client.post(measures, headers=worker, json={
            "member_iin": mother["iin"], "measure": "training", "note": "Welding course at the college"})
        assert training.status_code == 201, training.text
        [offered] = training.json()["measures"]
        assert offered["status"] == "offered" and offered["notes"][0]["by"] == "cw-turkestan"
        step = f"{measures}/{offered['id']}"
        for body, field in [
            ({"status": "completed", "note": "x", "on": today}, "status"),           # offered → completed skips
            ({"status": "accepted", "note": "x", "on": "2099-01-01"}, "on"),          # the future
            ({"status": "accepted", "note": "x", "on": today, "outcome": "grant"}, "outcome"),
            ({"status": "accepted", "note": "", "on": today}, "note"),
            ({"status": "finished", "note": "x", "on": today}, "status"),
        ]:
            bad = await client.patch(step, headers=worker, json=body)
            assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == field, (body, bad.text)
        for status in ("accepted", "in_progress", "completed"):
            moved = await client.patch(step, headers=worker, json={
                "status": status, "note": f"{status}: noted", "on": today,
                **({"outcome": "training_completed"} if status == "completed" else {})})
            assert moved.status_code == 200, moved.text
        [done] = moved.json()["measures"]
        assert [n["status"] for n in done["notes"]] == ["offered", "accepted", "in_progress", "completed"]
        assert done["outcome"] == "training_completed"
        closed = await client.patch(step, headers=worker, json={"status": "refused", "note": "x", "on": today})
        assert closed.status_code == 409 and closed.json()["type"].endswith("/measure-closed")
        missing = await client.patch(f"{measures}/{uuid.uuid4()}", headers=worker,
                                     json={"status": "accepted", "note": "x", "on": today})
        assert missing.status_code == 404

        # the dashboard's figures: counts only, read with stats:read
        figures = await client.get("/v1/contracts/outcomes", params={"region": "61"},
                                   headers=internal_token("ops", STATS))
        assert figures.status_code == 200
        assert figures.json()["outcomes"]["training_completed"] >= 1
        assert (await client.get("/v1/contracts/outcomes", params={"region": "6"},
                                 headers=internal_token("ops", STATS))).json()["errors"][0]["field"] == "query.region"

        # non-fulfilment waits for a case worker's decision
        breaches = f"/v1/contracts/{cid}/breaches"
        for body, field in [
            ({"member_iin": son["iin"], "kind": "non_fulfilment", "occurred_on": today, "evidence": "x"},
             "member_iin"),
            ({"member_iin": father["iin"], "kind": "late", "occurred_on": today, "evidence": "x"}, "kind"),
            ({"member_iin": father["iin"], "kind": "non_fulfilment", "occurred_on": "2099-01-01", "evidence": "x"},
             "occurred_on"),
        ]:
            bad = await client.post(breaches, headers=worker, json=body)
            assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == field, (body, bad.text)
        breach = await client.post(breaches, headers=worker, json={
            "member_iin": father["iin"], "kind": "non_fulfilment", "occurred_on": today,
            "evidence": "Left his job without notice; employer's letter"})
        assert breach.status_code == 201 and breach.json()["status"] == "signed"
        breach_id = breach.json()["breaches"][0]["id"]
        terminate = f"/v1/contracts/{cid}/terminate"
        unknown = await client.post(terminate, headers=worker, json={"breach_id": str(uuid.uuid4()),
                                                                     "terminated_on": today})
        assert unknown.status_code == 422 and unknown.json()["errors"][0]["field"] == "breach_id"
        assert (await events_of(client, "contract.terminated", key)) == []
        ended = await client.post(terminate, headers=worker, json={"breach_id": breach_id, "terminated_on": today})
        again = await client.post(terminate, headers=worker, json={"breach_id": breach_id, "terminated_on": today})
        assert ended.status_code == again.status_code == 200
        assert ended.json()["status"] == "terminated" and ended.json()["terminated_on"] == today
        [announced] = await events_of(client, "contract.terminated", key)
        assert announced["terminated_on"] == today and announced["reason"] == "non_fulfilment"
        assert announced["member_iins"] == [mother["iin"], father["iin"], son["iin"]]
        after = await client.post(measures, headers=worker, json={"member_iin": father["iin"],
                                                                  "measure": "stay_employed"})
        assert after.status_code == 409


async def test_a_refused_measure_terminates_the_contract_at_once(running_service, broker, internal_token):
    mother = person(date(1993, 3, 9), "female", "applicant")
    daughter = person(date(2004, 4, 4), "female", "child")
    event = conditional_decision([mother, daughter], [mother["iin"], daughter["iin"]])
    key = event.data["application"]["application_id"]
    today = business_date().isoformat()
    worker = internal_token("case_worker", WRITE, regions=TURKESTAN)
    async with running_service("contracts") as client:
        cid = (await drafted_contract(client, broker, internal_token, event))["id"]
        await client.post(f"/v1/contracts/{cid}/sign", headers=internal_token("portal", SIGN, citizen=mother["iin"]))
        offered = await client.post(f"/v1/contracts/{cid}/measures", headers=worker, json={
            "member_iin": daughter["iin"], "measure": "public_works"})
        measure_id = offered.json()["measures"][0]["id"]
        refused = await client.patch(f"/v1/contracts/{cid}/measures/{measure_id}", headers=worker, json={
            "status": "refused", "note": "Refused public works in writing", "on": today})
        assert refused.status_code == 200, refused.text
        body = refused.json()
        assert (body["status"], body["terminated_on"], body["termination_reason"]) == (
            "terminated", today, "refused_measures")
        assert body["breaches"][0]["measure_id"] == measure_id
        [announced] = await events_of(client, "contract.terminated", key)
        assert announced["member_iins"] == [mother["iin"], daughter["iin"]]


async def test_the_sweep_lapses_the_unsigned_and_completes_the_signed_at_an_injected_now(
        running_service, broker, internal_token):
    unsigned = conditional_decision([person(date(1985, 1, 5), "female", "applicant")], [])
    applicant = person(date(1986, 2, 6), "male", "applicant")
    to_sign = conditional_decision([applicant], [applicant["iin"]])
    async with running_service("contracts") as client:
        lapsing = await drafted_contract(client, broker, internal_token, unsigned)
        signing = await drafted_contract(client, broker, internal_token, to_sign)
        signed = await client.post(f"/v1/contracts/{signing['id']}/sign",
                                   headers=internal_token("portal", SIGN, citizen=applicant["iin"]))
        assert signed.status_code == 200
        sign_by = datetime.fromisoformat(lapsing["sign_by"])
        ends_on = date.fromisoformat(signing["ends_on"])

        async def sweep(now: datetime) -> None:
            async with client.app.state.sessionmaker() as session, session.begin():
                await service.sweep(session=session, now=now)

        async def status_of(contract: dict) -> str:
            return (await client.get(f"/v1/contracts/{contract['id']}",
                                     headers=internal_token("case_worker", READ, regions=TURKESTAN))).json()["status"]

        await sweep(min(sign_by, utcnow()) - timedelta(seconds=1))
        assert await status_of(lapsing) == "drafted" and await status_of(signing) == "signed"
        await sweep(sign_by)
        assert await status_of(lapsing) == "lapsed"
        [lapsed] = await events_of(client, "contract.lapsed", unsigned.key)
        assert datetime.fromisoformat(lapsed["lapsed_at"]) == sign_by
        # too late to sign now
        late = await client.post(f"/v1/contracts/{lapsing['id']}/sign", headers=internal_token(
            "portal", SIGN, citizen=unsigned.data["members"][0]["iin"]))
        assert late.status_code == 409

        last_moment = datetime.combine(ends_on + timedelta(days=1), datetime.min.time(), tzinfo=ALMATY)
        await sweep(last_moment - timedelta(seconds=1))
        assert await status_of(signing) == "signed"
        await sweep(last_moment.astimezone(timezone.utc))
        await sweep(last_moment.astimezone(timezone.utc) + timedelta(days=1))  # again: nothing more
        assert await status_of(signing) == "completed"
        [completed] = await events_of(client, "contract.completed", to_sign.key)
        assert completed["completed_on"] == ends_on.isoformat()
        assert await events_of(client, "contract.lapsed", to_sign.key) == []


async def test_the_signing_deadline_follows_the_policy_parameter_replica(running_service, broker, internal_token):
    from shared.business_days import BusinessCalendar
    from shared.events.contracts import ParameterRecorded

    recorded = Envelope.wrap(ParameterRecorded(
        parameter_id=uuid.uuid4(), name="contract_sign_business_days", region_kato="790000000",
        valid_from=business_date(), valid_to=None, value="3", recorded_at=utcnow()),
        source="eligibility", key="contract_sign_business_days")
    applicant = person(date(1987, 9, 9), "female", "applicant")
    shymkent = decided_event(kind="conditional", members=[applicant], able_bodied=[applicant["iin"]],
                             region="790000000")
    elsewhere = conditional_decision([person(date(1984, 4, 8), "male", "applicant")], [])
    async with running_service("contracts") as client:
        await publish(broker.bootstrap, "qamqor.eligibility", recorded, times=2)  # kept once
        await publish(broker.bootstrap, "qamqor.eligibility", on_partition_of(shymkent, recorded))
        await publish(broker.bootstrap, "qamqor.eligibility", elsewhere)

        async def contract_of(event, regions):  # noqa: ANN001, ANN202
            found = (await client.get("/v1/contracts", params={"application_id": event.data["application"][
                "application_id"]}, headers=internal_token("case_worker", READ, regions=regions))).json()
            return found[0] if found else None

        three_days = await eventually(lambda: contract_of(shymkent, frozenset({"79"})))
        ten_days = await eventually(lambda: contract_of(elsewhere, TURKESTAN))
        calendar = BusinessCalendar()
        drafted_at = datetime.fromisoformat(three_days["drafted_at"])
        assert datetime.fromisoformat(three_days["sign_by"]) == calendar.deadline(drafted_at, business_days=3)
        # the shipped national value (10) elsewhere
        drafted_at = datetime.fromisoformat(ten_days["drafted_at"])
        assert datetime.fromisoformat(ten_days["sign_by"]) == calendar.deadline(drafted_at, business_days=10)
