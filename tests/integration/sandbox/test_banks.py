"""The sandbox's banks (issue 10, points 3 and 6): the callback sender signs and posts an answer
with the bank's token, retrying while the receiver cannot take it; the Open API acknowledges a
request and answers it later, once or duplicated, or never; every request is logged. A small
receiver played here stands in for the gateway's `/oauth/token` and `/v1/banks/{code}/cashflow`
(real HTTP) and checks each signature with the gateway's own code."""

from __future__ import annotations

import threading
import time
from datetime import date
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest
import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from gateway.crypto import bank_signature, signatures_match
from qamqor_cli.infra import free_port, wait_for_port
from sandbox.banks import BankCredentials, CallbackSender
from shared.iin import make_iin

IIN = make_iin(date(1985, 3, 8), "female", 321)
CREDENTIALS = BankCredentials(client_id="bank-under-test", client_secret="client-secret-1",
                              signing_secret="signing-secret-1")


class Receiver:
    """The gateway's part, as the bank sees it: issues tokens and checks signed callbacks."""

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []  # accepted callbacks: path, headers, body
        self.refusals: list[str] = []
        self.tokens_issued = 0
        self.answers: list[int] = []  # statuses to answer next (then 200)
        self.nonces: set[str] = set()
        self.app = FastAPI()
        self.app.add_api_route("/oauth/token", self.token, methods=["POST"])
        self.app.add_api_route("/v1/banks/{bank_code}/cashflow", self.cashflow, methods=["POST"])

    async def token(self, request: Request) -> JSONResponse:
        form = {k: v[0] for k, v in parse_qs((await request.body()).decode()).items()}
        if (form.get("grant_type"), form.get("client_id"), form.get("client_secret")) != (
                "client_credentials", CREDENTIALS.client_id, CREDENTIALS.client_secret):
            return JSONResponse({"error": "invalid_client"}, status_code=401)
        self.tokens_issued += 1
        return JSONResponse({"access_token": f"token-{self.tokens_issued}", "token_type": "Bearer", "expires_in": 300})

    async def cashflow(self, bank_code: str, request: Request) -> JSONResponse:
        body = await request.body()
        h = request.headers
        expected = bank_signature(CREDENTIALS.signing_secret.encode(), timestamp=h.get("x-qamqor-timestamp", ""),
                                  nonce=h.get("x-qamqor-nonce", ""), method=request.method, path=request.url.path,
                                  body=body)
        if h.get("authorization") != f"Bearer token-{self.tokens_issued}":
            self.refusals.append("token")
            return JSONResponse({"title": "bad token"}, status_code=401)
        if not signatures_match(expected, h.get("x-qamqor-signature", "")):
            self.refusals.append("signature")
            return JSONResponse({"title": "bad signature"}, status_code=401)
        if abs(int(h["x-qamqor-timestamp"]) - time.time()) > 300 or h["x-qamqor-nonce"] in self.nonces:
            self.refusals.append("replay")
            return JSONResponse({"title": "replay"}, status_code=401)
        self.nonces.add(h["x-qamqor-nonce"])
        if self.answers:
            return JSONResponse({"title": "not now"}, status_code=self.answers.pop(0))
        self.received.append({"bank_code": bank_code, "content_type": h.get("content-type"),
                              "body": body, "json": await request.json()})
        return JSONResponse({"status": "accepted"})


