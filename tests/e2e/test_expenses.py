"""The expense check through the whole platform (issue 10): every adult consents by SMS from 1414
(the sandbox plays the SMS gateway and the members' replies), verification asks the banks only
then, the banks answer with signed callbacks through the gateway (the sandbox plays them with the
demo bank callers' secrets), and eligibility decides E1–E4 on the frozen evidence."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import re
import secrets
import time
import uuid
from datetime import date, datetime, timedelta

import httpx
import pytest
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

from qamqor_cli.demo import GatewayClient
from tests.e2e.conftest import set_incomes, submit
from tests.e2e.test_consent import _phone, _reply, _sms_code
from tests.support import person

pytestmark = pytest.mark.e2e
HALYK, CENTERCREDIT = "HSBKKZKX", "KCJBKZKX"


def _bank_requests(sandbox: httpx.Client, iin: str) -> list[dict]:
    return sandbox.get("/sandbox/banks/requests", params={"iin": iin}).json()["requests"]


def _consents(applicant: GatewayClient, app_id: str) -> dict[str, dict]:
    shown = applicant.get(f"/v1/applications/{app_id}").json()
    return {m["iin"]: m["consent"] for m in shown["members"] if m["consent"] is not None}


def _bank(platform, code: str) -> dict:  # noqa: ANN001
    return next(c for c in platform.callers if c.get("bank_code") == code)


def _signed_post(platform, caller: dict, path: str, body: dict, *, secret: str | None = None) -> httpx.Response:  # noqa: ANN001
    """A bank's callback as docs/gateway.md says: its bearer token, signed with its secret."""
    client = GatewayClient(platform.layout.url("gateway"), caller["id"], caller["secret"])
    raw = json.dumps(body).encode()
    ts, nonce = str(int(time.time())), secrets.token_urlsafe(18)
    message = "\n".join([ts, nonce, "POST", path, hashlib.sha256(raw).hexdigest()])
    signature = hmac.new((secret or caller["signing_secret"]).encode(), message.encode(), hashlib.sha256).hexdigest()
    return client.http.post(path, content=raw, headers={
        "content-type": "application/json", "X-Qamqor-Timestamp": ts, "X-Qamqor-Nonce": nonce,
        "X-Qamqor-Signature": signature})


def test_three_adults_say_da_and_their_bank_reports_spending_over_the_line(citizen, sandbox):
    mother = person(date(1988, 3, 3), "female", "applicant", phone=_phone())
    father = person(date(1986, 6, 6), "male", "spouse", phone=_phone())
    grandmother = person(date(1960, 1, 20), "female", "parent", phone=_phone())
    son = person(date(2017, 9, 1), "male", "child")
    for member, monthly in ((mother, "30000.00"), (father, None), (grandmother, None), (son, None)):
        set_incomes(sandbox, member["iin"], "wage" if monthly else None, monthly or "0")
    # The father's bank: spending of 6,000,000 ₸ over the quarter, 500,000 ₸ per member a month.
    sandbox.put(f"/sandbox/persons/{father['iin']}/accounts", json={"banks": [HALYK]}).raise_for_status()
    sandbox.put(f"/sandbox/banks/{HALYK}/persons/{father['iin']}", json={
        "total_spending": "6000000.00", "non_mortgage_loans": "0.00", "savings_deposits": "0.00"}).raise_for_status()
    applicant = citizen(mother["iin"])
    app_id = submit(applicant, [mother, father, grandmother, son], consent=False)

    consents = _consents(applicant, app_id)
    assert set(consents) == {mother["iin"], father["iin"], grandmother["iin"]}  # the adults, not the child
    adults = (mother, father, grandmother)
    codes = {m["iin"]: _sms_code(sandbox, consents[m["iin"]]["id"]) for m in adults}
    for member in adults[:2]:
        assert _reply(sandbox, member["phone"], f"ДА {codes[member['iin']]}")["outcome"] == "granted"
    time.sleep(1.0)  # not a clock: room for a bank request that must not happen (asserted next)
    assert _bank_requests(sandbox, father["iin"]) == []  # two of three adults: no bank is asked
    assert _reply(sandbox, grandmother["phone"], f"да {codes[grandmother['iin']]}")["outcome"] == "granted"

    decided = applicant.wait_for(f"/v1/applications/{app_id}", lambda a: a["decision"] is not None, timeout=60)
    decision = decided["decision"]
    assert decision["eligible"] is False and decided["status"] == "rejected"
    assert "EXPENSE_SPENDING" in decision["reasons"]
    assert not {"EXPENSE_PURCHASE", "EXPENSE_LOANS", "EXPENSE_DEPOSITS", "CONSENT_NOT_GIVEN",
                "INCOME_NOT_BELOW_POVERTY_LINE"} & set(decision["reasons"])

    # The bank was asked once, after the last consent, and its signed answer went through the gateway.
    [asked] = _bank_requests(sandbox, father["iin"])
    granted_at = max(c["answered_at"] for c in _consents(applicant, app_id).values())
    assert asked["received_at"] > granted_at and asked["status"] == "answered"
    evidence = applicant.get(f"/v1/verifications/{app_id}").json()
    assert evidence["expenses"] == {"consent": True, "purchases": [], "account_spending": "6000000.00",
                                    "non_mortgage_loans": "0.00", "savings_deposits": "0.00"}
    [answer] = evidence["bank_answers"]
    assert (answer["bank_code"], answer["iin"], answer["request_id"]) == (HALYK, father["iin"], asked["request_id"])
    assert {c["status"] for c in evidence["consents"]} == {"granted"} and len(evidence["consents"]) == 3
    assert {"income_registry", "real_estate_registry", "vehicle_registry", "banks"} <= set(evidence["sources"])


