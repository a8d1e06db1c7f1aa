"""External state systems, each behind a small interface with a real HTTP implementation."""

from __future__ import annotations

import abc
import asyncio
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

import aiohttp
import httpx
import orjson

from services.verification.settings import VerificationSettings
from shared.calendar import Quarter, month_label
from shared.events.contracts import IncomeRecord
from shared.observability import REQUEST_ID_HEADER, request_id_var
from shared.tracing import traced_aiohttp, traced_transport


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


# --- issue 10: the accounts registry, the asset registries and the banks' Open API ----------------

def _failed(what: str, system: str, error: httpx.HTTPError) -> RegistryError:
    """The RegistryError for an httpx failure talking to `what`: an outage (RegistryUnavailable)
    when waiting may help, else a plain RegistryError; never naming the URL (it holds the IIN)."""
    if isinstance(error, httpx.HTTPStatusError):
        status = error.response.status_code
        if status >= 500 or status in _TRY_LATER:
            return RegistryUnavailable(f"{what} answered {status}", system=system)
        return RegistryError(f"{what} answered {status}")
    if isinstance(error, httpx.TransportError):
        return RegistryUnavailable(f"{what} could not be reached ({type(error).__name__})", system=system)
    return RegistryError(f"{what} could not be reached ({type(error).__name__})")


def _unreadable(what: str, error: Exception) -> RegistryError:
    return RegistryError(f"{what}'s answer cannot be read ({type(error).__name__})")


_READ_ERRORS = (KeyError, TypeError, ArithmeticError, ValueError, AttributeError)


def _request_id_header() -> dict[str, str]:
    return {REQUEST_ID_HEADER: request_id_var.get() or ""}


class AccountsRegistry(abc.ABC):
    system = "accounts_registry"

    @abc.abstractmethod
    async def banks(self, iin: str) -> list[str]:
        """The codes (BICs) of the participating banks where the person holds an account."""


class HttpAccountsRegistry(AccountsRegistry):
    """`GET /registry/v1/accounts?iin=` -> `{"iin", "banks": [{"bank_code"}]}` (sandbox/registries.py)."""

    what = "the accounts registry"

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client

    async def banks(self, iin: str) -> list[str]:
        try:
            response = await self.client.get("/registry/v1/accounts", params={"iin": iin},
                                             headers=_request_id_header())
            response.raise_for_status()
            codes = [row["bank_code"] for row in response.json()["banks"]]
        except httpx.HTTPError as error:
            raise _failed(self.what, self.system, error) from None
        except _READ_ERRORS as error:
            raise _unreadable(self.what, error) from None
        if not all(isinstance(code, str) and code.isalnum() and 8 <= len(code) <= 11 for code in codes):
            raise RegistryError(f"{self.what}'s answer cannot be read (a bank code)")
        return list(dict.fromkeys(codes))


@dataclass(frozen=True)
class Purchase:
    """A home or a vehicle registered to a member (E1): which registry, what, and when."""

    registry: str  # "real-estate" | "vehicle"
    kind: str  # apartment | house | car
    date: date


class AssetRegistry(abc.ABC):
    system: str
    registry: str

    @abc.abstractmethod
    async def purchases(self, iin: str, quarter: Quarter) -> list[Purchase]:
        """The purchases registered to the person in the quarter."""


class HttpAssetRegistry(AssetRegistry):
    """`GET {path}?iin=&quarter=2026-Q3` -> `{"iin", "quarter", "purchases": [{"date", "kind"}]}`.
    One class for both registries: `real_estate(client)` and `vehicles(client)`."""

    def __init__(self, client: httpx.AsyncClient, *, registry: str, system: str, path: str, what: str) -> None:
        self.client, self.registry, self.system, self.path, self.what = client, registry, system, path, what

    @classmethod
    def real_estate(cls, client: httpx.AsyncClient) -> "HttpAssetRegistry":
        return cls(client, registry="real-estate", system="real_estate_registry",
                   path="/registry/v1/real-estate/purchases", what="the real-estate registry")

    @classmethod
    def vehicles(cls, client: httpx.AsyncClient) -> "HttpAssetRegistry":
        return cls(client, registry="vehicle", system="vehicle_registry",
                   path="/registry/v1/vehicles/purchases", what="the vehicle registry")

    async def purchases(self, iin: str, quarter: Quarter) -> list[Purchase]:
        try:
            response = await self.client.get(self.path, params={"iin": iin, "quarter": str(quarter)},
                                             headers=_request_id_header())
            response.raise_for_status()
            found = [Purchase(registry=self.registry, kind=str(row["kind"]), date=date.fromisoformat(row["date"]))
                     for row in response.json()["purchases"]]
        except httpx.HTTPError as error:
            raise _failed(self.what, self.system, error) from None
        except _READ_ERRORS as error:
            raise _unreadable(self.what, error) from None
        # the registry is asked for one quarter: a purchase outside it is an answer we cannot trust
        if any(not quarter.first_day <= p.date <= quarter.last_day for p in found):
            raise RegistryError(f"{self.what}'s answer cannot be read (a purchase outside the quarter)")
        return found


