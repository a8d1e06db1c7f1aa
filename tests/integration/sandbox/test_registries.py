"""The sandbox's accounts registry and asset registries over HTTP: synthetic answers from the
IIN, overridden per person through the control API, and outages like the income registry's
(issue 10, points 3, 4, 6)."""

from __future__ import annotations

from datetime import date

import httpx
import pytest

from sandbox.population import PLAYED_BANKS, synthetic_accounts, synthetic_purchases
from shared.calendar import Quarter
from shared.iin import make_iin

ADULTS = [make_iin(date(1960 + i % 40, 1 + i % 12, 1 + i % 28), "male" if i % 2 else "female", 100 + i)
          for i in range(400)]
CHILD = make_iin(date(2020, 5, 5), "female", 42)
QUARTER = Quarter(2026, 3)


def test_the_synthetic_population_has_few_accounts_and_fewer_purchases():
    accounts = [synthetic_accounts(iin) for iin in ADULTS]
    assert synthetic_accounts(ADULTS[0]) == accounts[0]  # a pure function of the IIN
    with_none = sum(not banks for banks in accounts)
    with_two = sum(len(banks) == 2 for banks in accounts)
    assert with_none > len(ADULTS) / 2  # most people none
    assert 0 < with_two < len(ADULTS) / 4 and all(len(set(b)) == len(b) for b in accounts)
    assert {b for banks in accounts for b in banks} == {code for code, _ in PLAYED_BANKS}
    assert synthetic_accounts(CHILD) == [] and synthetic_purchases(CHILD, "vehicle", QUARTER) == []
    cars = [p for iin in ADULTS for p in synthetic_purchases(iin, "vehicle", QUARTER)]
    homes = [p for iin in ADULTS for p in synthetic_purchases(iin, "real-estate", QUARTER)]
    assert 0 < len(cars) < len(ADULTS) / 10 and len(homes) < len(ADULTS) / 20
    assert all(QUARTER.first_day <= date.fromisoformat(p["date"]) <= QUARTER.last_day for p in cars + homes)
    assert {p["kind"] for p in cars} == {"car"} and {p["kind"] for p in homes} <= {"apartment", "house"}


def test_accounts_are_synthetic_until_set_and_back_after_delete(sandbox_url):
    with httpx.Client(base_url=sandbox_url) as sandbox:
        iin = next(i for i in ADULTS if synthetic_accounts(i))
        answer = sandbox.get("/registry/v1/accounts", params={"iin": iin})
        assert answer.status_code == 200
        assert answer.json() == {"iin": iin, "banks": [{"bank_code": b} for b in synthetic_accounts(iin)]}

        put = sandbox.put(f"/sandbox/persons/{iin}/accounts", json={"banks": ["HSBKKZKX", "KCJBKZKX", "HSBKKZKX"]})
        assert put.status_code == 200 and put.json()["synthetic"] is False
        banks = [{"bank_code": "HSBKKZKX"}, {"bank_code": "KCJBKZKX"}]
        assert sandbox.get("/registry/v1/accounts", params={"iin": iin}).json()["banks"] == banks
        assert sandbox.get(f"/sandbox/persons/{iin}/accounts").json() == {"iin": iin, "synthetic": False, "banks": banks}
        assert sandbox.put(f"/sandbox/persons/{iin}/accounts", json={"banks": []}).status_code == 200
        assert sandbox.get("/registry/v1/accounts", params={"iin": iin}).json()["banks"] == []

        assert sandbox.delete(f"/sandbox/persons/{iin}/accounts").status_code == 204
        assert sandbox.get(f"/sandbox/persons/{iin}/accounts").json()["synthetic"] is True
        assert sandbox.get("/registry/v1/accounts", params={"iin": iin}).json()["banks"] != []


