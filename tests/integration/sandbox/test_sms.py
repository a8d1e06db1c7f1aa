"""The sandbox's SMS gateway: takes outbound SMS (202 with a message id), records them for the
control API, answers 503 during its outage, refuses bad input naming the field; a reply cannot be
delivered without the Qamqor gateway configured (the delivery itself: tests/e2e/test_consent.py)."""

from __future__ import annotations

import uuid

import httpx

TO = "+77019990011"


def test_an_outbound_sms_is_taken_and_recorded(sandbox_url):
    reference = str(uuid.uuid4())
    with httpx.Client(base_url=sandbox_url) as sandbox:
        taken = sandbox.post("/sms/v1/messages", json={"sender": "1414", "to": TO, "text": "ДА 123456",
                                                      "reference": reference})
        assert taken.status_code == 202, taken.text
        message_id = taken.json()["message_id"]
        recorded = sandbox.get("/sandbox/sms/messages", params={"to": TO}).json()
        mine = [m for m in recorded if m["reference"] == reference]
        assert [(m["message_id"], m["sender"], m["to"], m["text"]) for m in mine] == [
            (message_id, "1414", TO, "ДА 123456")]
        assert all(m["to"] == TO for m in recorded)


def test_the_sms_gateway_is_down_until_it_is_put_back(sandbox_url):
    message = {"sender": "1414", "to": TO, "text": "x", "reference": str(uuid.uuid4())}
    with httpx.Client(base_url=sandbox_url) as sandbox:
        try:
            sandbox.put("/sandbox/outages/sms-gateway", json={"down": True}).raise_for_status()
            down = sandbox.post("/sms/v1/messages", json=message)
            assert down.status_code == 503 and down.headers["content-type"] == "application/problem+json"
        finally:
            sandbox.put("/sandbox/outages/sms-gateway", json={"down": False}).raise_for_status()
        assert sandbox.post("/sms/v1/messages", json=message).status_code == 202
        recorded = sandbox.get("/sandbox/sms/messages", params={"to": TO}).json()
        assert [m["reference"] for m in recorded].count(message["reference"]) == 1  # the refused one is not kept


def test_bad_input_is_refused_naming_the_field(sandbox_url):
    with httpx.Client(base_url=sandbox_url) as sandbox:
        bad_number = sandbox.post("/sms/v1/messages", json={"sender": "1414", "to": "8701", "text": "x"})
        assert bad_number.status_code == 422
        assert bad_number.headers["content-type"] == "application/problem+json"
        assert "to" in bad_number.text
        extra = sandbox.post("/sms/v1/messages", json={"sender": "1414", "to": TO, "text": "x", "cc": TO})
        assert extra.status_code == 422
        assert sandbox.get("/sandbox/sms/messages", params={"to": "123"}).status_code == 422
        assert sandbox.post("/sandbox/sms/reply", json={"from": "+7701", "text": "ДА 1"}).status_code == 422


def test_a_reply_without_a_configured_gateway_is_503(sandbox_url):
    with httpx.Client(base_url=sandbox_url) as sandbox:
        answer = sandbox.post("/sandbox/sms/reply", json={"from": TO, "text": "ДА 123456"})
        assert answer.status_code == 503 and answer.headers["content-type"] == "application/problem+json"
