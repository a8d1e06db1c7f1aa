"""The sandbox's banks: each plays a bank's Open API for cash-flow aggregates (issue 10, points 3
and 6).

Open API (what verification calls):
- `POST /banks/{bank_code}/openapi/v1/cashflow-requests` `{"request_id", "iin", "quarter":
  "2026-Q3", "callback_url"}` -> `202 {"request_id", "status": "acknowledged"}`; a request id
  the bank already has is acknowledged again and answered only once (again only if that answer
  could not be delivered). 404 for a bank the sandbox does not play; 503 while it is `down`.
- Later (the bank's `answer_delay_seconds`) the bank posts its answer to `callback_url` (the
  gateway's `POST /v1/banks/{bank_code}/cashflow`): `{"request_id", "iin", "quarter",
  "total_spending", "non_mortgage_loans", "savings_deposits", "housing_deposits"}`, money as decimal strings. The
  request carries the bearer token of the bank's caller (client credentials at the gateway's
  `/oauth/token`) and is signed with the bank's signing secret as docs/gateway.md says
  (`X-Qamqor-Timestamp`, `X-Qamqor-Nonce`, `X-Qamqor-Signature`); it is retried while the
  gateway cannot take it (no connection, 5xx, 408, 429), each time with a fresh nonce.

Control API (tests and demos):
- `PUT /sandbox/banks/{bank_code}/credentials {"client_id", "client_secret", "signing_secret"}`:
  the bank's caller at the gateway (also from env `QAMQOR_SANDBOX_BANKS`, a JSON object of
  bank code -> the same three fields). `GET /sandbox/banks` lists the banks played.
- `PUT /sandbox/banks/{bank_code}/behaviour {"answer_delay_seconds": 0.2, "failure":
  "none"|"down"|"silent", "duplicates": 0}`: `down` answers the Open API 503, `silent`
  acknowledges and never answers, `duplicates` delivers the same answer that many more times
  (each freshly signed, as a bank retrying would).
- `PUT|GET|DELETE /sandbox/banks/{bank_code}/persons/{iin}` `{"total_spending",
  "non_mortgage_loans", "savings_deposits", "housing_deposits"?}`: the person's aggregates at this bank (any
  quarter); synthetic by default (`sandbox.population.synthetic_cashflow`).
- `GET /sandbox/banks/requests?bank_code=&iin=`: every request received, with what became of
  its answer; `DELETE /sandbox/banks/requests` forgets them.

The token endpoint is `QAMQOR_SANDBOX_GATEWAY_URL` + `/oauth/token`, or else the callback URL's
origin + `/oauth/token` (the callback goes through the gateway).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import os
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

import httpx
from fastapi import APIRouter, Path, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from sandbox.population import PLAYED_BANKS, synthetic_cashflow
from shared.calendar import Quarter, business_date
from shared.errors import NotFound

log = logging.getLogger("sandbox.banks")

BANK_CODE = r"^[A-Z]{6}[A-Z0-9]{2}([A-Z0-9]{3})?$"
BankPath = Annotated[str, Path(pattern=BANK_CODE)]
IinPath = Annotated[str, Path(pattern=r"^\d{12}$")]
MONEY = r"^\d{1,13}(\.\d{1,2})?$"
Money = Annotated[str, Field(pattern=MONEY)]
_TRY_LATER = frozenset({408, 429})


class BankCredentials(BaseModel):
    model_config = ConfigDict(extra="forbid")
    client_id: str = Field(min_length=1, max_length=200)
    client_secret: str = Field(min_length=1, max_length=500)
    signing_secret: str = Field(min_length=1, max_length=500)


class BankBehaviour(BaseModel):
    model_config = ConfigDict(extra="forbid")
    answer_delay_seconds: float = Field(default=0.2, ge=0, le=600)
    failure: Literal["none", "down", "silent"] = "none"
    duplicates: int = Field(default=0, ge=0, le=5)


class Aggregates(BaseModel):
    """A customer's aggregates at a bank for a quarter, tenge as decimal strings (never floats)."""

    model_config = ConfigDict(extra="forbid")
    total_spending: Money
    non_mortgage_loans: Money
    savings_deposits: Money
    housing_deposits: Money = "0.00"  # housing/mortgage savings (Otbasy-style): reported apart, never counted

    def normalised(self) -> dict[str, str]:
        return {name: str(Decimal(value).quantize(Decimal("0.01"))) for name, value in self.model_dump().items()}


class CashflowRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    request_id: str = Field(pattern=r"^[A-Za-z0-9_-]{1,64}$")
    iin: str = Field(pattern=r"^\d{12}$")
    quarter: str = Field(pattern=r"^\d{4}-Q[1-4]$")
    callback_url: str = Field(pattern=r"^https?://[^\s/?#]+/[^\s#]*$", max_length=2000)


def sign(signing_secret: str, *, timestamp: str, nonce: str, method: str, path: str, body: bytes) -> str:
    """docs/gateway.md: lowercase hex HMAC-SHA256(signing secret,
    `timestamp\\nnonce\\nMETHOD\\npath\\nhex(sha256(body))`)."""
    message = "\n".join((timestamp, nonce, method.upper(), path, hashlib.sha256(body).hexdigest()))
    return hmac.new(signing_secret.encode(), message.encode(), hashlib.sha256).hexdigest()


@dataclass
class Delivery:
    """What became of one delivery of an answer: the gateway's last status (None: never reached)."""

    status_code: int | None
    attempts: int
    error: str | None = None

    @property
    def delivered(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


class CallbackSender:
    """Signs an answer and posts it to the callback URL with the bank's bearer token, retrying
    (with backoff, a fresh timestamp and nonce each time) while the gateway cannot take it. A
    refusal (4xx other than 408/429) is final; a 401 with a cached token fetches a new one once."""

    def __init__(self, *, token_url: str | None = None, attempts: int = 6, first_retry_seconds: float = 0.5,
                 max_retry_seconds: float = 10.0, timeout_seconds: float = 10.0,
                 clock: Callable[[], float] = time.time,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
        self.token_url = token_url
        self.attempts = attempts
        self.first_retry_seconds = first_retry_seconds
        self.max_retry_seconds = max_retry_seconds
        self.timeout_seconds = timeout_seconds
        self.clock = clock
        self.sleep = sleep
        self._tokens: dict[tuple[str, str], tuple[str, float]] = {}  # (token url, client id) -> token, expiry
        # one pooled client for every delivery (a client per answer cost a TLS context and a new
        # connection to the gateway each time); made in the event loop that uses it
        self._client: httpx.AsyncClient | None = None

    def _http(self) -> httpx.AsyncClient:
        if self._client is None or self._client.is_closed:
            self._client = httpx.AsyncClient(timeout=self.timeout_seconds)
        return self._client

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    def _token_url_for(self, callback_url: str) -> str:
        if self.token_url:
            return self.token_url
        url = httpx.URL(callback_url)
        return str(url.copy_with(raw_path=b"/oauth/token", query=None, fragment=None))

    async def _token(self, client: httpx.AsyncClient, token_url: str, credentials: BankCredentials) -> str:
        key = (token_url, credentials.client_id)
        cached = self._tokens.get(key)
        if cached is not None and cached[1] > self.clock():
            return cached[0]
        response = await client.post(token_url, data={"grant_type": "client_credentials",
                                                      "client_id": credentials.client_id,
                                                      "client_secret": credentials.client_secret})
        response.raise_for_status()
        answer = response.json()
        token = answer["access_token"]
        self._tokens[key] = (token, self.clock() + max(float(answer.get("expires_in", 60)) - 30, 1))
        return token

    def signed_headers(self, credentials: BankCredentials, method: str, path: str, body: bytes) -> dict[str, str]:
        timestamp, nonce = str(int(self.clock())), secrets.token_urlsafe(24)
        return {"X-Qamqor-Timestamp": timestamp, "X-Qamqor-Nonce": nonce,
                "X-Qamqor-Signature": sign(credentials.signing_secret, timestamp=timestamp, nonce=nonce,
                                           method=method, path=path, body=body)}

    async def deliver(self, credentials: BankCredentials, callback_url: str, payload: dict[str, Any]) -> Delivery:
        body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
        path = httpx.URL(callback_url).raw_path.split(b"?", 1)[0].decode("ascii")
        token_url = self._token_url_for(callback_url)
        delay = self.first_retry_seconds
        last = Delivery(status_code=None, attempts=0)
        refreshed = False
        client = self._http()
        attempt = 0
        while attempt < self.attempts:
            attempt += 1
            try:
                token = await self._token(client, token_url, credentials)
                headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json",
                           **self.signed_headers(credentials, "POST", path, body)}
                response = await client.post(callback_url, content=body, headers=headers)
                last = Delivery(status_code=response.status_code, attempts=attempt)
                if response.status_code == 401 and not refreshed:
                    # the token may have expired early (a restarted gateway): a new one, once
                    self._tokens.pop((token_url, credentials.client_id), None)
                    refreshed = True
                    attempt -= 1
                    continue
                if response.status_code < 500 and response.status_code not in _TRY_LATER:
                    return last
            except httpx.HTTPStatusError as error:  # the token endpoint
                status = error.response.status_code
                last = Delivery(status_code=status, attempts=attempt, error=f"token endpoint answered {status}")
                if status < 500 and status not in _TRY_LATER:
                    return last
            except (httpx.HTTPError, KeyError, ValueError) as error:
                last = Delivery(status_code=None, attempts=attempt, error=type(error).__name__)
            if attempt < self.attempts:
                await self.sleep(delay)
                delay = min(delay * 2, self.max_retry_seconds)
        return last


def _credentials_from_env() -> dict[str, BankCredentials]:
    raw = os.environ.get("QAMQOR_SANDBOX_BANKS", "").strip()
    if not raw:
        return {}
    return {code: BankCredentials.model_validate(value) for code, value in json.loads(raw).items()}


def create_router(*, sender: CallbackSender | None = None,
                  credentials: dict[str, BankCredentials] | None = None) -> APIRouter:
    gateway_url = os.environ.get("QAMQOR_SANDBOX_GATEWAY_URL", "").rstrip("/")
    sender = sender or CallbackSender(token_url=f"{gateway_url}/oauth/token" if gateway_url else None)
    creds: dict[str, BankCredentials] = _credentials_from_env() if credentials is None else dict(credentials)
    played = {code for code, _ in PLAYED_BANKS} | set(creds)
    behaviours: dict[str, BankBehaviour] = {}
    aggregates: dict[tuple[str, str], Aggregates] = {}
    requests: list[dict[str, Any]] = []
    answered: dict[tuple[str, str], dict[str, Any]] = {}  # the entry that answers each request
    tasks: set[asyncio.Task] = set()

    async def cancel_answers() -> None:
        for task in list(tasks):
            task.cancel()
        await sender.close()

    router = APIRouter(on_shutdown=[cancel_answers])

    def known(bank_code: str) -> None:
        if bank_code not in played:
            raise NotFound(f"the sandbox plays no bank {bank_code}")

    def answer_for(bank_code: str, iin: str, quarter: str) -> dict[str, str]:
        state = aggregates.get((bank_code, iin))
        if state is not None:
            return state.normalised()
        return synthetic_cashflow(iin, bank_code, Quarter.parse(quarter))

    async def answer(bank_code: str, request: CashflowRequest, entry: dict[str, Any], behaviour: BankBehaviour) -> None:
        try:
            await _answer(bank_code, request, entry, behaviour)
        except Exception:  # a task's failure would otherwise go unseen
            entry["status"] = "failed"
            log.exception("bank %s could not answer %s", bank_code, request.request_id)

    async def _answer(bank_code: str, request: CashflowRequest, entry: dict[str, Any], behaviour: BankBehaviour) -> None:
        await asyncio.sleep(behaviour.answer_delay_seconds)
        if behaviour.failure == "silent":
            entry["status"] = "silent"
            return
        bank = creds.get(bank_code)
        if bank is None:
            entry["status"] = "undeliverable"
            log.warning("bank %s has no credentials at the gateway: answer to %s not sent", bank_code,
                        request.request_id)
            return
        payload = {"request_id": request.request_id, "iin": request.iin, "quarter": request.quarter,
                   **answer_for(bank_code, request.iin, request.quarter)}
        for _ in range(1 + behaviour.duplicates):
            delivery = await sender.deliver(bank, request.callback_url, payload)
            entry["deliveries"].append({"status_code": delivery.status_code, "attempts": delivery.attempts,
                                        "error": delivery.error})
            log.info("bank %s answer to %s posted: %s after %d attempt(s)", bank_code, request.request_id,
                     delivery.status_code, delivery.attempts)
        entry["status"] = "answered" if any(200 <= (d["status_code"] or 0) < 300 for d in entry["deliveries"]) \
            else "undeliverable"

    @router.post("/banks/{bank_code}/openapi/v1/cashflow-requests", status_code=202, tags=["banks"],
                 summary="Ask the bank for a customer's cash-flow aggregates of a quarter (answered later)")
    async def cashflow_request(bank_code: BankPath, request: CashflowRequest) -> Any:
        known(bank_code)
        behaviour = behaviours.get(bank_code, BankBehaviour())
        entry: dict[str, Any] = {"bank_code": bank_code, **request.model_dump(),
                                 "received_at": datetime.now(UTC).isoformat(), "acknowledged": False,
                                 "status": "refused", "deliveries": []}
        requests.append(entry)
        if behaviour.failure == "down":
            return JSONResponse({"title": "The bank's Open API is down (sandbox)", "status": 503}, status_code=503,
                                headers={"Retry-After": "60"}, media_type="application/problem+json")
        entry["acknowledged"] = True
        earlier = answered.get((bank_code, request.request_id))
        if earlier is not None and earlier["status"] not in ("undeliverable", "failed"):
            entry["status"] = "repeated"  # answered (or being answered) already: once is enough
        else:
            answered[(bank_code, request.request_id)] = entry
            entry["status"] = "acknowledged"
            task = asyncio.create_task(answer(bank_code, request, entry, behaviour))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        return {"request_id": request.request_id, "status": "acknowledged"}

    @router.get("/sandbox/banks", tags=["control"], summary="The banks played, their behaviour and credentials set")
    async def list_banks() -> dict:
        return {"banks": [{"bank_code": code, "credentials": code in creds,
                           "behaviour": behaviours.get(code, BankBehaviour()).model_dump()} for code in sorted(played)]}

    @router.put("/sandbox/banks/{bank_code}/credentials", tags=["control"],
                summary="The bank's caller at the gateway (client credentials and signing secret)")
    async def set_credentials(bank_code: BankPath, credentials: BankCredentials) -> dict:
        creds[bank_code] = credentials
        played.add(bank_code)
        return {"bank_code": bank_code, "client_id": credentials.client_id}

    @router.put("/sandbox/banks/{bank_code}/behaviour", tags=["control"],
                summary="Answer delay, failure mode (down: 503, silent: never answers) and duplicate deliveries")
    async def set_behaviour(bank_code: BankPath, behaviour: BankBehaviour) -> dict:
        known(bank_code)
        behaviours[bank_code] = behaviour
        return {"bank_code": bank_code, **behaviour.model_dump()}

    @router.put("/sandbox/banks/{bank_code}/persons/{iin}", tags=["control"],
                summary="Set a customer's aggregates at this bank (every quarter), replacing the synthetic ones")
    async def set_aggregates(bank_code: BankPath, iin: IinPath, state: Aggregates) -> dict:
        known(bank_code)
        aggregates[(bank_code, iin)] = state
        return {"bank_code": bank_code, "iin": iin, "synthetic": False, **state.normalised()}

    @router.get("/sandbox/banks/{bank_code}/persons/{iin}", tags=["control"],
                summary="What the bank would answer for a customer and quarter (by default the last one)")
    async def get_aggregates(bank_code: BankPath, iin: IinPath,
                             quarter: Annotated[str | None, Query(pattern=r"^\d{4}-Q[1-4]$")] = None) -> dict:
        known(bank_code)
        asked = quarter or str(Quarter.of(business_date()).previous())
        return {"bank_code": bank_code, "iin": iin, "quarter": asked, "synthetic": (bank_code, iin) not in aggregates,
                **answer_for(bank_code, iin, asked)}

    @router.delete("/sandbox/banks/{bank_code}/persons/{iin}", tags=["control"], status_code=204)
    async def reset_aggregates(bank_code: BankPath, iin: IinPath) -> None:
        aggregates.pop((bank_code, iin), None)

    @router.get("/sandbox/banks/requests", tags=["control"], summary="Every cash-flow request the banks received")
    async def list_requests(bank_code: Annotated[str | None, Query(pattern=BANK_CODE)] = None,
                            iin: Annotated[str | None, Query(pattern=r"^\d{12}$")] = None) -> dict:
        return {"requests": [dict(entry, deliveries=list(entry["deliveries"])) for entry in requests
                             if (bank_code is None or entry["bank_code"] == bank_code)
                             and (iin is None or entry["iin"] == iin)]}

    @router.delete("/sandbox/banks/requests", tags=["control"], status_code=204)
    async def forget_requests() -> None:
        requests.clear()

    return router
