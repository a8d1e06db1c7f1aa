"""Consent in the live intake (issue 10) against real PostgreSQL, the real broker and the sandbox's
SMS gateway over real HTTP: the submission asks every adult, the dispatcher sends the SMS from
1414 (the sandbox records it, with the code), replies arrive at `POST /v1/sms/inbound` (the SMS
gateway) or `POST /v1/consents/{id}/reply` (the portal for the member), a consent given may be
withdrawn, and `GET /v1/applications/{id}` shows each member's consent with the number masked.
Expiry is driven by the sweep given a time, never by waiting."""

from __future__ import annotations

import random
import re
import uuid
from datetime import date, datetime, timedelta

import httpx

from services.intake import sms
from tests.support import application_body, eventually, person

CODE = re.compile(r"ДА (\d{6})")


def _phone() -> str:
    return f"+7701{random.randrange(10 ** 7):07d}"


def _family():
    mother = person(date(1985, 5, 17), "female", "applicant", phone=_phone())
    father = person(date(1983, 2, 1), "male", "spouse", phone=_phone())
    son = person(date(2004, 9, 9), "male", "child", phone=_phone())
    girl = person(date(2015, 1, 1), "female", "child")
    return mother, father, son, girl


def _service(running_service, sandbox_url):  # noqa: ANN001, ANN202
    return running_service("intake", QAMQOR_INTAKE_SMS_GATEWAY_URL=sandbox_url,
                           QAMQOR_INTAKE_SMS_POLL_INTERVAL_SECONDS="1")


async def _submit(client, internal_token, members, **extra):  # noqa: ANN001, ANN003, ANN202
    body = application_body(list(members), **extra)
    headers = internal_token("portal", citizen=members[0]["iin"]) | {"Idempotency-Key": str(uuid.uuid4())}
    created = await client.post("/v1/applications", json=body, headers=headers)
    assert created.status_code == 201, created.text
    return created.json()


async def _sms_code(sandbox_url: str, consent_id: str) -> tuple[str, str]:
    """(the number, the code) of the latest SMS the sandbox took for this consent request."""
    async def sent():  # noqa: ANN202
        async with httpx.AsyncClient(base_url=sandbox_url) as sandbox:
            messages = (await sandbox.get("/sandbox/sms/messages")).json()
        return [m for m in messages if m["reference"] == consent_id]
    message = (await eventually(sent))[-1]
    assert message["sender"] == "1414"
    return message["to"], CODE.search(message["text"]).group(1)


async def _consents(client, internal_token, application, citizen):  # noqa: ANN001, ANN202
    read = await client.get(f"/v1/applications/{application['id']}", headers=internal_token("portal", citizen=citizen))
    assert read.status_code == 200, read.text
    return read.json()


def _inbound(phone: str, text: str, at: datetime | None = None) -> dict:
    return {"message_id": str(uuid.uuid4()), "from": phone, "text": text,
            "received_at": (at or datetime.now().astimezone()).isoformat()}


