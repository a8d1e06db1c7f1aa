"""The SMS from 1414 and the consent loops (issue 10; docs/consent.md).

- `HttpSmsGateway`: the SMS gateway adapter — a pooled HTTP client (`POST /sms/v1/messages`, the
  sandbox plays the gateway) with a timeout; a 5xx, 429 or a transport error is
  `SmsUnavailable` (try later), any other refusal `SmsRefused`.
- `dispatch_pending`: one round of the dispatcher, driven by the database alone: every request
  whose SMS is not taken yet (`repository.consents_awaiting_sms`) gets a fresh one-time code
  (`service.issue_consent_code`, only its hash written), the SMS is sent, and when the gateway
  took it the member is asked (`service.consent_sms_taken`: the deadline runs from then). A crash
  between the send and the record only means a resend with a new code; nothing is held open
  while the gateway answers.
- `run_dispatcher` / `run_expiry_sweep`: the loops for `ServiceSpec.tasks`, with injected clocks.
  Both sleep between rounds (the dispatcher at least `sms_poll_interval_seconds`, longer while the
  gateway is down), so an idle intake costs one small query per interval.

Nothing here logs a number unmasked, a text or a code.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime
from typing import Protocol

import httpx
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.intake import consent, repository, service
from services.intake.settings import IntakeSettings
from shared.access import mask_phone
from shared.business_days import consent_deadline
from shared.calendar import utcnow
from shared.tracing import traced_transport

log = logging.getLogger("qamqor.intake.sms")
SYSTEM = "sms-gateway"
MESSAGES_PATH = "/sms/v1/messages"
_TRY_LATER = frozenset({408, 425, 429})


class SmsUnavailable(Exception):
    """The SMS gateway cannot take messages now (down, slow, overloaded): try again later."""


class SmsRefused(Exception):
    """The SMS gateway refused this message (a 4xx): sending it again the same way will not help."""


class SmsGateway(Protocol):
    async def send(self, *, to: str, text: str, reference: str) -> str: ...


class HttpSmsGateway:
    """The SMS gateway over HTTP; the client is pooled for the app's lifetime (`aclose`)."""

    def __init__(self, settings: IntakeSettings, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.sender = settings.sms_sender
        self.client = httpx.AsyncClient(
            base_url=settings.sms_gateway_url, timeout=httpx.Timeout(settings.sms_timeout_seconds),
            limits=httpx.Limits(max_connections=10, max_keepalive_connections=5),
            transport=traced_transport("intake", SYSTEM, transport))

    async def send(self, *, to: str, text: str, reference: str) -> str:
        """The gateway's message id once it took the SMS."""
        try:
            response = await self.client.post(MESSAGES_PATH, json={"sender": self.sender, "to": to, "text": text,
                                                                   "reference": reference})
            response.raise_for_status()
            return str(response.json()["message_id"])
        # `from None`: nothing with the number or the text is chained into tracebacks.
        except httpx.HTTPStatusError as error:
            status = error.response.status_code
            if status >= 500 or status in _TRY_LATER:
                raise SmsUnavailable(f"the SMS gateway answered {status}") from None
            raise SmsRefused(f"the SMS gateway answered {status}") from None
        except httpx.HTTPError as error:
            raise SmsUnavailable(f"the SMS gateway could not be reached ({type(error).__name__})") from None
        except (KeyError, TypeError, ValueError) as error:
            raise SmsUnavailable(f"the SMS gateway's answer cannot be read ({type(error).__name__})") from None

    async def aclose(self) -> None:
        await self.client.aclose()


async def dispatch_pending(*, sessionmaker: async_sessionmaker[AsyncSession], gateway: SmsGateway, pepper: bytes,
                           clock: Callable[[], datetime] = utcnow, limit: int = 50,
                           refused: set | None = None) -> int:
    """One round: sends every SMS not taken yet; returns how many the gateway took. Raises
    SmsUnavailable when the gateway is down (the rest wait for the next round). `refused`: the
    requests whose SMS the gateway refused (a 4xx) in this process, not sent again until a
    restart (each is logged, masked)."""
    refused = set() if refused is None else refused
    async with sessionmaker() as session, session.begin():
        waiting = await repository.consents_awaiting_sms(session, limit=limit + len(refused))
    taken = 0
    for request in waiting:
        if request.id in refused:
            continue
        async with sessionmaker() as session, session.begin():
            issued = await service.issue_consent_code(session=session, consent_id=request.id,
                                                      salt=service.new_code_salt(), pepper=pepper)
            calendar = await repository.business_calendar(session)
        if issued is None or issued[0].phone is None:
            continue
        asked, code = issued
        now = clock()
        # A resend keeps the deadline set when the first SMS was taken.
        expires_at = asked.expires_at or consent_deadline(now, calendar)
        try:
            await gateway.send(to=asked.phone, text=consent.sms_text(code, expires_at),  # type: ignore[arg-type]
                               reference=str(asked.id))
        except SmsRefused as refusal:
            log.warning("SMS to %s refused: %s", mask_phone(asked.phone), refusal, extra={"consent_id": str(asked.id)})
            refused.add(asked.id)
            continue
        async with sessionmaker() as session, session.begin():
            await service.consent_sms_taken(session=session, consent_id=asked.id, at=now)
        log.info("consent SMS to %s taken by the SMS gateway", mask_phone(asked.phone),
                 extra={"consent_id": str(asked.id)})
        taken += 1
    return taken


async def run_dispatcher(*, sessionmaker: async_sessionmaker[AsyncSession], gateway: SmsGateway, pepper: bytes,
                         interval: float, retry_max: float, clock: Callable[[], datetime] = utcnow) -> None:
    """For the life of the process: a round every `interval` seconds (at once again after a full
    batch); while the gateway is down, waits twice as long each time, up to `retry_max`."""
    delay = interval
    refused: set = set()
    while True:
        try:
            taken = await dispatch_pending(sessionmaker=sessionmaker, gateway=gateway, pepper=pepper, clock=clock,
                                           refused=refused)
            delay = interval
        except SmsUnavailable as unavailable:
            log.warning("consent SMS not sent: %s; trying again in %.0fs", unavailable, delay)
            taken = 0
            await asyncio.sleep(delay)
            delay = min(delay * 2, retry_max)
            continue
        if taken < 50:
            await asyncio.sleep(interval)


async def expire_due(*, sessionmaker: async_sessionmaker[AsyncSession], now: datetime) -> int:
    """One sweep: every open request past its deadline at `now` expires (in batches)."""
    total = 0
    while True:
        async with sessionmaker() as session, session.begin():
            expired = await service.expire_consents(session=session, now=now)
        total += expired
        if expired == 0:
            return total


async def run_expiry_sweep(*, sessionmaker: async_sessionmaker[AsyncSession], interval: float,
                           clock: Callable[[], datetime] = utcnow) -> None:
    """For the life of the process: a sweep every `interval` seconds."""
    while True:
        expired = await expire_due(sessionmaker=sessionmaker, now=clock())
        if expired:
            log.info("%d consent request(s) expired", expired)
        await asyncio.sleep(interval)
