"""The FDC funnel from intake's own events: intake announces each invitation and each conversion
through its outbox (`fdc.invitation.issued`, `fdc.invitation.converted`: no IIN, no phone), and
reporting's dashboard counts the same funnel as intake's `GET /v1/fdc/funnel`."""

from __future__ import annotations

import uuid
from datetime import date

import httpx
from sqlalchemy import select

from services.intake.fdc import PreChecker
from shared.calendar import Quarter, business_date
from shared.outbox import outbox
from tests.support import application_body, decided_event, eventually, person, publish

# No other test invites or applies in Akmola: this region's funnel is this test's own.
AKMOLA = "110000000"
STATS = frozenset({"stats:read"})


async def _no_income(sandbox_url: str, iin: str) -> None:
    async with httpx.AsyncClient(base_url=sandbox_url) as sandbox:
        assert (await sandbox.put(f"/sandbox/persons/{iin}", json={"incomes": []})).status_code == 200


def _family(reference: str, members: list[dict]) -> dict:
    return {"reference": reference, "region_kato": AKMOLA, "settlement": "rural", "phone": "+77017654321",
            "category": "E", "members": [{k: m[k] for k in ("iin", "birth_date", "sex", "relation")} for m in members]}


async def test_reporting_counts_the_funnel_intake_counts(running_service, internal_token, sandbox_url, broker):
    applying = [person(date(1987, 2, 2), "female", "applicant"), person(date(2020, 3, 3), "male", "child")]
    waiting = [person(date(1992, 4, 4), "male", "applicant")]
    for member in applying + waiting:
        await _no_income(sandbox_url, member["iin"])
    quarter = str(Quarter.of(business_date()))
    ops = internal_token("ops", STATS)

    async with running_service("eligibility") as eligibility, \
            running_service("intake", QAMQOR_INTAKE_INCOME_REGISTRY_URL=sandbox_url) as intake, \
            running_service("reporting") as reporting:
        intake.app.state.fdc_prechecker = PreChecker(  # type: ignore[attr-defined]
            intake.app.state.settings,  # type: ignore[attr-defined]
            eligibility_transport=httpx.ASGITransport(app=eligibility.app))  # type: ignore[attr-defined]
        invited = await intake.post("/v1/fdc/invitations", headers=internal_token("fdc"), json={
            "families": [_family("akmola-1", applying), _family("akmola-2", waiting)]})
        assert [a["outcome"] for a in invited.json()["families"]] == ["invited", "invited"], invited.text
        created = await intake.post("/v1/applications", json=application_body(applying, region=AKMOLA),
                                    headers=internal_token("portal", citizen=applying[0]["iin"])
                                    | {"Idempotency-Key": str(uuid.uuid4())})
        assert created.status_code == 201, created.text

        async def funnel(expected: dict) -> dict | None:
            response = await reporting.get("/v1/stats/dashboard", params={"quarter": quarter, "region_kato": AKMOLA},
                                           headers=ops)
            assert response.status_code == 200, response.text
            shown = response.json()["fdc_funnel"]
            return shown if shown["totals"] == expected else None

        applied = {"invited": 2, "applied": 1, "approved": 0, "paid": 0}
        shown = await eventually(lambda: funnel(applied), timeout=30.0)
        assert shown["by_region"] == [{"region_kato": AKMOLA, **applied}]
        assert shown["by_channel"] == [{"channel": "fdc_sms", **applied}]
        intake_funnel = (await intake.get("/v1/fdc/funnel", params={"region": AKMOLA}, headers=ops)).json()
        assert intake_funnel["totals"] == applied

        # Approved: both funnels move.
        await publish(broker.bootstrap, "qamqor.eligibility",
                      decided_event(application_id=uuid.UUID(created.json()["id"]), region=AKMOLA))
        approved = {"invited": 2, "applied": 1, "approved": 1, "paid": 0}
        await eventually(lambda: funnel(approved), timeout=30.0)

        async def intake_approved() -> dict | None:
            body = (await intake.get("/v1/fdc/funnel", params={"region": AKMOLA}, headers=ops)).json()
            return body if body["totals"] == approved else None

        await eventually(intake_approved)

        # What intake published carries no IIN and no phone.
        async with intake.app.state.sessionmaker() as session:  # type: ignore[attr-defined]
            published = (await session.execute(select(outbox.c.event_type, outbox.c.envelope).where(
                outbox.c.event_type.like("fdc.invitation.%")))).all()
    assert sorted(t for t, _ in published) == ["fdc.invitation.converted", "fdc.invitation.issued",
                                               "fdc.invitation.issued"]
    text = " ".join(str(envelope) for _, envelope in published)
    for member in applying + waiting:
        assert member["iin"] not in text and member["full_name"] not in text
    assert "7017654321" not in text