def test_purchases_are_answered_per_registry_and_quarter(sandbox_url):
    iin = ADULTS[1]
    with httpx.Client(base_url=sandbox_url) as sandbox:
        put = sandbox.put(f"/sandbox/persons/{iin}/purchases", json={"purchases": [
            {"registry": "vehicle", "date": "2026-09-30", "kind": "car"},
            {"registry": "real-estate", "date": "2026-07-01", "kind": "apartment"},
            {"registry": "real-estate", "date": "2026-10-01", "kind": "house"},  # the next quarter
        ]})
        assert put.status_code == 200, put.text
        try:
            q3 = {"iin": iin, "quarter": "2026-Q3"}
            assert sandbox.get("/registry/v1/vehicles/purchases", params=q3).json() == {
                "iin": iin, "quarter": "2026-Q3", "purchases": [{"date": "2026-09-30", "kind": "car"}]}
            assert sandbox.get("/registry/v1/real-estate/purchases", params=q3).json()["purchases"] == [
                {"date": "2026-07-01", "kind": "apartment"}]
            q4 = {"iin": iin, "quarter": "2026-Q4"}
            assert sandbox.get("/registry/v1/real-estate/purchases", params=q4).json()["purchases"] == [
                {"date": "2026-10-01", "kind": "house"}]
            assert sandbox.get("/registry/v1/vehicles/purchases", params=q4).json()["purchases"] == []
            view = sandbox.get(f"/sandbox/persons/{iin}/purchases", params={"quarter": "2026-Q3"}).json()
            assert view["synthetic"] is False and len(view["purchases"]) == 2
        finally:
            assert sandbox.delete(f"/sandbox/persons/{iin}/purchases").status_code == 204
        buyer = next(i for i in ADULTS if synthetic_purchases(i, "vehicle", QUARTER))
        answer = sandbox.get("/registry/v1/vehicles/purchases", params={"iin": buyer, "quarter": "2026-Q3"}).json()
        assert answer["purchases"] == synthetic_purchases(buyer, "vehicle", QUARTER) != []


@pytest.mark.parametrize(("path", "body"), [
    ("accounts", {"banks": ["not a bic"]}),
    ("accounts", {"banks": "HSBKKZKX"}),
    ("accounts", {"bank": ["HSBKKZKX"]}),
    ("purchases", {"purchases": [{"registry": "vehicle", "date": "2026-09-30", "kind": "apartment"}]}),
    ("purchases", {"purchases": [{"registry": "boats", "date": "2026-09-30", "kind": "car"}]}),
    ("purchases", {"purchases": [{"registry": "vehicle", "date": "2026-02-30", "kind": "car"}]}),
])
def test_a_wrong_control_call_is_a_problem_not_a_change(sandbox_url, path, body):
    iin = ADULTS[2]
    with httpx.Client(base_url=sandbox_url) as sandbox:
        answer = sandbox.put(f"/sandbox/persons/{iin}/{path}", json=body)
        assert answer.status_code == 422 and answer.headers["content-type"] == "application/problem+json"
        assert sandbox.get(f"/sandbox/persons/{iin}/{path}").json()["synthetic"] is True


@pytest.mark.parametrize(("system", "path", "params"), [
    ("accounts-registry", "/registry/v1/accounts", {"iin": ADULTS[3]}),
    ("real-estate-registry", "/registry/v1/real-estate/purchases", {"iin": ADULTS[3], "quarter": "2026-Q3"}),
    ("vehicle-registry", "/registry/v1/vehicles/purchases", {"iin": ADULTS[3], "quarter": "2026-Q3"}),
])
def test_each_registry_is_down_until_put_back(sandbox_url, system, path, params):
    with httpx.Client(base_url=sandbox_url) as sandbox:
        try:
            assert sandbox.put(f"/sandbox/outages/{system}", json={"down": True}).status_code == 200
            answer = sandbox.get(path, params=params)
            assert answer.status_code == 503 and answer.headers["retry-after"] == "60"
            assert answer.headers["content-type"] == "application/problem+json"
            assert sandbox.get("/registry/v1/incomes", params={"iin": ADULTS[3], "from": "2026-07",
                                                                "to": "2026-09"}).status_code == 200
        finally:
            sandbox.put(f"/sandbox/outages/{system}", json={"down": False}).raise_for_status()
        assert sandbox.get(path, params=params).status_code == 200


