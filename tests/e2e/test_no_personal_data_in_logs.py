"""No personal data reaches a log line (issue 8, point 5). A family with distinctive names, IINs,
birth dates and phone numbers goes through the whole flow on the running platform — submitted by
the citizen, decided, its contract signed, payments read, an estimate, a few bad requests that
carry the same data — and then every log file the platform wrote (services, gateway, sandbox,
broker) is read: none of those values may appear, in any of the forms people write them."""

from __future__ import annotations

import uuid
from datetime import date
from pathlib import Path

import pytest

from qamqor_cli.demo import GatewayClient
from qamqor_cli.platform import wait_ready
from shared.iin import make_iin
from tests.e2e.conftest import application, assessment_months, caller_of, estimate, set_incomes, submit

pytestmark = pytest.mark.e2e

MOTHER_BORN, SON_BORN = date(1979, 8, 23), date(2015, 11, 7)
MOTHER_IIN = make_iin(MOTHER_BORN, "female", 6173)
SON_IIN = make_iin(SON_BORN, "male", 6174)
MOTHER_NAME, SON_NAME = "Zhanargul Oteubaevna Kemelbekova", "Nurdaulet Yerzhanuly Kemelbekov"
MOTHER_PHONE, SON_PHONE = "+77059314826", "+77472081395"


def family() -> list[dict]:
    common = {"employed": False, "full_time_student": False, "disability_group": None, "carer": False}
    return [
        {"iin": MOTHER_IIN, "full_name": MOTHER_NAME, "birth_date": MOTHER_BORN.isoformat(), "sex": "female",
         "relation": "applicant", "phone": MOTHER_PHONE} | common,
        {"iin": SON_IIN, "full_name": SON_NAME, "birth_date": SON_BORN.isoformat(), "sex": "male",
         "relation": "child", "phone": SON_PHONE} | common,
    ]


def forbidden_values() -> dict[str, str]:
    values = {}
    for label, iin, name, born, phone in (("mother", MOTHER_IIN, MOTHER_NAME, MOTHER_BORN, MOTHER_PHONE),
                                          ("son", SON_IIN, SON_NAME, SON_BORN, SON_PHONE)):
        values[f"{label}'s IIN"] = iin
        values[f"{label}'s name"] = name
        values[f"{label}'s surname"] = name.split()[-1]
        values[f"{label}'s first name"] = name.split()[0]
        values[f"{label}'s birth date (ISO)"] = born.isoformat()
        values[f"{label}'s birth date (dd.mm.yyyy)"] = born.strftime("%d.%m.%Y")
        values[f"{label}'s phone (+7)"] = phone
        values[f"{label}'s phone (8)"] = "8" + phone[2:]
    return values


def test_the_whole_flow_leaves_no_personal_data_in_any_log(platform, citizen, portal, sandbox) -> None:
    members = family()
    set_incomes(sandbox, MOTHER_IIN, "wage", "41000.00")
    set_incomes(sandbox, SON_IIN, None, "0")
    applicant = citizen(MOTHER_IIN)
    app_id = submit(applicant, members)
    decided = applicant.wait_for(f"/v1/applications/{app_id}", lambda a: a["contract_id"] is not None, timeout=60)
    assert decided["decision"]["kind"] == "conditional"
    assert applicant.post(f"/v1/contracts/{decided['contract_id']}/sign").status_code == 200
    payments = applicant.wait_for(f"/v1/payments?application_id={app_id}", lambda p: len(p) > 0, timeout=60)
    assert applicant.get(f"/v1/payments/{payments[0]['id']}").status_code == 200
    estimate(applicant, members, [{"iin": MOTHER_IIN, "type": "wage", "month": m, "amount": "41000.00"}
                                  for m in assessment_months()])

    # Bad requests that carry the same personal data: none is a server error, none may be logged.
    wrong = [dict(members[0], birth_date="1979-08-24"), members[1]]  # the IIN and birth date disagree
    bad = [
        applicant.post("/v1/applications", json=application(wrong), headers={"Idempotency-Key": str(uuid.uuid4())}),
        applicant.post("/v1/applications", content=f'{{"members": [{{"iin": "{MOTHER_IIN}", "full_name": '
                       f'"{MOTHER_NAME}", "phone": "{MOTHER_PHONE}"'.encode(),
                       headers={"Idempotency-Key": str(uuid.uuid4()), "content-type": "application/json"}),
        applicant.post("/v1/applications", json=application([dict(members[0], full_name=MOTHER_NAME + "\x00")]),
                       headers={"Idempotency-Key": str(uuid.uuid4())}),
        applicant.get(f"/v1/applications/{MOTHER_IIN}"),
        applicant.get("/v1/applications", params={"iin": MOTHER_IIN, "name": MOTHER_NAME, "phone": MOTHER_PHONE}),
        applicant.get(f"/v1/nowhere/{MOTHER_IIN}/{MOTHER_BORN.strftime('%d.%m.%Y')}"),
        portal.post("/oauth/token", data={"grant_type": "urn:ietf:params:oauth:grant-type:token-exchange",
                                          "subject_token": MOTHER_IIN, "subject_token_type":
                                          "urn:ietf:params:oauth:token-type:id_token",
                                          "actor_token": portal.token,
                                          "actor_token_type": "urn:ietf:params:oauth:token-type:access_token"}),
    ]
    assert all(r.status_code < 500 for r in bad), [r.status_code for r in bad]
    assert sum(400 <= r.status_code < 500 for r in bad) >= 6
    admin = caller_of(platform, "admin")
    auditor = GatewayClient(platform.layout.url("gateway"), admin["id"], admin["secret"])
    assert auditor.get("/v1/audit/data-access", params={"subject_iin": MOTHER_IIN}).status_code == 200
    # A service down for a moment: the gateway logs it — so the logs are being written and read.
    platform.stop_process("reporting")
    assert auditor.get("/v1/stats/summary", params={"region_kato": "610000000"}).status_code == 503
    platform.start_process("reporting")
    wait_ready(platform, ["reporting"])

    logs = sorted(path for path in Path(platform.layout.state_dir).rglob("*.log") if path.is_file())
    names = {path.name for path in logs}
    assert {"gateway.log", "intake.log", "verification.log", "eligibility.log", "contracts.log", "payments.log",
            "reporting.log", "sandbox.log", "kafka.log"} <= names, names
    assert "reporting unavailable" in (Path(platform.layout.logs_dir) / "gateway.log").read_text()
    found = []
    for path in logs:
        text = path.read_text(encoding="utf-8", errors="replace")
        found += [f"{what} in {path.name}" for what, value in forbidden_values().items() if value in text]
    assert found == []
