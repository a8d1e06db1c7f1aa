"""External state systems, each behind a small interface with a real HTTP implementation."""

from __future__ import annotations

import abc
import asyncio
from dataclasses import dataclass
from datetime import date
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

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


def _unreadable(what: str, error: Exception) -> RegistryError:
    return RegistryError(f"{what}'s answer cannot be read ({type(error).__name__})")


_READ_ERRORS = (KeyError, TypeError, ArithmeticError, ValueError, AttributeError)


def _request_id_header() -> dict[str, str]:
    return {REQUEST_ID_HEADER: request_id_var.get() or ""}


async def _call(session: aiohttp.ClientSession, method: str, path: str, *, what: str, system: str,
                params: dict[str, str] | None = None, json: dict[str, Any] | None = None) -> tuple[int, Any]:
    """One call to an external system: its status and decoded JSON body. A refusal, a drop, a
    timeout, a 5xx or a "try later" is an outage (RegistryUnavailable: waiting may help); another
    non-2xx answer or an unreadable body is a RegistryError. Never naming the URL (it holds the IIN)."""
    try:
        async with session.request(method, path, params=params, json=json, headers=_request_id_header()) as response:
            status = response.status
            body = await response.read()
    except (aiohttp.ClientConnectionError, asyncio.TimeoutError) as error:  # refused, dropped, too slow
        raise RegistryUnavailable(f"{what} could not be reached ({type(error).__name__})", system=system) from None
    except aiohttp.ClientError as error:
        raise RegistryError(f"{what} could not be reached ({type(error).__name__})") from None
    if status >= 500 or status in _TRY_LATER:
        raise RegistryUnavailable(f"{what} answered {status}", system=system)
    if status >= 300:
        raise RegistryError(f"{what} answered {status}")
    try:
        return status, orjson.loads(body)
    except orjson.JSONDecodeError as error:
        raise _unreadable(what, error) from None


def _family_answer(answer: Any, iins: Sequence[str], what: str) -> list[Any]:
    """The per-person entries of a family query's answer `{"persons": [{"iin", ...}]}`, which
    must name exactly the people asked, in the order asked."""
    try:
        persons = answer["persons"]
        if [p["iin"] for p in persons] != list(iins):
            raise ValueError("not the people asked")
    except _READ_ERRORS as error:
        raise _unreadable(what, error) from None
    return persons


class IncomeRegistry(abc.ABC):
    system = "income_registry"

    @abc.abstractmethod
    async def incomes(self, iin: str, quarter: Quarter) -> list[IncomeRecord]: ...

    @abc.abstractmethod
    async def incomes_of(self, iins: Sequence[str], quarter: Quarter) -> list[list[IncomeRecord]]:
        """Each person's incomes in the quarter, in the order of `iins` (a family), in one call."""


class HttpIncomeRegistry(IncomeRegistry):
    """The state income registry's HTTP API (played locally by the sandbox), through a pooled
    aiohttp session whose base URL is the registry's (httpx cost about four times the CPU per
    call: bench/pipeline, docs/benchmarks.md)."""

    path = "/registry/v1/incomes"

    def __init__(self, session: aiohttp.ClientSession) -> None:
        self.session = session

    async def incomes(self, iin: str, quarter: Quarter) -> list[IncomeRecord]:
        months = quarter.months()
        _, answer = await _call(self.session, "GET", self.path,
                                params={"iin": iin, "from": month_label(months[0]), "to": month_label(months[-1])},
                                what="the income registry", system=self.system)
        return self._records(iin, answer)

    async def incomes_of(self, iins: Sequence[str], quarter: Quarter) -> list[list[IncomeRecord]]:
        """`POST /registry/v1/incomes/query {"iins", "quarter"}` -> `{"quarter", "persons":
        [{"iin", "incomes"}]}`: a family in one round trip (sandbox/main.py)."""
        _, answer = await _call(self.session, "POST", self.path + "/query",
                                json={"iins": list(iins), "quarter": str(quarter)},
                                what="the income registry", system=self.system)
        return [self._records(p["iin"], p) for p in _family_answer(answer, iins, "the income registry")]

    @staticmethod
    def _records(iin: str, answer: Any) -> list[IncomeRecord]:
        try:
            return [
                IncomeRecord(iin=iin, type=row["type"], month=row["month"], amount=Decimal(str(row["amount"])))
                for row in answer["incomes"]
            ]
        except _READ_ERRORS as error:  # a pydantic error is a ValueError
            raise _unreadable("the income registry", error) from None


