"""Issue 10's adapters: the accounts registry, the real-estate and vehicle registries and the
banks' Open API. What they ask, what they return, an outage told apart from a refusal, and no
failure naming the member."""

from __future__ import annotations

import json
import traceback
from datetime import date

import httpx
import pytest

from shared.calendar import Quarter
from tests.support import person

IIN = person(date(1990, 1, 1), "female", "applicant")["iin"]
Q3 = Quarter(2026, 3)


def _client(answer) -> httpx.AsyncClient:  # noqa: ANN001
    return httpx.AsyncClient(transport=httpx.MockTransport(answer), base_url="http://external")


def _adapters(client: httpx.AsyncClient) -> dict:
    from services.verification.adapters import HttpAccountsRegistry, HttpAssetRegistry, HttpBankOpenApi

    return {
        "accounts": lambda: HttpAccountsRegistry(client).banks(IIN),
        "real-estate": lambda: HttpAssetRegistry.real_estate(client).purchases(IIN, Q3),
        "vehicle": lambda: HttpAssetRegistry.vehicles(client).purchases(IIN, Q3),
        "bank": lambda: HttpBankOpenApi(client).request_cashflow(
            "HSBKKZKX", request_id="req-1", iin=IIN, quarter=Q3, callback_url="http://gw/v1/banks/HSBKKZKX/cashflow"),
    }


SYSTEMS = {"accounts": "accounts_registry", "real-estate": "real_estate_registry", "vehicle": "vehicle_registry",
           "bank": "bank:HSBKKZKX"}


async def test_the_accounts_registry_is_asked_for_the_person_and_gives_distinct_bank_codes():
    from services.verification.adapters import HttpAccountsRegistry

    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"iin": IIN, "banks": [{"bank_code": "HSBKKZKX"}, {"bank_code": "CASPKZKA"},
                                                                {"bank_code": "HSBKKZKX"}]})

    async with _client(answer) as client:
        assert await HttpAccountsRegistry(client).banks(IIN) == ["HSBKKZKX", "CASPKZKA"]
    assert seen[0].method == "GET" and seen[0].url.path == "/registry/v1/accounts"
    assert dict(seen[0].url.params) == {"iin": IIN}


@pytest.mark.parametrize(("kind", "path"), [("real-estate", "/registry/v1/real-estate/purchases"),
                                            ("vehicle", "/registry/v1/vehicles/purchases")])
async def test_an_asset_registry_gives_the_purchases_of_the_quarter(kind, path):
    from services.verification.adapters import HttpAssetRegistry, Purchase

    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"iin": IIN, "quarter": "2026-Q3", "purchases": [
            {"date": "2026-07-01", "kind": "apartment"}, {"date": "2026-09-30", "kind": "car"}]})

    async with _client(answer) as client:
        registry = HttpAssetRegistry.real_estate(client) if kind == "real-estate" else HttpAssetRegistry.vehicles(client)
        found = await registry.purchases(IIN, Q3)
    assert found == [Purchase(kind, "apartment", date(2026, 7, 1)), Purchase(kind, "car", date(2026, 9, 30))]
    assert seen[0].url.path == path and dict(seen[0].url.params) == {"iin": IIN, "quarter": "2026-Q3"}


async def test_the_bank_is_asked_with_the_request_id_and_the_callback():
    from services.verification.adapters import HttpBankOpenApi

    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(202, json={"request_id": "req-1", "status": "acknowledged"})

    async with _client(answer) as client:
        assert await HttpBankOpenApi(client).request_cashflow(
            "KCJBKZKX", request_id="req-1", iin=IIN, quarter=Q3,
            callback_url="http://gw/v1/banks/KCJBKZKX/cashflow") is None
    assert seen[0].method == "POST" and seen[0].url.path == "/banks/KCJBKZKX/openapi/v1/cashflow-requests"
    assert json.loads(seen[0].content) == {"request_id": "req-1", "iin": IIN, "quarter": "2026-Q3",
                                           "callback_url": "http://gw/v1/banks/KCJBKZKX/cashflow"}


def _raise(error: Exception):  # noqa: ANN202
    def answer(request: httpx.Request) -> httpx.Response:
        raise error
    return answer


@pytest.mark.parametrize("adapter", list(SYSTEMS))
@pytest.mark.parametrize(("answer", "waits"), [
    (lambda request: httpx.Response(503), True),
    (lambda request: httpx.Response(500), True),
    (lambda request: httpx.Response(429), True),
    (lambda request: httpx.Response(408), True),
    (_raise(httpx.ConnectError("refused")), True),
    (_raise(httpx.ReadTimeout("slow")), True),
    (lambda request: httpx.Response(400), False),
    (lambda request: httpx.Response(404), False),
    (lambda request: httpx.Response(422), False),
    (lambda request: httpx.Response(200, json={"rows": []}), False),
    (lambda request: httpx.Response(200, text="<html>"), False),
])
async def test_an_outage_is_told_apart_from_a_refusal_and_names_no_member(adapter, answer, waits):
    from services.verification.adapters import RegistryError, RegistryUnavailable

    async with _client(answer) as client:
        with pytest.raises(RegistryError) as raised:
            await _adapters(client)[adapter]()
    assert isinstance(raised.value, RegistryUnavailable) is waits
    if waits:
        assert raised.value.system == SYSTEMS[adapter]
    carried = repr(raised.value) + "".join(traceback.format_exception(raised.value))
    assert IIN not in carried and "http://external" not in carried


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

    async with _client(lambda request: httpx.Response(200 if adapter != "bank" else 202, json=body)) as client:
        with pytest.raises(RegistryError, match="cannot be read") as raised:
            await _adapters(client)[adapter]()
    assert not isinstance(raised.value, RegistryUnavailable)


async def test_the_pooled_systems_use_their_settings_and_close():
    from services.verification.adapters import PooledExternalSystems
    from services.verification.settings import VerificationSettings

    settings = VerificationSettings(accounts_registry_url="http://accounts:1", real_estate_registry_url="http://homes:2",
                                    vehicle_registry_url="http://cars:3", banks_url="http://banks:4",
                                    bank_callback_url="http://gw:5/v1/banks/{bank_code}/cashflow")
    async with PooledExternalSystems(settings) as systems:
        assert str(systems.clients["accounts"].base_url) == "http://accounts:1"
        assert str(systems.clients["banks"].base_url) == "http://banks:4"
        assert systems.callback_url("CASPKZKA") == "http://gw:5/v1/banks/CASPKZKA/cashflow"
    assert all(client.is_closed for client in systems.clients.values())
