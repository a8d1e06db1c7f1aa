"""FDC invitations against a real PostgreSQL, the sandbox's income registry over HTTP and the
eligibility service's own estimate (its app, called with the FDC's internal token): a batch with
each outcome answered exactly, hostile input, who may invite, and an invited person's application
linked and counted in the funnel."""

from __future__ import annotations

import uuid
from datetime import date

import httpx

from services.intake.fdc import PreChecker
from shared.calendar import Quarter, business_date
from tests.support import application_body, decided_event, eventually, person, publish


def _family(reference: str, members: list[dict], **extra) -> dict:
    return {"reference": reference, "region_kato": "610000000", "settlement": "rural", "phone": "+77011234567",
            "category": "D", "members": [{k: m[k] for k in ("iin", "birth_date", "sex", "relation")}
                                         for m in members]} | extra


async def _set_incomes(sandbox_url: str, iin: str, monthly_wage: str | None) -> None:
    months = Quarter.of(business_date()).previous().months()
    incomes = [] if monthly_wage is None else [
        {"month": m.strftime("%Y-%m"), "type": "wage", "amount": monthly_wage} for m in months]
    async with httpx.AsyncClient(base_url=sandbox_url) as sandbox:
        assert (await sandbox.put(f"/sandbox/persons/{iin}", json={"incomes": incomes})).status_code == 200


async def test_a_batch_answers_each_family_and_an_invited_application_is_counted(
        running_service, internal_token, sandbox_url, broker):
    poor = [person(date(1988, 3, 3), "female", "applicant"), person(date(2019, 4, 4), "male", "child")]
    rich = [person(date(1980, 5, 5), "male", "applicant")]
    applying = [person(date(1985, 6, 6), "female", "applicant")]
    overlapping = [person(date(1990, 7, 7), "male", "applicant"), poor[1]]  # shares the child with `poor`
    for member in poor + applying + overlapping:
        await _set_incomes(sandbox_url, member["iin"], None)
    await _set_incomes(sandbox_url, rich[0]["iin"], "900000.00")
    bad = _family("bad-iin", [poor[0]])
    bad["members"][0]["iin"] = poor[0]["iin"][:-1] + str((int(poor[0]["iin"][-1]) + 1) % 10)
    fdc = internal_token("fdc")

    async with running_service("eligibility") as eligibility, \
            running_service("intake", QAMQOR_INTAKE_INCOME_REGISTRY_URL=sandbox_url) as intake:
        intake.app.state.fdc_prechecker = PreChecker(  # type: ignore[attr-defined]
            intake.app.state.settings,  # type: ignore[attr-defined]
            eligibility_transport=httpx.ASGITransport(app=eligibility.app))  # type: ignore[attr-defined]
        submitted = await intake.post("/v1/applications", json=application_body(applying),
                                      headers=internal_token("portal", citizen=applying[0]["iin"])
                                      | {"Idempotency-Key": str(uuid.uuid4())})
        assert submitted.status_code == 201, submitted.text

        batch = [_family("poor", poor), _family("rich", rich), _family("applying", applying), bad,
                 _family("overlapping", overlapping), {"reference": "no-members", "region_kato": "610000000"}]
        response = await intake.post("/v1/fdc/invitations", json={"families": batch}, headers=fdc)
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["quarter"] == str(Quarter.of(business_date()))
        answers = body["families"]
        assert [(a["index"], a["reference"], a["outcome"]) for a in answers] == [
            (0, "poor", "invited"), (1, "rich", "not_likely_eligible"), (2, "applying", "already_applying_or_receiving"),
            (3, "bad-iin", "invalid"), (4, "overlapping", "already_invited"), (5, "no-members", "invalid")]
        assert answers[0]["invitation_id"] and answers[0]["monthly_estimate"] > 0
        assert answers[1]["reasons"] and "INCOME" in " ".join(answers[1]["reasons"]).upper()
        assert [e["field"] for e in answers[3]["errors"]] == ["families[3].members[0].iin"]
        assert "check digit" in answers[3]["errors"][0]["message"]
        assert {e["field"] for e in answers[5]["errors"]} == {
            "families[5].settlement", "families[5].phone", "families[5].members"}
        assert body["counts"]["invited"] == 1 and body["counts"]["invalid"] == 2

        # The same family again this quarter: not invited twice.
        again = await intake.post("/v1/fdc/invitations", json={"families": [_family("poor-again", poor)]}, headers=fdc)
        assert [a["outcome"] for a in again.json()["families"]] == ["already_invited"]

        # The portal notice, for the citizen invited.
        notice = await intake.get("/v1/fdc/invitations", headers=internal_token("portal", citizen=poor[0]["iin"]))
        assert notice.status_code == 200, notice.text
        [shown] = notice.json()
        assert shown["id"] == answers[0]["invitation_id"] and shown["status"] == "invited"
        assert "АӘК" in shown["notice"]["kk"] and "АСП" in shown["notice"]["ru"] and shown["link"] in shown["notice"]["ru"]

        # The invited family applies: the application is linked, and the funnel counts it.
        created = await intake.post("/v1/applications", json=application_body(poor),
                                    headers=internal_token("portal", citizen=poor[0]["iin"])
                                    | {"Idempotency-Key": str(uuid.uuid4())})
        assert created.status_code == 201, created.text
        linked = (await intake.get("/v1/fdc/invitations",
                                   headers=internal_token("portal", citizen=poor[0]["iin"]))).json()
        assert (linked[0]["status"], linked[0]["application_id"]) == ("applied", created.json()["id"])
        ops = internal_token("ops", frozenset({"stats:read"}))
        funnel = (await intake.get("/v1/fdc/funnel", headers=ops)).json()
        assert funnel["rows"] == [{"region": "610000000", "channel": "fdc_sms", "invited": 1, "applied": 1,
                                   "approved": 0, "paid": 0}]
        await publish(broker.bootstrap, "qamqor.eligibility",
                      decided_event(application_id=uuid.UUID(created.json()["id"])))

        async def approved():
            rows = (await intake.get("/v1/fdc/funnel?region=611010000", headers=ops)).json()["rows"]
            return rows if rows and rows[0]["approved"] == 1 else None

        assert (await eventually(approved))[0] | {} == {"region": "610000000", "channel": "fdc_sms", "invited": 1,
                                                        "applied": 1, "approved": 1, "paid": 0}
        assert (await intake.get("/v1/fdc/funnel?region=150000000", headers=ops)).json()["rows"] == []