def registry_session(base_url: str, timeout_seconds: float, *, service: str = "verification",
                     system: str = IncomeRegistry.system) -> aiohttp.ClientSession:
    """A pooled session for the external system at `base_url` (made inside the event loop),
    traced as calls of `service` to `system` (the income registry unless named)."""
    return aiohttp.ClientSession(
        base_url=base_url, timeout=aiohttp.ClientTimeout(total=timeout_seconds),
        connector=aiohttp.TCPConnector(limit=100, keepalive_timeout=3.0),
        cookie_jar=aiohttp.DummyCookieJar(), trust_env=False,
        trace_configs=traced_aiohttp(service, system))


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
# Through pooled aiohttp sessions like the income registry's (httpx cost about four times the CPU
# per call: bench/pipeline, docs/benchmarks.md).

class AccountsRegistry(abc.ABC):
    system = "accounts_registry"

    @abc.abstractmethod
    async def banks(self, iin: str) -> list[str]:
        """The codes (BICs) of the participating banks where the person holds an account."""

    @abc.abstractmethod
    async def banks_of(self, iins: Sequence[str]) -> list[list[str]]:
        """Each person's banks, in the order of `iins` (a family's adults), in one call."""


class HttpAccountsRegistry(AccountsRegistry):
    """`GET /registry/v1/accounts?iin=` -> `{"iin", "banks": [{"bank_code"}]}` (sandbox/registries.py)."""

    what = "the accounts registry"

    def __init__(self, session: aiohttp.ClientSession) -> None:
        self.session = session

    async def banks(self, iin: str) -> list[str]:
        _, answer = await _call(self.session, "GET", "/registry/v1/accounts", params={"iin": iin},
                                what=self.what, system=self.system)
        return self._codes(answer)

    async def banks_of(self, iins: Sequence[str]) -> list[list[str]]:
        """`POST /registry/v1/accounts/query {"iins"}` -> `{"persons": [{"iin", "banks"}]}`."""
        _, answer = await _call(self.session, "POST", "/registry/v1/accounts/query", json={"iins": list(iins)},
                                what=self.what, system=self.system)
        return [self._codes(p) for p in _family_answer(answer, iins, self.what)]

    def _codes(self, answer: Any) -> list[str]:
        try:
            codes = [row["bank_code"] for row in answer["banks"]]
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

    @abc.abstractmethod
    async def purchases_of(self, iins: Sequence[str], quarter: Quarter) -> list[list[Purchase]]:
        """Each person's purchases in the quarter, in the order of `iins` (a family), in one call."""