@pytest.fixture(scope="module")
def receiver():
    receiver = Receiver()
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(receiver.app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    wait_for_port("127.0.0.1", port)
    receiver.url = f"http://127.0.0.1:{port}"
    yield receiver
    server.should_exit = True
    thread.join(5)


@pytest.fixture
def fresh(receiver):
    receiver.received.clear()
    receiver.refusals.clear()
    receiver.answers.clear()
    return receiver


PAYLOAD = {"request_id": "req-1", "iin": IIN, "quarter": "2026-Q3", "total_spending": "412000.50",
           "non_mortgage_loans": "0.00", "savings_deposits": "900000.00"}


def _sender(waits: list[float]) -> CallbackSender:
    async def no_wait(seconds: float) -> None:
        waits.append(seconds)
    return CallbackSender(attempts=4, first_retry_seconds=0.5, max_retry_seconds=1.0, sleep=no_wait)


async def test_an_answer_is_signed_and_posted_with_the_banks_token(fresh):
    waits: list[float] = []
    delivery = await _sender(waits).deliver(CREDENTIALS, f"{fresh.url}/v1/banks/HSBKKZKX/cashflow", PAYLOAD)
    assert delivery.delivered and delivery.attempts == 1 and waits == []
    assert fresh.refusals == [] and len(fresh.received) == 1
    seen = fresh.received[0]
    assert seen["bank_code"] == "HSBKKZKX" and seen["content_type"] == "application/json"
    assert seen["json"] == PAYLOAD  # money as decimal strings, as given


async def test_the_answer_is_retried_while_the_gateway_cannot_take_it_each_time_freshly_signed(fresh):
    fresh.answers[:] = [503, 429, 502]
    waits: list[float] = []
    delivery = await _sender(waits).deliver(CREDENTIALS, f"{fresh.url}/v1/banks/HSBKKZKX/cashflow", PAYLOAD)
    assert delivery.delivered and delivery.attempts == 4
    assert waits == [0.5, 1.0, 1.0]  # doubling, capped
    assert fresh.refusals == [] and len(fresh.received) == 1  # a fresh nonce each time: no replay refused


async def test_a_refusal_is_final(fresh):
    fresh.answers[:] = [409]
    waits: list[float] = []
    delivery = await _sender(waits).deliver(CREDENTIALS, f"{fresh.url}/v1/banks/HSBKKZKX/cashflow", PAYLOAD)
    assert (delivery.status_code, delivery.attempts, delivery.delivered, waits) == (409, 1, False, [])
    assert fresh.received == []


async def test_an_expired_token_is_replaced_once(fresh):
    waits: list[float] = []
    sender = _sender(waits)
    url = f"{fresh.url}/v1/banks/HSBKKZKX/cashflow"
    assert (await sender.deliver(CREDENTIALS, url, PAYLOAD)).delivered
    issued = fresh.tokens_issued
    fresh.tokens_issued += 1  # the gateway no longer takes the cached token
    delivery = await sender.deliver(CREDENTIALS, url, PAYLOAD)
    assert delivery.delivered and delivery.attempts == 1 and fresh.tokens_issued == issued + 2
    assert fresh.refusals == ["token"] and len(fresh.received) == 2


async def test_wrong_credentials_or_an_unreachable_gateway_are_reported_not_raised(fresh):
    waits: list[float] = []
    wrong = CREDENTIALS.model_copy(update={"client_secret": "wrong"})
    delivery = await _sender(waits).deliver(wrong, f"{fresh.url}/v1/banks/HSBKKZKX/cashflow", PAYLOAD)
    assert (delivery.status_code, delivery.delivered) == (401, False) and "token" in delivery.error
    port = free_port()
    delivery = await _sender(waits).deliver(CREDENTIALS, f"http://127.0.0.1:{port}/v1/banks/X/cashflow", PAYLOAD)
    assert (delivery.status_code, delivery.attempts, delivery.error) == (None, 4, "ConnectError")
    bad_signer = CREDENTIALS.model_copy(update={"signing_secret": "not-the-bank's"})
    delivery = await _sender(waits).deliver(bad_signer, f"{fresh.url}/v1/banks/HSBKKZKX/cashflow", PAYLOAD)
    assert delivery.status_code == 401 and fresh.refusals[-1] == "signature" and fresh.received == []


# --- the sandbox's Open API, over HTTP ---------------------------------------------------------

def _wait_for(condition, what: str, timeout: float = 20.0):  # noqa: ANN001
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"not within {timeout} s: {what}")


def _bank(sandbox: httpx.Client, code: str, receiver: Receiver, **behaviour: Any) -> str:
    assert sandbox.put(f"/sandbox/banks/{code}/credentials", json=CREDENTIALS.model_dump()).status_code == 200
    assert sandbox.put(f"/sandbox/banks/{code}/behaviour",
                       json={"answer_delay_seconds": 0, **behaviour}).status_code == 200
    return f"{receiver.url}/v1/banks/{code}/cashflow"


