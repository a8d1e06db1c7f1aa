"""The Family Digital Card through the whole platform (issue 13, points 1–2): the FDC flags a
family, intake pre-checks it on the income registry's figures with eligibility's rules (over
HTTP, as the launcher wires them), invites it by SMS through the sandbox's SMS gateway, and the
application the family then makes is linked to the invitation and counted in the funnel."""

from __future__ import annotations

import time
from datetime import date

import pytest

from qamqor_cli.demo import GatewayClient
from tests.e2e.conftest import caller_of, set_incomes, submit
from tests.support import person

pytestmark = pytest.mark.e2e


def _fdc_family(members: list[dict], phone: str) -> dict:
    return {"reference": f"fdc-{members[0]['iin']}", "region_kato": "610000000", "settlement": "rural",
            "phone": phone, "category": "E",
            "members": [{k: m[k] for k in ("iin", "birth_date", "sex", "relation")} for m in members]}


def test_an_invited_family_is_told_by_sms_and_its_application_is_counted_in_the_funnel(platform, citizen,
                                                                                     sandbox):
    fdc_caller, ops_caller = caller_of(platform, "fdc"), caller_of(platform, "ops")
    fdc = GatewayClient(platform.layout.url("gateway"), fdc_caller["id"], fdc_caller["secret"])
    ops = GatewayClient(platform.layout.url("gateway"), ops_caller["id"], ops_caller["secret"])
    poor = [person(date(1954, 6, 6), "female", "applicant"), person(date(2019, 6, 6), "male", "grandchild")]
    rich = [person(date(1980, 6, 6), "male", "applicant", employed=True)]
    set_incomes(sandbox, poor[0]["iin"], "pension", "40000.00")
    set_incomes(sandbox, poor[1]["iin"], None, "0")
    set_incomes(sandbox, rich[0]["iin"], "wage", "900000.00")
    phone = "+77071234567"
    batch = {"families": [_fdc_family(poor, phone), _fdc_family(rich, "+77071234568"),
                          _fdc_family(poor, phone) | {"reference": "again"}]}
    answered = fdc.post("/v1/fdc/invitations", json=batch)
    assert answered.status_code == 200, answered.text
    outcomes = [f["outcome"] for f in answered.json()["families"]]
    assert outcomes == ["invited", "not_likely_eligible", "already_invited"]
    assert "INCOME_NOT_BELOW_POVERTY_LINE" in answered.json()["families"][1]["reasons"]
    # Another kind of caller may not invite.
    assert citizen(poor[0]["iin"]).post("/v1/fdc/invitations", json=batch).status_code == 403

    deadline = time.monotonic() + 20
    while not (sms := [m for m in sandbox.get("/sandbox/sms/messages", params={"to": phone}).json()]):
        assert time.monotonic() < deadline, "no invitation SMS"
        time.sleep(0.2)
    assert poor[0]["iin"] not in sms[-1]["text"] and "http" in sms[-1]["text"]

    applicant = citizen(poor[0]["iin"])
    [notice] = applicant.get("/v1/fdc/invitations").json()  # the portal notice, in Kazakh and Russian
    assert notice["status"] == "invited" and notice["notice"]["kk"] and notice["notice"]["ru"]
    assert notice["monthly_estimate"] == answered.json()["families"][0]["monthly_estimate"]
    app_id = submit(applicant, poor)
    applicant.wait_for(f"/v1/applications/{app_id}", lambda a: a["status"] == "payments_scheduled", timeout=60)
    linked = applicant.get("/v1/fdc/invitations").json()[0]
    assert (linked["status"], linked["application_id"]) == ("applied", app_id)
    funnel = ops.wait_for("/v1/fdc/funnel", lambda f: f["totals"]["paid"] >= 1 and f["totals"]["applied"] >= 1)
    assert funnel["totals"]["invited"] >= 1