async def test_every_adult_is_asked_and_answers_by_sms_or_in_the_portal(running_service, internal_token,
                                                                         sandbox_url):
    mother, father, son, girl = _family()
    async with _service(running_service, sandbox_url) as client:
        application = await _submit(client, internal_token, [mother, father, son, girl], expense_check_consent=True)
        by_iin = {m["iin"]: m for m in application["members"]}
        # The applicant's own consent ticked in the portal is granted; the other adults are asked by
        # SMS; the girl is not asked.
        assert by_iin[mother["iin"]]["consent"]["status"] == "granted"
        assert by_iin[father["iin"]]["consent"]["status"] == "requested"
        assert by_iin[son["iin"]]["consent"]["method"] == "sms_1414"
        assert by_iin[girl["iin"]]["consent"] is None
        assert application["family_consent"] == "pending"
        father_consent = by_iin[father["iin"]]["consent"]["id"]
        son_consent = by_iin[son["iin"]]["consent"]["id"]

        phone, code = await _sms_code(sandbox_url, father_consent)
        assert phone == father["phone"]

        async def asked():  # noqa: ANN202
            shown = await _consents(client, internal_token, application, mother["iin"])
            consent = next(m for m in shown["members"] if m["iin"] == father["iin"])["consent"]
            return consent if consent["requested_at"] else None
        shown = await eventually(asked)
        assert shown["phone"] == father["phone"][:5] + "*****" + father["phone"][-2:]  # masked even to the family
        assert shown["expires_at"] > shown["requested_at"]

        gateway = internal_token("sms_gateway")
        wrong_code = f"{(int(code) + 1) % 10 ** 6:06d}"
        for text, sender, outcome in ((f"ДА {wrong_code}", phone, "wrong_code"),
                                      (f"ДА {code}", _phone(), "wrong_number"),
                                      ("может быть", phone, "not_understood")):
            answer = await client.post("/v1/sms/inbound", json=_inbound(sender, text), headers=gateway)
            assert answer.status_code == 200, answer.text
            assert answer.json()["outcome"] == outcome and answer.json()["changed"] is False
            assert answer.json()["consent_id"] is None
        granted = await client.post("/v1/sms/inbound", json=_inbound(phone, f"да, {code}"), headers=gateway)
        assert granted.json() | {"detail": None} == {"outcome": "granted", "changed": True, "detail": None,
                                                     "consent_id": father_consent, "status": "granted"}
        again = await client.post("/v1/sms/inbound", json=_inbound(phone, f"НЕТ {code}"), headers=gateway)
        assert again.json()["outcome"] == "already_answered" and again.json()["changed"] is False

        # The son answers in the portal; the portal acting for his mother may not answer for him.
        for_him = await client.post(f"/v1/consents/{son_consent}/reply", json={"answer": "no"},
                                    headers=internal_token("portal", citizen=mother["iin"]))
        assert for_him.status_code == 403 and for_him.json()["type"].endswith("/not-the-member")
        refused = await client.post(f"/v1/consents/{son_consent}/reply", json={"answer": "no"},
                                    headers=internal_token("portal", citizen=son["iin"]))
        assert refused.status_code == 200 and refused.json()["outcome"] == "refused"

        shown = await _consents(client, internal_token, application, mother["iin"])
        statuses = {m["iin"]: (m["consent"] or {}).get("status") for m in shown["members"]}
        assert statuses == {mother["iin"]: "granted", father["iin"]: "granted", son["iin"]: "refused",
                            girl["iin"]: None}
        assert shown["family_consent"] == "not_given"

        # The father withdraws the consent he gave; a refusal cannot be withdrawn.
        father_portal = internal_token("portal", citizen=father["iin"])
        withdrawn = await client.post(f"/v1/consents/{father_consent}/withdraw", headers=father_portal)
        assert withdrawn.status_code == 200 and withdrawn.json()["outcome"] == "withdrawn"
        not_granted = await client.post(f"/v1/consents/{son_consent}/withdraw",
                                        headers=internal_token("portal", citizen=son["iin"]))
        assert not_granted.json()["outcome"] == "not_granted" and not_granted.json()["changed"] is False


async def test_an_unanswered_request_expires_by_the_sweep_and_a_late_reply_changes_nothing(
        running_service, internal_token, sandbox_url):
    mother, father, *_ = _family()
    async with _service(running_service, sandbox_url) as client:
        application = await _submit(client, internal_token, [mother, father])
        father_consent = next(m for m in application["members"] if m["iin"] == father["iin"])["consent"]["id"]
        phone, code = await _sms_code(sandbox_url, father_consent)

        async def asked():  # noqa: ANN202
            shown = await _consents(client, internal_token, application, mother["iin"])
            consent = next(m for m in shown["members"] if m["iin"] == father["iin"])["consent"]
            return consent if consent["expires_at"] else None
        expires_at = datetime.fromisoformat((await eventually(asked))["expires_at"])

        sessionmaker = client.app.state.sessionmaker
        assert await sms.expire_due(sessionmaker=sessionmaker, now=expires_at - timedelta(seconds=1)) == 0
        assert await sms.expire_due(sessionmaker=sessionmaker, now=expires_at) == 2  # the mother was asked too

        shown = await _consents(client, internal_token, application, mother["iin"])
        assert {m["consent"]["status"] for m in shown["members"]} == {"expired"}
        assert shown["family_consent"] == "not_given"
        late = await client.post("/v1/sms/inbound", json=_inbound(phone, f"ДА {code}"),
                                 headers=internal_token("sms_gateway"))
        assert late.status_code == 200 and late.json()["changed"] is False
        assert late.json()["outcome"] in ("late", "already_answered")


