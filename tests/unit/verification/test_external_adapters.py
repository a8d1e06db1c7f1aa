"""Issue 10's adapters: the accounts registry, the real-estate and vehicle registries and the
banks' Open API, against a small aiohttp server on a free port (real HTTP, as the income
registry's adapter is tested in test_adapters.py). What they ask, what they return, an outage told
apart from a refusal, and no failure naming the member."""

from __future__ import annotations

import asyncio
import json
import socket
import traceback
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import date

import aiohttp
import pytest
from aiohttp import web

from shared.calendar import Quarter
from tests.support import person
from tests.unit.verification.test_adapters import dropped, registry

IIN = person(date(1990, 1, 1), "female", "applicant")["iin"]
Q3 = Quarter(2026, 3)


@asynccontextmanager
async def _session(answer, *, timeout: float = 5.0) -> AsyncIterator[aiohttp.ClientSession]:  # noqa: ANN001
    """A pooled session (as the service makes them) against a server answering with `answer`; with
    `answer=None`, against a port where nothing listens."""
    from services.verification.adapters import registry_session

    if answer is None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            url = f"http://127.0.0.1:{s.getsockname()[1]}"
        async with registry_session(url, timeout) as session:
            yield session
        return
    async with registry(answer) as url, registry_session(url, timeout) as session:
        yield session


def _adapters(session: aiohttp.ClientSession) -> dict:
    from services.verification.adapters import HttpAccountsRegistry, HttpAssetRegistry, HttpBankOpenApi

    return {
        "accounts": lambda: HttpAccountsRegistry(session).banks(IIN),
        "real-estate": lambda: HttpAssetRegistry.real_estate(session).purchases(IIN, Q3),
        "vehicle": lambda: HttpAssetRegistry.vehicles(session).purchases(IIN, Q3),
        "bank": lambda: HttpBankOpenApi(session).request_cashflow(
            "HSBKKZKX", request_id="req-1", iin=IIN, quarter=Q3, callback_url="http://gw/v1/banks/HSBKKZKX/cashflow"),
    }


SYSTEMS = {"accounts": "accounts_registry", "real-estate": "real_estate_registry", "vehicle": "vehicle_registry",
           "bank": "bank:HSBKKZKX"}


def _json(payload: object, status: int = 200):  # noqa: ANN202
    async def answer(request: web.Request) -> web.Response:
        return web.json_response(payload, status=status)
    return answer


def _status(code: int):  # noqa: ANN202
    async def answer(request: web.Request) -> web.Response:
        return web.Response(status=code)
    return answer


def _text(text: str):  # noqa: ANN202
    async def answer(request: web.Request) -> web.Response:
        return web.Response(text=text, content_type="text/html")
    return answer


async def _slow(request: web.Request) -> web.Response:
    await asyncio.sleep(1)  # longer than the client's timeout below
    return web.json_response({})


def _recording(seen: list[tuple[str, str, dict, bytes]], payload: object, status: int = 200):  # noqa: ANN202
    async def answer(request: web.Request) -> web.Response:
        seen.append((request.method, request.path, dict(request.query), await request.read()))
        return web.json_response(payload, status=status)
    return answer


async def test_the_accounts_registry_is_asked_for_the_person_and_gives_distinct_bank_codes():
    from services.verification.adapters import HttpAccountsRegistry

    seen: list = []
    answer = _recording(seen, {"iin": IIN, "banks": [{"bank_code": "HSBKKZKX"}, {"bank_code": "CASPKZKA"},
                                                     {"bank_code": "HSBKKZKX"}]})
    async with _session(answer) as session:
        assert await HttpAccountsRegistry(session).banks(IIN) == ["HSBKKZKX", "CASPKZKA"]
    method, path, query, _ = seen[0]
    assert method == "GET" and path == "/registry/v1/accounts" and query == {"iin": IIN}


@pytest.mark.parametrize(("kind", "path"), [("real-estate", "/registry/v1/real-estate/purchases"),
                                            ("vehicle", "/registry/v1/vehicles/purchases")])
