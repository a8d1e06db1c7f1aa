"""External state systems, each behind a small interface with a real HTTP implementation."""

from __future__ import annotations

import abc
import asyncio
from decimal import Decimal

import aiohttp
import orjson

from services.verification.settings import VerificationSettings
from shared.calendar import Quarter, month_label
from shared.events.contracts import IncomeRecord
from shared.observability import REQUEST_ID_HEADER, request_id_var
from shared.tracing import traced_aiohttp


class RegistryError(Exception):
    """The registry did not give a member's incomes. Its text says how without naming the member
    (an HTTP client's error names the URL, whose query holds the IIN): it reaches logs and, once retries
    are exhausted, the dead-letter headers."""


class RegistryUnavailable(RegistryError):
    """The registry is down or does not answer in time (no connection, a timeout, 5xx, 408, 429):
    the application waits and is retried, instead of failing. Any other RegistryError (a 4xx to
    our request, an answer that cannot be read) will not go away by waiting."""

    def __init__(self, message: str, *, system: str) -> None:
        super().__init__(message)
        self.system = system


# Answers that say "not now" rather than "not this request".
_TRY_LATER = frozenset({408, 429})


class IncomeRegistry(abc.ABC):
    system = "income_registry"

    @abc.abstractmethod
    async def incomes(self, iin: str, quarter: Quarter) -> list[IncomeRecord]: ...


class HttpIncomeRegistry(IncomeRegistry):
    """The state income registry's HTTP API (played locally by the sandbox), through a pooled
    aiohttp session whose base URL is the registry's (httpx cost about four times the CPU per
    call: bench/pipeline, docs/benchmarks.md)."""

    def __init__(self, session: aiohttp.ClientSession) -> None:
        self.session = session

    async def incomes(self, iin: str, quarter: Quarter) -> list[IncomeRecord]:
        months = quarter.months()
        try:
            async with self.session.get(
                "/registry/v1/incomes",
                params={"iin": iin, "from": month_label(months[0]), "to": month_label(months[-1])},
                headers={REQUEST_ID_HEADER: request_id_var.get() or ""},
            ) as response:
                status = response.status
                body = await response.read()
            if status >= 500 or status in _TRY_LATER:
                raise RegistryUnavailable(f"the income registry answered {status}", system=self.system)
            if status >= 300:
                raise RegistryError(f"the income registry answered {status}")
            return [
                IncomeRecord(iin=iin, type=row["type"], month=row["month"], amount=Decimal(str(row["amount"])))
                for row in orjson.loads(body)["incomes"]
            ]
        # `from None`: the original (with the URL, or the rejected value) is not chained into tracebacks.
        except (aiohttp.ClientConnectionError, asyncio.TimeoutError) as error:  # refused, dropped, too slow
            raise RegistryUnavailable(f"the income registry could not be reached ({type(error).__name__})",
                                      system=self.system) from None
        except aiohttp.ClientError as error:
            raise RegistryError(f"the income registry could not be reached ({type(error).__name__})") from None
        except (KeyError, TypeError, ArithmeticError, ValueError) as error:  # a pydantic error is a ValueError
            raise RegistryError(f"the income registry's answer cannot be read ({type(error).__name__})") from None


def registry_session(base_url: str, timeout_seconds: float, *, service: str = "verification") -> aiohttp.ClientSession:
    """A pooled session for the registry at `base_url` (made inside the event loop), traced as
    calls of `service` to the income registry."""
    return aiohttp.ClientSession(
        base_url=base_url, timeout=aiohttp.ClientTimeout(total=timeout_seconds),
        connector=aiohttp.TCPConnector(limit=100, keepalive_timeout=3.0),
        cookie_jar=aiohttp.DummyCookieJar(), trust_env=False,
        trace_configs=traced_aiohttp(service, IncomeRegistry.system))


class PooledIncomeRegistry:
    """The income registry adapter with its pooled HTTP session, for the app's lifetime."""

    def __init__(self, settings: VerificationSettings) -> None:
        self.settings = settings
        self.session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> HttpIncomeRegistry:
        self.session = registry_session(self.settings.income_registry_url, self.settings.registry_timeout_seconds)
        return HttpIncomeRegistry(self.session)

    async def __aexit__(self, *exc: object) -> None:
        if self.session is not None:
            await self.session.close()
