"""External state systems, each behind a small interface with a real HTTP implementation."""

from __future__ import annotations

import abc
from decimal import Decimal

import httpx

from services.verification.settings import VerificationSettings
from shared.calendar import Quarter, month_label
from shared.events.contracts import IncomeRecord
from shared.observability import REQUEST_ID_HEADER, request_id_var
from shared.tracing import traced_transport


class RegistryError(Exception):
    """The registry did not give a member's incomes. Its text says how without naming the member
    (an httpx error names the URL, whose query holds the IIN): it reaches logs and, once retries
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
    """The state income registry's HTTP API (played locally by the sandbox)."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client

    async def incomes(self, iin: str, quarter: Quarter) -> list[IncomeRecord]:
        months = quarter.months()
        try:
            response = await self.client.get(
                "/registry/v1/incomes",
                params={"iin": iin, "from": month_label(months[0]), "to": month_label(months[-1])},
                headers={REQUEST_ID_HEADER: request_id_var.get() or ""},
            )
            response.raise_for_status()
            return [
                IncomeRecord(iin=iin, type=row["type"], month=row["month"], amount=Decimal(str(row["amount"])))
                for row in response.json()["incomes"]
            ]
        # `from None`: the original (with the URL, or the rejected value) is not chained into tracebacks.
        except httpx.HTTPStatusError as error:
            status = error.response.status_code
            if status >= 500 or status in _TRY_LATER:
                raise RegistryUnavailable(f"the income registry answered {status}", system=self.system) from None
            raise RegistryError(f"the income registry answered {status}") from None
        except httpx.TransportError as error:
            raise RegistryUnavailable(f"the income registry could not be reached ({type(error).__name__})",
                                      system=self.system) from None
        except httpx.HTTPError as error:
            raise RegistryError(f"the income registry could not be reached ({type(error).__name__})") from None
        except (KeyError, TypeError, ArithmeticError, ValueError) as error:  # a pydantic error is a ValueError
            raise RegistryError(f"the income registry's answer cannot be read ({type(error).__name__})") from None


class PooledIncomeRegistry:
    """The income registry adapter with its pooled HTTP client, for the app's lifetime."""

    def __init__(self, settings: VerificationSettings) -> None:
        self.client = httpx.AsyncClient(base_url=settings.income_registry_url,
                                        timeout=httpx.Timeout(settings.registry_timeout_seconds),
                                        transport=traced_transport("verification", IncomeRegistry.system))

    async def __aenter__(self) -> HttpIncomeRegistry:
        return HttpIncomeRegistry(self.client)

    async def __aexit__(self, *exc: object) -> None:
        await self.client.aclose()