class BankOpenApi(abc.ABC):
    @staticmethod
    def system_of(bank_code: str) -> str:
        return f"bank:{bank_code}"

    @abc.abstractmethod
    async def request_cashflow(self, bank_code: str, *, request_id: str, iin: str, quarter: Quarter,
                               callback_url: str) -> None:
        """Ask the bank for the person's aggregates of the quarter; the bank acknowledges, and its
        answer arrives later at `callback_url` (the gateway's `POST /v1/banks/{code}/cashflow`)."""


class HttpBankOpenApi(BankOpenApi):
    """`POST /banks/{bank_code}/openapi/v1/cashflow-requests` `{"request_id", "iin", "quarter",
    "callback_url"}` -> 202 `{"request_id", "status": "acknowledged"}` (sandbox/banks.py). A
    request the bank already has is acknowledged again, so asking twice is safe."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client

    async def request_cashflow(self, bank_code: str, *, request_id: str, iin: str, quarter: Quarter,
                               callback_url: str) -> None:
        what, system = f"bank {bank_code}", self.system_of(bank_code)
        if not (bank_code.isalnum() and 8 <= len(bank_code) <= 11):
            raise RegistryError(f"not a bank code: {bank_code!r}")
        try:
            response = await self.client.post(
                f"/banks/{bank_code}/openapi/v1/cashflow-requests",
                json={"request_id": request_id, "iin": iin, "quarter": str(quarter), "callback_url": callback_url},
                headers=_request_id_header())
            response.raise_for_status()
            answer = response.json()
        except httpx.HTTPError as error:
            raise _failed(what, system, error) from None
        except _READ_ERRORS as error:
            raise _unreadable(what, error) from None
        if response.status_code not in (200, 202) or not isinstance(answer, dict) \
                or answer.get("request_id") != request_id:
            raise RegistryError(f"{what}'s answer cannot be read (not an acknowledgement of this request)")


class PooledExternalSystems:
    """The issue-10 adapters with their pooled HTTP clients (one per system), for the app's
    lifetime: `async with PooledExternalSystems(settings) as systems: systems.accounts...`."""

    def __init__(self, settings: VerificationSettings) -> None:
        timeout = httpx.Timeout(settings.registry_timeout_seconds)

        def client(url: str, system: str) -> httpx.AsyncClient:
            return httpx.AsyncClient(base_url=url, timeout=timeout, transport=traced_transport("verification", system))

        self.clients = {
            "accounts": client(settings.accounts_registry_url, AccountsRegistry.system),
            "real_estate": client(settings.real_estate_registry_url, "real_estate_registry"),
            "vehicles": client(settings.vehicle_registry_url, "vehicle_registry"),
            "banks": client(settings.banks_url, "bank"),
        }
        self.accounts: AccountsRegistry = HttpAccountsRegistry(self.clients["accounts"])
        self.real_estate: AssetRegistry = HttpAssetRegistry.real_estate(self.clients["real_estate"])
        self.vehicles: AssetRegistry = HttpAssetRegistry.vehicles(self.clients["vehicles"])
        self.banks: BankOpenApi = HttpBankOpenApi(self.clients["banks"])
        self.bank_callback_url = settings.bank_callback_url

    def callback_url(self, bank_code: str) -> str:
        return self.bank_callback_url.format(bank_code=bank_code)

    async def __aenter__(self) -> "PooledExternalSystems":
        return self

    async def __aexit__(self, *exc: object) -> None:
        for client in self.clients.values():
            await client.aclose()