def _request(sandbox: httpx.Client, code: str, request_id: str, callback_url: str, iin: str = IIN) -> httpx.Response:
    return sandbox.post(f"/banks/{code}/openapi/v1/cashflow-requests", json={
        "request_id": request_id, "iin": iin, "quarter": "2026-Q3", "callback_url": callback_url})


def _log(sandbox: httpx.Client, code: str) -> list[dict]:
    return sandbox.get("/sandbox/banks/requests", params={"bank_code": code}).json()["requests"]


def test_a_request_is_acknowledged_then_answered_through_the_callback_duplicated_on_demand(sandbox_url, fresh):
    with httpx.Client(base_url=sandbox_url) as sandbox:
        callback = _bank(sandbox, "TESTKZKA", fresh, duplicates=1)
        set_ = sandbox.put(f"/sandbox/banks/TESTKZKA/persons/{IIN}", json={
            "total_spending": "412000.5", "non_mortgage_loans": "0", "savings_deposits": "900000.00"})
        assert set_.status_code == 200 and set_.json()["total_spending"] == "412000.50"
        acknowledged = _request(sandbox, "TESTKZKA", "req-dup", callback)
        assert acknowledged.status_code == 202
        assert acknowledged.json() == {"request_id": "req-dup", "status": "acknowledged"}
        _wait_for(lambda: len(fresh.received) == 2, "two deliveries")
        expected = {"request_id": "req-dup", "iin": IIN, "quarter": "2026-Q3", "total_spending": "412000.50",
                    "non_mortgage_loans": "0.00", "savings_deposits": "900000.00", "housing_deposits": "0.00"}
        assert [r["json"] for r in fresh.received] == [expected, expected] and fresh.refusals == []
        entry = _wait_for(lambda: [e for e in _log(sandbox, "TESTKZKA") if e["status"] == "answered"], "logged")[0]
        assert entry["request_id"] == "req-dup" and entry["iin"] == IIN and entry["acknowledged"] is True
        assert [d["status_code"] for d in entry["deliveries"]] == [200, 200]

        # the same request again: acknowledged, not answered twice more
        assert _request(sandbox, "TESTKZKA", "req-dup", callback).status_code == 202
        assert [e["status"] for e in _log(sandbox, "TESTKZKA")] == ["answered", "repeated"]
        assert sandbox.delete(f"/sandbox/banks/TESTKZKA/persons/{IIN}").status_code == 204
        assert sandbox.get(f"/sandbox/banks/TESTKZKA/persons/{IIN}").json()["synthetic"] is True
    assert len(fresh.received) == 2


def test_a_silent_bank_acknowledges_and_never_answers_a_down_one_answers_503(sandbox_url, fresh):
    with httpx.Client(base_url=sandbox_url) as sandbox:
        callback = _bank(sandbox, "SLNTKZKA", fresh, failure="silent")
        assert _request(sandbox, "SLNTKZKA", "req-silent", callback).status_code == 202
        _wait_for(lambda: _log(sandbox, "SLNTKZKA")[0]["status"] == "silent", "the bank kept silent")
        callback = _bank(sandbox, "DOWNKZKA", fresh, failure="down")
        down = _request(sandbox, "DOWNKZKA", "req-down", callback)
        assert down.status_code == 503 and down.headers["content-type"] == "application/problem+json"
        assert [(e["acknowledged"], e["status"]) for e in _log(sandbox, "DOWNKZKA")] == [(False, "refused")]
    assert fresh.received == []