def test_one_adult_saying_zhoq_refuses_and_no_bank_is_asked(citizen, sandbox):
    mother = person(date(1990, 5, 5), "female", "applicant", phone=_phone())
    father = person(date(1989, 8, 8), "male", "spouse", phone=_phone())
    for member in (mother, father):
        set_incomes(sandbox, member["iin"], None, "0")
        sandbox.put(f"/sandbox/persons/{member['iin']}/accounts", json={"banks": [HALYK]}).raise_for_status()
    applicant = citizen(mother["iin"])
    app_id = submit(applicant, [mother, father])  # the mother consents when applying
    consent = _consents(applicant, app_id)[father["iin"]]
    code = _sms_code(sandbox, consent["id"])
    assert _reply(sandbox, father["phone"], f"ЖОҚ {code}")["outcome"] == "refused"

    decided = applicant.wait_for(f"/v1/applications/{app_id}", lambda a: a["decision"] is not None, timeout=60)
    assert decided["decision"]["eligible"] is False
    assert "CONSENT_NOT_GIVEN" in decided["decision"]["reasons"]
    assert _bank_requests(sandbox, mother["iin"]) == [] and _bank_requests(sandbox, father["iin"]) == []
    evidence = applicant.get(f"/v1/verifications/{app_id}").json()
    assert evidence["expenses"]["consent"] is False and evidence["bank_answers"] == []


def test_an_unanswered_request_expires_and_the_family_is_refused(platform, citizen, sandbox):
    mother = person(date(1991, 2, 2), "female", "applicant")
    grandfather = person(date(1958, 7, 7), "male", "parent", phone=_phone())
    for member in (mother, grandfather):
        set_incomes(sandbox, member["iin"], None, "0")
    applicant = citizen(mother["iin"])
    app_id = submit(applicant, [mother, grandfather])
    consent = _consents(applicant, app_id)[grandfather["iin"]]
    _sms_code(sandbox, consent["id"])  # the SMS went out; nobody answers it

    # The expiry sweep, run against intake's database at a moment just past the deadline: time
    # comes from the injected clock, not from waiting a business day.
    from services.intake.sms import expire_due

    # Its deadline is set once the SMS was handed to the SMS gateway.
    asked = applicant.wait_for(f"/v1/applications/{app_id}", lambda a: all(
        m["consent"]["expires_at"] for m in a["members"] if m["iin"] == grandfather["iin"]))
    deadline = datetime.fromisoformat(next(m for m in asked["members"]
                                           if m["iin"] == grandfather["iin"])["consent"]["expires_at"])

    async def sweep(now: datetime) -> int:
        engine = create_async_engine(platform.postgres.url(platform.layout.database("intake")))
        try:
            return await expire_due(sessionmaker=async_sessionmaker(engine, expire_on_commit=False), now=now)
        finally:
            await engine.dispose()

    asyncio.run(sweep(deadline - timedelta(seconds=1)))  # a second before the deadline: it stands
    assert _consents(applicant, app_id)[grandfather["iin"]]["status"] == "requested"
    assert asyncio.run(sweep(deadline)) >= 1  # at the deadline: an answer no longer counts
    decided = applicant.wait_for(f"/v1/applications/{app_id}", lambda a: a["decision"] is not None, timeout=60)
    assert "CONSENT_NOT_GIVEN" in decided["decision"]["reasons"] and decided["decision"]["eligible"] is False
    assert _consents(applicant, app_id)[grandfather["iin"]]["status"] == "expired"
    assert _bank_requests(sandbox, mother["iin"]) == []