async def test_an_asset_registry_gives_the_purchases_of_the_quarter(kind, path):
    from services.verification.adapters import HttpAssetRegistry, Purchase

    seen: list = []
    answer = _recording(seen, {"iin": IIN, "quarter": "2026-Q3", "purchases": [
        {"date": "2026-07-01", "kind": "apartment"}, {"date": "2026-09-30", "kind": "car"}]})
    async with _session(answer) as session:
        registry_ = HttpAssetRegistry.real_estate(session) if kind == "real-estate" else HttpAssetRegistry.vehicles(session)
        found = await registry_.purchases(IIN, Q3)
    assert found == [Purchase(kind, "apartment", date(2026, 7, 1)), Purchase(kind, "car", date(2026, 9, 30))]
    assert seen[0][1] == path and seen[0][2] == {"iin": IIN, "quarter": "2026-Q3"}


async def test_the_bank_is_asked_with_the_request_id_and_the_callback():
    from services.verification.adapters import HttpBankOpenApi

    seen: list = []
    async with _session(_recording(seen, {"request_id": "req-1", "status": "acknowledged"}, 202)) as session:
        assert await HttpBankOpenApi(session).request_cashflow(
            "KCJBKZKX", request_id="req-1", iin=IIN, quarter=Q3,
            callback_url="http://gw/v1/banks/KCJBKZKX/cashflow") is None
    method, path, _, content = seen[0]
    assert method == "POST" and path == "/banks/KCJBKZKX/openapi/v1/cashflow-requests"
    assert json.loads(content) == {"request_id": "req-1", "iin": IIN, "quarter": "2026-Q3",
                                   "callback_url": "http://gw/v1/banks/KCJBKZKX/cashflow"}


@pytest.mark.parametrize("adapter", list(SYSTEMS))
@pytest.mark.parametrize(("answer", "waits"), [
    (_status(503), True),
    (_status(500), True),
    (_status(429), True),
    (_status(408), True),
    (None, True),  # nothing listens: refused
    (_slow, True),
    (dropped, True),
    (_status(400), False),
    (_status(404), False),
    (_status(422), False),
    (_json({"rows": []}), False),
    (_text("<html>"), False),
], ids=["503", "500", "429", "408", "refused", "slow", "dropped", "400", "404", "422", "other-json", "html"])
async def test_an_outage_is_told_apart_from_a_refusal_and_names_no_member(adapter, answer, waits):
    from services.verification.adapters import RegistryError, RegistryUnavailable

    async with _session(answer, timeout=0.3) as session:
        with pytest.raises(RegistryError) as raised:
            await _adapters(session)[adapter]()
    assert isinstance(raised.value, RegistryUnavailable) is waits
    if waits:
        assert raised.value.system == SYSTEMS[adapter]
    carried = repr(raised.value) + "".join(traceback.format_exception(raised.value))
    assert IIN not in carried and "http://127.0.0.1" not in carried


@pytest.mark.parametrize(("adapter", "body"), [
    ("accounts", {"banks": [{"bank_code": 7}]}),
    ("accounts", {"banks": [{"bank_code": "HSBK/../X"}]}),
    ("accounts", {"banks": ["HSBKKZKX"]}),
    ("real-estate", {"purchases": [{"date": "2026-13-01", "kind": "house"}]}),
    ("real-estate", {"purchases": [{"date": 20260701, "kind": "house"}]}),
    ("vehicle", {"purchases": [{"date": "2026-10-01", "kind": "car"}]}),  # outside the quarter asked
    ("vehicle", {"purchases": [{"kind": "car"}]}),
    ("bank", {"request_id": "another", "status": "acknowledged"}),
    ("bank", ["acknowledged"]),
])
async def test_an_answer_that_cannot_be_read_is_an_error_not_an_outage(adapter, body):
    from services.verification.adapters import RegistryError, RegistryUnavailable

    async with _session(_json(body, 200 if adapter != "bank" else 202)) as session:
        with pytest.raises(RegistryError, match="cannot be read") as raised:
            await _adapters(session)[adapter]()
    assert not isinstance(raised.value, RegistryUnavailable)