def test_the_synthetic_answer_and_the_request_log_by_person(sandbox_url, fresh):
    other = make_iin(date(1979, 11, 2), "male", 654)
    with httpx.Client(base_url=sandbox_url) as sandbox:
        callback = _bank(sandbox, "SYNTKZKA", fresh)
        view = sandbox.get(f"/sandbox/banks/SYNTKZKA/persons/{other}", params={"quarter": "2026-Q3"}).json()
        assert view["synthetic"] is True
        assert _request(sandbox, "SYNTKZKA", "req-synthetic", callback, iin=other).status_code == 202
        _wait_for(lambda: fresh.received, "the answer")
        answer = fresh.received[0]["json"]
        assert {k: answer[k] for k in ("total_spending", "non_mortgage_loans", "savings_deposits")} == {
            k: view[k] for k in ("total_spending", "non_mortgage_loans", "savings_deposits")}
        assert all(isinstance(answer[k], str) for k in ("total_spending", "non_mortgage_loans", "savings_deposits"))
        by_person = sandbox.get("/sandbox/banks/requests", params={"iin": other}).json()["requests"]
        assert [e["request_id"] for e in by_person] == ["req-synthetic"]


def test_the_played_banks_include_the_participating_ones(sandbox_url):
    with httpx.Client(base_url=sandbox_url) as sandbox:
        codes = {b["bank_code"] for b in sandbox.get("/sandbox/banks").json()["banks"]}
    assert {"HSBKKZKX", "KCJBKZKX", "CASPKZKA"} <= codes


@pytest.mark.parametrize(("method", "path", "body"), [
    ("POST", "/banks/NONEKZKA/openapi/v1/cashflow-requests",
     {"request_id": "r", "iin": IIN, "quarter": "2026-Q3", "callback_url": "http://gw/v1/banks/NONEKZKA/cashflow"}),
    ("POST", "/banks/HSBKKZKX/openapi/v1/cashflow-requests",
     {"request_id": "r", "iin": "12", "quarter": "2026-Q3", "callback_url": "http://gw/x"}),
    ("POST", "/banks/HSBKKZKX/openapi/v1/cashflow-requests",
     {"request_id": "r", "iin": IIN, "quarter": "2026-Q9", "callback_url": "http://gw/x"}),
    ("POST", "/banks/HSBKKZKX/openapi/v1/cashflow-requests",
     {"request_id": "r", "iin": IIN, "quarter": "2026-Q3", "callback_url": "ftp://gw/x"}),
    ("PUT", f"/sandbox/banks/HSBKKZKX/persons/{IIN}",
     {"total_spending": 1.5, "non_mortgage_loans": "0", "savings_deposits": "0"}),  # money never a float
    ("PUT", f"/sandbox/banks/HSBKKZKX/persons/{IIN}",
     {"total_spending": "-1", "non_mortgage_loans": "0", "savings_deposits": "0"}),
    ("PUT", "/sandbox/banks/HSBKKZKX/behaviour", {"failure": "sometimes"}),
    ("PUT", "/sandbox/banks/HSBKKZKX/credentials", {"client_id": "x"}),
])
def test_a_wrong_call_is_a_4xx_problem(sandbox_url, method, path, body):
    with httpx.Client(base_url=sandbox_url) as sandbox:
        answer = sandbox.request(method, path, json=body)
    assert answer.status_code in (404, 422) and answer.headers["content-type"] == "application/problem+json"


def test_a_request_whose_answer_was_refused_is_answered_again_when_asked_again(sandbox_url, fresh):
    with httpx.Client(base_url=sandbox_url) as sandbox:
        callback = _bank(sandbox, "AGINKZKA", fresh)
        fresh.answers[:] = [409]  # the gateway refuses the first answer (final, not retried)
        assert _request(sandbox, "AGINKZKA", "req-again", callback).status_code == 202
        _wait_for(lambda: _log(sandbox, "AGINKZKA")[0]["status"] == "undeliverable", "the refused answer")
        assert fresh.received == []
        assert _request(sandbox, "AGINKZKA", "req-again", callback).status_code == 202
        _wait_for(lambda: _log(sandbox, "AGINKZKA")[-1]["status"] == "answered", "the second answer")
        assert len(fresh.received) == 1
        assert [(e["status"], [d["status_code"] for d in e["deliveries"]]) for e in _log(sandbox, "AGINKZKA")] == [
            ("undeliverable", [409]), ("answered", [200])]