def test_a_duplicated_bank_answer_has_one_effect_and_forged_or_foreign_answers_are_refused(platform, citizen,
                                                                                          sandbox):
    pensioner = person(date(1950, 4, 4), "female", "applicant")
    set_incomes(sandbox, pensioner["iin"], "pension", "20000.00")
    sandbox.put(f"/sandbox/persons/{pensioner['iin']}/accounts", json={"banks": [CENTERCREDIT]}).raise_for_status()
    sandbox.put(f"/sandbox/banks/{CENTERCREDIT}/persons/{pensioner['iin']}", json={
        "total_spending": "90000.00", "non_mortgage_loans": "0.00", "savings_deposits": "100000.00",
        "housing_deposits": "2500000.00"}).raise_for_status()
    sandbox.put(f"/sandbox/banks/{CENTERCREDIT}/behaviour", json={"duplicates": 2}).raise_for_status()
    try:
        applicant = citizen(pensioner["iin"])
        app_id = submit(applicant, [pensioner])
        decided = applicant.wait_for(f"/v1/applications/{app_id}", lambda a: a["decision"] is not None, timeout=60)
        deadline = time.monotonic() + 20
        while len((asked := _bank_requests(sandbox, pensioner["iin"])[0])["deliveries"]) < 3 \
                and time.monotonic() < deadline:
            time.sleep(0.2)
    finally:
        sandbox.put(f"/sandbox/banks/{CENTERCREDIT}/behaviour", json={"duplicates": 0}).raise_for_status()
    # Delivered three times, each accepted; one answer recorded, one decision.
    assert [d["status_code"] for d in asked["deliveries"]] == [200, 200, 200]
    assert decided["decision"]["eligible"] is True, decided["decision"]["reasons"]  # housing deposits never count
    evidence = applicant.get(f"/v1/verifications/{app_id}").json()
    assert len(evidence["bank_answers"]) == 1 and evidence["expenses"]["savings_deposits"] == "100000.00"

    request_id = asked["request_id"]
    body = {"request_id": request_id, "iin": pensioner["iin"], "quarter": asked["quarter"],
            "total_spending": "90000.00", "non_mortgage_loans": "0.00", "savings_deposits": "100000.00",
            "housing_deposits": "2500000.00"}
    centercredit, halyk = _bank(platform, CENTERCREDIT), _bank(platform, HALYK)
    # Replayed by the bank asked (freshly signed): the same answer, no second effect.
    again = _signed_post(platform, centercredit, f"/v1/banks/{CENTERCREDIT}/cashflow", body)
    assert again.status_code == 200 and again.json()["status"] == "already_recorded"
    # Other figures for an answered request: refused.
    changed = _signed_post(platform, centercredit, f"/v1/banks/{CENTERCREDIT}/cashflow",
                           body | {"total_spending": "1.00"})
    assert changed.status_code == 409 and changed.headers["content-type"] == "application/problem+json"
    # Another bank answering this request: 403, whether under its own code or the asked bank's.
    assert _signed_post(platform, halyk, f"/v1/banks/{HALYK}/cashflow", body).status_code == 403
    assert _signed_post(platform, halyk, f"/v1/banks/{CENTERCREDIT}/cashflow", body).status_code == 403
    # A request nobody sent: 409; a forged signature: 401.
    unknown = _signed_post(platform, halyk, f"/v1/banks/{HALYK}/cashflow", body | {"request_id": str(uuid.uuid4())})
    assert unknown.status_code == 409 and unknown.json()["errors"][0]["field"] == "request_id"
    forged = _signed_post(platform, centercredit, f"/v1/banks/{CENTERCREDIT}/cashflow", body, secret="not-the-secret")
    assert forged.status_code == 401
    # None of it changed the evidence.
    assert applicant.get(f"/v1/verifications/{app_id}").json()["bank_answers"] == evidence["bank_answers"]


def test_make_demo_walks_a_family_through_consent_and_the_bank_check(platform):
    from qamqor_cli.demo import run_demo

    lines: list[str] = []
    run_demo(platform.layout.url("gateway"), platform.layout.url("sandbox"), platform.callers, echo=lines.append)
    text = "\n".join(lines)
    assert "consent of the applicant: given in the portal when applying" in text
    assert "SMS from 1414 to the spouse" in text and "consent of the spouse: granted" in text
    assert "bank HSBKKZKX answered (signed callback through the gateway)" in text
    assert text.count("decision: eligible=True") == 2 and "payment " in text
    # No IIN in what it prints (a UUID's last group, after its hyphen, may be all digits).
    assert not re.search(r"(?<![\w-])\d{12}(?!\w)", text)
