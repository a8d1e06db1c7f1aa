"""The sandbox plays an outage of the income registry on demand: down (503) until it is put back."""

from __future__ import annotations

from datetime import date

import httpx

from shared.iin import make_iin

IIN = make_iin(date(1975, 5, 5), "female", 777)
QUERY = {"iin": IIN, "from": "2026-07", "to": "2026-09"}


def test_the_registry_is_down_until_it_is_put_back(sandbox_url):
    with httpx.Client(base_url=sandbox_url) as sandbox:
        try:
            down = sandbox.put("/sandbox/outages/income-registry", json={"down": True})
            assert down.json() == {"system": "income-registry", "down": True, "delay_seconds": 0.0}
            outages = sandbox.get("/sandbox/outages").json()
            # only the income registry is down (other tests may have put another system back)
            assert outages.pop("income-registry") == {"down": True, "delay_seconds": 0.0}
            assert not any(outage["down"] for outage in outages.values())
            answer = sandbox.get("/registry/v1/incomes", params=QUERY)
            assert answer.status_code == 503 and answer.headers["retry-after"] == "60"
            assert answer.headers["content-type"] == "application/problem+json"
        finally:
            sandbox.put("/sandbox/outages/income-registry", json={"down": False}).raise_for_status()
        assert sandbox.get("/registry/v1/incomes", params=QUERY).status_code == 200


def test_an_outage_of_a_system_the_sandbox_does_not_play_or_a_wrong_one_is_refused(sandbox_url):
    with httpx.Client(base_url=sandbox_url) as sandbox:
        assert sandbox.put("/sandbox/outages/bank", json={"down": True}).status_code == 422
        assert sandbox.put("/sandbox/outages/income-registry", json={"delay_seconds": 500}).status_code == 422
        assert sandbox.put("/sandbox/outages/income-registry", json={"broken": True}).status_code == 422
        assert sandbox.get("/registry/v1/incomes", params=QUERY).status_code == 200
