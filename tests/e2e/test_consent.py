"""Consent to the expense check through the whole platform (issue 10): the submission asks every
adult, intake's dispatcher hands the SMS from 1414 to the sandbox's SMS gateway, each member
"replies" through the sandbox, which posts the reply to the gateway's `POST /v1/sms/inbound` with
its own sms_gateway caller's token, and the portal shows each member's consent (number masked)."""

from __future__ import annotations

import random
import re
import time
from datetime import date

import pytest

from tests.e2e.conftest import submit
from tests.support import person

pytestmark = pytest.mark.e2e
CODE = re.compile(r"ДА (\d{6})")


def _phone() -> str:
    return f"+7702{random.randrange(10 ** 7):07d}"


def _sms_code(sandbox, consent_id: str, timeout: float = 20.0) -> str:  # noqa: ANN001
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        sent = [m for m in sandbox.get("/sandbox/sms/messages").json() if m["reference"] == consent_id]
        if sent:
            assert sent[-1]["sender"] == "1414"
            return CODE.search(sent[-1]["text"]).group(1)
        time.sleep(0.2)
    raise AssertionError(f"no SMS for consent {consent_id} within {timeout}s")


def _reply(sandbox, phone: str, text: str) -> dict:  # noqa: ANN001
    answer = sandbox.post("/sandbox/sms/reply", json={"from": phone, "text": text})
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_an_adult_replying_da_grants_and_one_replying_zhoq_refuses(citizen, sandbox):
    mother = person(date(1988, 3, 3), "female", "applicant", phone=_phone())
    father = person(date(1986, 6, 6), "male", "spouse", phone=_phone())
    child = person(date(2016, 1, 1), "female", "child")
    applicant = citizen(mother["iin"])
    app_id = submit(applicant, [mother, father, child], consent=False)

    application = applicant.get(f"/v1/applications/{app_id}").json()
    consents = {m["iin"]: m["consent"] for m in application["members"]}
    assert consents[child["iin"]] is None
    assert {consents[mother["iin"]]["status"], consents[father["iin"]]["status"]} == {"requested"}

    mother_code = _sms_code(sandbox, consents[mother["iin"]]["id"])
    father_code = _sms_code(sandbox, consents[father["iin"]]["id"])
    wrong = _reply(sandbox, father["phone"], f"ЖОҚ {mother_code}")  # another member's code: nothing changes
    assert wrong["outcome"] in ("wrong_code", "wrong_number") and wrong["changed"] is False

    assert _reply(sandbox, mother["phone"], f"ДА {mother_code}")["outcome"] == "granted"
    assert _reply(sandbox, father["phone"], f"жоқ {father_code}")["outcome"] == "refused"

    shown = applicant.get(f"/v1/applications/{app_id}").json()
    statuses = {m["iin"]: (m["consent"] or {}).get("status") for m in shown["members"]}
    assert statuses == {mother["iin"]: "granted", father["iin"]: "refused", child["iin"]: None}
    assert shown["family_consent"] == "not_given"
    masked = next(m for m in shown["members"] if m["iin"] == father["iin"])["consent"]["phone"]
    assert masked == father["phone"][:5] + "*****" + father["phone"][-2:]