async def test_hostile_batches_and_callers(running_service, internal_token):
    family = _family("x", [person(date(1988, 3, 3), "female", "applicant")])
    async with running_service("intake") as intake:
        too_many = await intake.post("/v1/fdc/invitations", json={"families": [family] * 1001},
                                     headers=internal_token("fdc"))
        assert too_many.status_code == 422
        assert [e["field"] for e in too_many.json()["errors"]] == ["families"]
        for kind, extra in (("portal", {"citizen": family["members"][0]["iin"]}), ("ops", {}), ("admin", {})):
            refused = await intake.post("/v1/fdc/invitations", json={"families": [family]},
                                        headers=internal_token(kind, frozenset({"fdc:invite"}), **extra))
            assert refused.status_code == 403 and refused.json()["type"].endswith("/fdc-only")
        unscoped = await intake.post("/v1/fdc/invitations", json={"families": [family]},
                                     headers=internal_token("fdc", frozenset({"applications:read"})))
        assert unscoped.status_code == 403
        fdc_scopes = frozenset({"eligibility:estimate", "applications:read", "fdc:invite"})
        assert (await intake.get("/v1/fdc/funnel", headers=internal_token("fdc", fdc_scopes))).status_code == 403
        assert (await intake.get("/v1/fdc/funnel?quarter=2026Q1",
                                 headers=internal_token("ops", frozenset({"stats:read"})))).status_code == 422