@pytest.mark.parametrize(("path", "params"), [
    ("/registry/v1/accounts", {"iin": "123"}),
    ("/registry/v1/accounts", {}),
    ("/registry/v1/vehicles/purchases", {"iin": ADULTS[0], "quarter": "2026-Q5"}),
    ("/registry/v1/real-estate/purchases", {"iin": ADULTS[0]}),
])
def test_a_wrong_query_is_a_4xx_problem(sandbox_url, path, params):
    with httpx.Client(base_url=sandbox_url) as sandbox:
        answer = sandbox.get(path, params=params)
        assert answer.status_code == 422 and answer.headers["content-type"] == "application/problem+json"


FAMILY = [ADULTS[5], ADULTS[6], CHILD]


@pytest.mark.parametrize(("path", "body", "field"), [
    ("/registry/v1/accounts/query", {"iins": FAMILY}, "banks"),
    ("/registry/v1/real-estate/purchases/query", {"iins": FAMILY, "quarter": "2026-Q3"}, "purchases"),
    ("/registry/v1/vehicles/purchases/query", {"iins": FAMILY, "quarter": "2026-Q3"}, "purchases"),
    ("/registry/v1/incomes/query", {"iins": FAMILY, "quarter": "2026-Q3"}, "incomes"),
])
def test_a_family_query_answers_what_each_person_is_answered_in_the_order_asked(sandbox_url, path, body, field):
    one = {"banks": ("/registry/v1/accounts", {}),
           "incomes": ("/registry/v1/incomes", {"from": "2026-07", "to": "2026-09"})}.get(
        field, (path.removesuffix("/query"), {"quarter": "2026-Q3"}))
    with httpx.Client(base_url=sandbox_url) as sandbox:
        sandbox.put(f"/sandbox/persons/{ADULTS[6]}/accounts", json={"banks": ["KCJBKZKX"]}).raise_for_status()
        try:
            answer = sandbox.post(path, json=body)
            assert answer.status_code == 200
            persons = answer.json()["persons"]
            assert [p["iin"] for p in persons] == FAMILY
            for p in persons:
                alone = sandbox.get(one[0], params={"iin": p["iin"], **one[1]})
                assert alone.status_code == 200 and p[field] == alone.json()[field]
        finally:
            sandbox.delete(f"/sandbox/persons/{ADULTS[6]}/accounts")
    if field == "banks":
        assert persons[1]["banks"] == [{"bank_code": "KCJBKZKX"}]


@pytest.mark.parametrize(("system", "path", "body"), [
    ("accounts-registry", "/registry/v1/accounts/query", {"iins": FAMILY}),
    ("vehicle-registry", "/registry/v1/vehicles/purchases/query", {"iins": FAMILY, "quarter": "2026-Q3"}),
    ("income-registry", "/registry/v1/incomes/query", {"iins": FAMILY, "quarter": "2026-Q3"}),
])
def test_a_family_query_is_down_with_its_registry(sandbox_url, system, path, body):
    with httpx.Client(base_url=sandbox_url) as sandbox:
        try:
            assert sandbox.put(f"/sandbox/outages/{system}", json={"down": True}).status_code == 200
            answer = sandbox.post(path, json=body)
            assert answer.status_code == 503 and answer.headers["content-type"] == "application/problem+json"
        finally:
            sandbox.put(f"/sandbox/outages/{system}", json={"down": False}).raise_for_status()
        assert sandbox.post(path, json=body).status_code == 200


@pytest.mark.parametrize(("body", "field"), [
    ({"iins": [ADULTS[0], "12345"], "quarter": "2026-Q3"}, "iins[1]"),
    ({"iins": [], "quarter": "2026-Q3"}, "iins"),
    ({"iins": ADULTS[:31], "quarter": "2026-Q3"}, "iins"),
    ({"iins": [ADULTS[0]], "quarter": "2026-Q5"}, "quarter"),
    ({"iins": [ADULTS[0]]}, "quarter"),
])
def test_a_wrong_family_query_is_a_422_naming_the_field(sandbox_url, body, field):
    with httpx.Client(base_url=sandbox_url) as sandbox:
        for path in ("/registry/v1/incomes/query", "/registry/v1/real-estate/purchases/query"):
            answer = sandbox.post(path, json=body)
            assert answer.status_code == 422 and answer.headers["content-type"] == "application/problem+json"
            assert field in [e["field"] for e in answer.json()["errors"]], answer.json()