class HttpAssetRegistry(AssetRegistry):
    """`GET {path}?iin=&quarter=2026-Q3` -> `{"iin", "quarter", "purchases": [{"date", "kind"}]}`.
    One class for both registries: `real_estate(client)` and `vehicles(client)`."""

    def __init__(self, session: aiohttp.ClientSession, *, registry: str, system: str, path: str, what: str) -> None:
        self.session, self.registry, self.system, self.path, self.what = session, registry, system, path, what

    @classmethod
    def real_estate(cls, session: aiohttp.ClientSession) -> "HttpAssetRegistry":
        return cls(session, registry="real-estate", system="real_estate_registry",
                   path="/registry/v1/real-estate/purchases", what="the real-estate registry")

    @classmethod
    def vehicles(cls, session: aiohttp.ClientSession) -> "HttpAssetRegistry":
        return cls(session, registry="vehicle", system="vehicle_registry",
                   path="/registry/v1/vehicles/purchases", what="the vehicle registry")

    async def purchases(self, iin: str, quarter: Quarter) -> list[Purchase]:
        _, answer = await _call(self.session, "GET", self.path, params={"iin": iin, "quarter": str(quarter)},
                                what=self.what, system=self.system)
        return self._found(answer, quarter)

    async def purchases_of(self, iins: Sequence[str], quarter: Quarter) -> list[list[Purchase]]:
        """`POST {path}/query {"iins", "quarter"}` -> `{"quarter", "persons": [{"iin", "purchases"}]}`."""
        _, answer = await _call(self.session, "POST", self.path + "/query",
                                json={"iins": list(iins), "quarter": str(quarter)}, what=self.what, system=self.system)
        return [self._found(p, quarter) for p in _family_answer(answer, iins, self.what)]

    def _found(self, answer: Any, quarter: Quarter) -> list[Purchase]:
        try:
            found = [Purchase(registry=self.registry, kind=str(row["kind"]), date=date.fromisoformat(row["date"]))
                     for row in answer["purchases"]]
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

    def __init__(self, session: aiohttp.ClientSession) -> None:
        self.session = session

    async def request_cashflow(self, bank_code: str, *, request_id: str, iin: str, quarter: Quarter,
                               callback_url: str) -> None:
        what, system = f"bank {bank_code}", self.system_of(bank_code)
        if not (bank_code.isalnum() and 8 <= len(bank_code) <= 11):
            raise RegistryError(f"not a bank code: {bank_code!r}")
        status, answer = await _call(
            self.session, "POST", f"/banks/{bank_code}/openapi/v1/cashflow-requests",
            json={"request_id": request_id, "iin": iin, "quarter": str(quarter), "callback_url": callback_url},
            what=what, system=system)
        if status not in (200, 202) or not isinstance(answer, dict) \
                or answer.get("request_id") != request_id:
            raise RegistryError(f"{what}'s answer cannot be read (not an acknowledgement of this request)")


class PooledExternalSystems:
    """The issue-10 adapters with their pooled HTTP sessions (one per system, made inside the
    event loop), for the app's lifetime: `async with PooledExternalSystems(settings) as systems:
    systems.accounts...`."""

    def __init__(self, settings: VerificationSettings) -> None:
        self.settings = settings
        self.bank_callback_url = settings.bank_callback_url
        self.sessions: dict[str, aiohttp.ClientSession] = {}

    def callback_url(self, bank_code: str) -> str:
        return self.bank_callback_url.format(bank_code=bank_code)

    async def __aenter__(self) -> "PooledExternalSystems":
        settings, timeout = self.settings, self.settings.registry_timeout_seconds
        self.sessions = {
            "accounts": registry_session(settings.accounts_registry_url, timeout, system=AccountsRegistry.system),
            "real_estate": registry_session(settings.real_estate_registry_url, timeout, system="real_estate_registry"),
            "vehicles": registry_session(settings.vehicle_registry_url, timeout, system="vehicle_registry"),
            "banks": registry_session(settings.banks_url, timeout, system="bank"),
        }
        self.accounts: AccountsRegistry = HttpAccountsRegistry(self.sessions["accounts"])
        self.real_estate: AssetRegistry = HttpAssetRegistry.real_estate(self.sessions["real_estate"])
        self.vehicles: AssetRegistry = HttpAssetRegistry.vehicles(self.sessions["vehicles"])
        self.banks: BankOpenApi = HttpBankOpenApi(self.sessions["banks"])
        return self

    async def __aexit__(self, *exc: object) -> None:
        for session in self.sessions.values():
            await session.close()