async def test_bad_input_and_wrong_callers_are_refused(running_service, internal_token, sandbox_url):
    mother, father, *_ = _family()
    async with _service(running_service, sandbox_url) as client:
        application = await _submit(client, internal_token, [mother, father])
        consent_id = next(m for m in application["members"] if m["iin"] == father["iin"])["consent"]["id"]
        gateway = internal_token("sms_gateway")

        naive = _inbound(father["phone"], "ДА 123456") | {"received_at": "2026-04-01T10:00:00"}
        for body, field in ((naive, "received_at"), ({"from": father["phone"], "text": "ДА 1"}, "message_id"),
                            (_inbound(father["phone"], "ДА\x00 1"), "text"),
                            (_inbound(father["phone"], "ДА 1") | {"extra": 1}, "extra")):
            refused = await client.post("/v1/sms/inbound", json=body, headers=gateway)
            assert refused.status_code == 422, refused.text
            assert refused.headers["content-type"] == "application/problem+json"
            assert field in {e["field"] for e in refused.json()["errors"]}, refused.json()

        not_gateway = await client.post("/v1/sms/inbound", json=_inbound(father["phone"], "ДА 1"),
                                        headers=internal_token("portal", citizen=father["iin"]))
        assert not_gateway.status_code == 403 and not_gateway.json()["type"].endswith("/sms-gateway-only")
        father_portal = internal_token("portal", citizen=father["iin"])
        maybe = await client.post(f"/v1/consents/{consent_id}/reply", json={"answer": "maybe"}, headers=father_portal)
        assert maybe.status_code == 422 and "answer" in {e["field"] for e in maybe.json()["errors"]}
        unknown = await client.post(f"/v1/consents/{uuid.uuid4()}/reply", json={"answer": "yes"},
                                    headers=father_portal)
        assert unknown.status_code == 404
        bad_id = await client.post("/v1/consents/not-a-uuid/withdraw", headers=father_portal)
        assert bad_id.status_code == 422
        not_portal = await client.post(f"/v1/consents/{consent_id}/reply", json={"answer": "yes"},
                                       headers=internal_token("case_worker", regions=frozenset({"61"})))
        assert not_portal.status_code == 403
        without_citizen = await client.post(f"/v1/consents/{consent_id}/reply", json={"answer": "yes"},
                                            headers=internal_token("portal"))
        assert without_citizen.status_code == 403


async def test_an_sms_gateway_outage_does_not_start_the_members_day(running_service, internal_token, sandbox_url):
    """The dispatcher driven by hand with an injected clock (its own loop waits an hour between
    rounds here): while the gateway is down nobody is asked; once it takes the SMS, the member's
    deadline runs from the time the clock gave."""
    mother, father, *_ = _family()
    async with httpx.AsyncClient(base_url=sandbox_url) as sandbox, running_service(
            "intake", QAMQOR_INTAKE_SMS_GATEWAY_URL=sandbox_url, QAMQOR_INTAKE_SMS_POLL_INTERVAL_SECONDS="3600",
            QAMQOR_INTAKE_SMS_RETRY_MAX_SECONDS="3600") as client:
        settings = client.app.state.settings
        gateway = sms.HttpSmsGateway(settings)
        try:
            (await sandbox.put("/sandbox/outages/sms-gateway", json={"down": True})).raise_for_status()
            application = await _submit(client, internal_token, [mother, father])
            father_consent = next(m for m in application["members"] if m["iin"] == father["iin"])["consent"]["id"]
            taken_at = datetime.fromisoformat("2026-03-20T10:05:00+05:00")  # Friday, the eve of Nauryz
            try:
                await sms.dispatch_pending(sessionmaker=client.app.state.sessionmaker, gateway=gateway,
                                           pepper=settings.code_pepper(), clock=lambda: taken_at)
                raise AssertionError("the gateway was down")
            except sms.SmsUnavailable:
                pass
            shown = await _consents(client, internal_token, application, mother["iin"])
            assert {m["consent"]["requested_at"] for m in shown["members"]} == {None}
        finally:
            (await sandbox.put("/sandbox/outages/sms-gateway", json={"down": False})).raise_for_status()
        try:
            taken = await sms.dispatch_pending(sessionmaker=client.app.state.sessionmaker, gateway=gateway,
                                               pepper=settings.code_pepper(), clock=lambda: taken_at)
        finally:
            await gateway.aclose()
        assert taken >= 2
        shown = await _consents(client, internal_token, application, mother["iin"])
        father_shown = next(m for m in shown["members"] if m["iin"] == father["iin"])["consent"]
        assert datetime.fromisoformat(father_shown["requested_at"]) == taken_at
        # Nauryz 21-23 March, observed 24-25: the end of Thursday 26 March in Almaty.
        assert datetime.fromisoformat(father_shown["expires_at"]) == datetime.fromisoformat("2026-03-27T00:00:00+05:00")
        _, code = await _sms_code(sandbox_url, father_consent)
        assert len(code) == 6
        message = [m for m in (await sandbox.get("/sandbox/sms/messages")).json() if m["reference"] == father_consent]
        assert "26.03.2026 23:59" in message[-1]["text"]
