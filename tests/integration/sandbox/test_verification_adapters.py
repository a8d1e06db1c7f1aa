"""Verification's issue-10 adapters against the sandbox over real HTTP: the contracts agree."""

from __future__ import annotations

from datetime import date

import httpx
import pytest

from services.verification.adapters import PooledExternalSystems, Purchase, RegistryUnavailable
from services.verification.settings import VerificationSettings
from shared.calendar import Quarter
from shared.iin import make_iin

IIN = make_iin(date(1982, 6, 15), "male", 911)
Q3 = Quarter(2026, 3)


def _settings(url: str) -> VerificationSettings:
    return VerificationSettings(accounts_registry_url=url, real_estate_registry_url=url, vehicle_registry_url=url,
                                banks_url=url, registry_timeout_seconds=5.0)


async def test_the_adapters_read_what_the_sandbox_was_told(sandbox_url):
    async with httpx.AsyncClient(base_url=sandbox_url) as sandbox:
        (await sandbox.put(f"/sandbox/persons/{IIN}/accounts", json={"banks": ["CASPKZKA", "HSBKKZKX"]})).raise_for_status()
        (await sandbox.put(f"/sandbox/persons/{IIN}/purchases", json={"purchases": [
            {"registry": "vehicle", "date": "2026-08-20", "kind": "car"},
            {"registry": "real-estate", "date": "2026-09-01", "kind": "house"}]})).raise_for_status()
        (await sandbox.put("/sandbox/banks/CASPKZKA/behaviour", json={"failure": "silent"})).raise_for_status()
        try:
            async with PooledExternalSystems(_settings(sandbox_url)) as systems:
                assert await systems.accounts.banks(IIN) == ["CASPKZKA", "HSBKKZKX"]
                assert await systems.vehicles.purchases(IIN, Q3) == [Purchase("vehicle", "car", date(2026, 8, 20))]
                assert await systems.real_estate.purchases(IIN, Q3) == [
                    Purchase("real-estate", "house", date(2026, 9, 1))]
                await systems.banks.request_cashflow("CASPKZKA", request_id="adapter-req-1", iin=IIN, quarter=Q3,
                                                     callback_url=systems.callback_url("CASPKZKA"))
            log = (await sandbox.get("/sandbox/banks/requests", params={"iin": IIN})).json()["requests"]
            assert [(e["bank_code"], e["request_id"], e["quarter"]) for e in log] == [
                ("CASPKZKA", "adapter-req-1", "2026-Q3")]
        finally:
            await sandbox.put("/sandbox/banks/CASPKZKA/behaviour", json={})
            await sandbox.delete(f"/sandbox/persons/{IIN}/accounts")
            await sandbox.delete(f"/sandbox/persons/{IIN}/purchases")


@pytest.mark.parametrize(("outage", "call", "system"), [
    ("accounts-registry", lambda s: s.accounts.banks(IIN), "accounts_registry"),
    ("vehicle-registry", lambda s: s.vehicles.purchases(IIN, Q3), "vehicle_registry"),
    ("real-estate-registry", lambda s: s.real_estate.purchases(IIN, Q3), "real_estate_registry"),
])
async def test_a_sandbox_outage_is_registry_unavailable(sandbox_url, outage, call, system):
    async with httpx.AsyncClient(base_url=sandbox_url) as sandbox:
        (await sandbox.put(f"/sandbox/outages/{outage}", json={"down": True})).raise_for_status()
        try:
            async with PooledExternalSystems(_settings(sandbox_url)) as systems:
                with pytest.raises(RegistryUnavailable) as raised:
                    await call(systems)
            assert raised.value.system == system
        finally:
            (await sandbox.put(f"/sandbox/outages/{outage}", json={"down": False})).raise_for_status()


async def test_a_bank_that_is_down_is_unavailable(sandbox_url):
    async with httpx.AsyncClient(base_url=sandbox_url) as sandbox:
        (await sandbox.put("/sandbox/banks/KCJBKZKX/behaviour", json={"failure": "down"})).raise_for_status()
        try:
            async with PooledExternalSystems(_settings(sandbox_url)) as systems:
                with pytest.raises(RegistryUnavailable) as raised:
                    await systems.banks.request_cashflow("KCJBKZKX", request_id="adapter-req-2", iin=IIN, quarter=Q3,
                                                         callback_url=systems.callback_url("KCJBKZKX"))
            assert raised.value.system == "bank:KCJBKZKX"
        finally:
            (await sandbox.put("/sandbox/banks/KCJBKZKX/behaviour", json={})).raise_for_status()
