"""The SMS gateway, as the sandbox plays it (issue 10; contract in docs/consent.md).

- `POST /sms/v1/messages` {"sender", "to", "text", "reference"} -> 202 {"message_id"}: the
  gateway takes an outbound SMS (intake's consent dispatcher sends the SMS from 1414 here). 503
  while the sandbox outage `sms-gateway` is down (`PUT /sandbox/outages/sms-gateway`).
- `GET /sandbox/sms/messages?to=+77...` (control, tests and demos): the messages taken, oldest
  first — with their text, since a test plays the member who reads the code.
- `POST /sandbox/sms/reply` {"from", "text"} (control): a member "replies"; the sandbox posts it
  to Qamqor's gateway `POST /v1/sms/inbound` as the real SMS gateway would, with a token of its
  own caller of kind `sms_gateway` (client credentials from QAMQOR_SANDBOX_SMS_CLIENT_ID and
  QAMQOR_SANDBOX_SMS_CLIENT_SECRET; the gateway at QAMQOR_SANDBOX_GATEWAY_URL), and returns the
  gateway's answer as it came.

Messages live in this process's memory; nothing here logs a number or a text.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Annotated, Any

import httpx
from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from shared.inputs import InputModel

PHONE_PATTERN = r"^\+7\d{10}$"
MAX_TEXT = 1000
MAX_KEPT = 10_000


class OutboundIn(BaseModel):
    """An SMS's text may hold line breaks (the SMS from 1414 is in two languages, a line each)."""

    model_config = ConfigDict(extra="forbid")
    sender: str = Field(min_length=1, max_length=11)
    to: str = Field(pattern=PHONE_PATTERN)
    text: str = Field(min_length=1, max_length=MAX_TEXT)
    reference: str | None = Field(default=None, max_length=100)


class ReplyIn(InputModel):
    from_: str = Field(alias="from", pattern=PHONE_PATTERN)
    text: str = Field(min_length=1, max_length=MAX_TEXT)


@dataclass
class SmsGateway:
    gateway_url: str | None = None
    client_id: str | None = None
    client_secret: str | None = None
    messages: list[dict[str, Any]] = field(default_factory=list)
    _token: str | None = None

    @classmethod
    def from_env(cls) -> "SmsGateway":
        return cls(gateway_url=os.environ.get("QAMQOR_SANDBOX_GATEWAY_URL") or None,
                   client_id=os.environ.get("QAMQOR_SANDBOX_SMS_CLIENT_ID") or None,
                   client_secret=os.environ.get("QAMQOR_SANDBOX_SMS_CLIENT_SECRET") or None)

    def take(self, message: OutboundIn) -> dict[str, Any]:
        entry = {"message_id": str(uuid.uuid4()), "sender": message.sender, "to": message.to, "text": message.text,
                 "reference": message.reference, "taken_at": datetime.now(UTC).isoformat()}
        self.messages.append(entry)
        del self.messages[:-MAX_KEPT]
        return entry

    async def _fetch_token(self, client: httpx.AsyncClient) -> str:
        response = await client.post("/oauth/token", data={
            "grant_type": "client_credentials", "client_id": self.client_id, "client_secret": self.client_secret})
        response.raise_for_status()
        token = response.json()["access_token"]
        self._token = token
        return token

    async def deliver_reply(self, reply: ReplyIn) -> Response:
        if not (self.gateway_url and self.client_id and self.client_secret):
            return JSONResponse({"title": "The sandbox SMS gateway has no Qamqor gateway or credentials configured",
                                 "status": 503, "detail": "Set QAMQOR_SANDBOX_GATEWAY_URL and "
                                 "QAMQOR_SANDBOX_SMS_CLIENT_ID/_SECRET."},
                                status_code=503, media_type="application/problem+json")
        inbound = {"message_id": str(uuid.uuid4()), "from": reply.from_, "text": reply.text,
                   "received_at": datetime.now(UTC).isoformat()}
        async with httpx.AsyncClient(base_url=self.gateway_url, timeout=10.0) as client:
            token = self._token or await self._fetch_token(client)
            answer = await client.post("/v1/sms/inbound", json=inbound, headers={"Authorization": f"Bearer {token}"})
            if answer.status_code == 401:  # the token expired or the gateway restarted: a fresh one, once
                token = await self._fetch_token(client)
                answer = await client.post("/v1/sms/inbound", json=inbound,
                                           headers={"Authorization": f"Bearer {token}"})
        return Response(answer.content, status_code=answer.status_code,
                        media_type=answer.headers.get("content-type", "application/json"))


def create_router(sms: SmsGateway) -> APIRouter:
    router = APIRouter(tags=["SMS gateway"])

    @router.post("/sms/v1/messages", status_code=202, summary="Take an outbound SMS")
    async def send(message: OutboundIn, request: Request) -> Any:
        outage = request.app.state.outages.get("sms-gateway")
        if outage is not None and outage.delay_seconds:
            await asyncio.sleep(outage.delay_seconds)
        if outage is not None and outage.down:
            return JSONResponse({"title": "The SMS gateway is down (sandbox outage)", "status": 503},
                                status_code=503, headers={"Retry-After": "60"}, media_type="application/problem+json")
        return {"message_id": sms.take(message)["message_id"]}

    @router.get("/sandbox/sms/messages", tags=["control"], summary="The outbound messages taken (to one number)")
    async def messages(to: Annotated[str | None, Query(pattern=PHONE_PATTERN)] = None) -> list[dict[str, Any]]:
        return [m for m in sms.messages if to is None or m["to"] == to]

    @router.post("/sandbox/sms/reply", tags=["control"],
                 summary="A member replies: posted to Qamqor's /v1/sms/inbound with the SMS gateway's token")
    async def reply(body: ReplyIn) -> Response:
        return await sms.deliver_reply(body)

    return router