async def test_the_pooled_systems_use_their_settings_and_close():
    from services.verification.adapters import PooledExternalSystems
    from services.verification.settings import VerificationSettings

    settings = VerificationSettings(accounts_registry_url="http://accounts:1", real_estate_registry_url="http://homes:2",
                                    vehicle_registry_url="http://cars:3", banks_url="http://banks:4",
                                    bank_callback_url="http://gw:5/v1/banks/{bank_code}/cashflow")
    async with PooledExternalSystems(settings) as systems:
        assert str(systems.sessions["accounts"]._base_url) == "http://accounts:1"
        assert str(systems.sessions["banks"]._base_url) == "http://banks:4"
        assert systems.callback_url("CASPKZKA") == "http://gw:5/v1/banks/CASPKZKA/cashflow"
    assert all(session.closed for session in systems.sessions.values())


OTHER = person(date(1988, 4, 2), "male", "spouse")["iin"]


async def test_a_family_is_asked_in_one_call_to_each_registry_and_answered_in_its_order():
    from services.verification.adapters import HttpAccountsRegistry, HttpAssetRegistry, HttpIncomeRegistry, Purchase
    from shared.events.contracts import IncomeRecord

    seen: list = []

    async def answer(request: web.Request) -> web.Response:
        body = json.loads(await request.read())
        seen.append((request.method, request.path, body))
        if request.path == "/registry/v1/accounts/query":
            return web.json_response({"persons": [{"iin": IIN, "banks": [{"bank_code": "HSBKKZKX"}]},
                                                  {"iin": OTHER, "banks": []}]})
        if request.path == "/registry/v1/incomes/query":
            return web.json_response({"quarter": "2026-Q3", "persons": [
                {"iin": IIN, "incomes": []},
                {"iin": OTHER, "incomes": [{"month": "2026-08", "type": "wage", "amount": "41000.50"}]}]})
        return web.json_response({"quarter": "2026-Q3", "persons": [
            {"iin": IIN, "purchases": [{"date": "2026-08-14", "kind": "car"}]}, {"iin": OTHER, "purchases": []}]})

    async with _session(answer) as session:
        assert await HttpAccountsRegistry(session).banks_of([IIN, OTHER]) == [["HSBKKZKX"], []]
        incomes = await HttpIncomeRegistry(session).incomes_of([IIN, OTHER], Q3)
        assert incomes == [[], [IncomeRecord(iin=OTHER, type="wage", month="2026-08", amount="41000.50")]]
        assert str(incomes[1][0].amount) == "41000.50"
        found = await HttpAssetRegistry.vehicles(session).purchases_of([IIN, OTHER], Q3)
        assert found == [[Purchase("vehicle", "car", date(2026, 8, 14))], []]
    assert seen == [("POST", "/registry/v1/accounts/query", {"iins": [IIN, OTHER]}),
                    ("POST", "/registry/v1/incomes/query", {"iins": [IIN, OTHER], "quarter": "2026-Q3"}),
                    ("POST", "/registry/v1/vehicles/purchases/query", {"iins": [IIN, OTHER], "quarter": "2026-Q3"})]


@pytest.mark.parametrize("persons", [
    [{"iin": IIN, "banks": []}],  # one person missing
    [{"iin": OTHER, "banks": []}, {"iin": IIN, "banks": []}],  # not in the order asked
    "nobody",
])
async def test_a_family_answer_that_does_not_name_the_people_asked_is_an_error_naming_no_one(persons):
    from services.verification.adapters import HttpAccountsRegistry, RegistryError, RegistryUnavailable

    async def answer(request: web.Request) -> web.Response:
        return web.json_response({"persons": persons})

    async with _session(answer) as session:
        with pytest.raises(RegistryError) as raised:
            await HttpAccountsRegistry(session).banks_of([IIN, OTHER])
    assert not isinstance(raised.value, RegistryUnavailable)
    assert IIN not in str(raised.value) and OTHER not in str(raised.value)
