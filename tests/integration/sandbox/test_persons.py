"""The sandbox's person view shows exactly what its income registry answers — the incomes set
through the control API, or the synthetic population's (issue 8, point 7)."""

from __future__ import annotations

from datetime import date

import httpx

from sandbox.main import last_twelve_months
from shared.calendar import business_date, month_label
from shared.iin import make_iin

# Adults of working age: about two in three have a synthetic income.
PEOPLE = [make_iin(date(1970 + i, 1 + i % 12, 3), "male" if i % 2 else "female", 500 + i) for i in range(12)]


def test_the_person_view_is_the_registrys_answer(sandbox_url):
    with httpx.Client(base_url=sandbox_url) as sandbox:
        with_synthetic_income = 0
        for iin in PEOPLE:
            view = sandbox.get(f"/sandbox/persons/{iin}").json()
            assert view["synthetic"] is True
            start, end = last_twelve_months(business_date())
            assert (view["from"], view["to"]) == (month_label(start), month_label(end))
            registry = sandbox.get("/registry/v1/incomes", params={"iin": iin, "from": view["from"],
                                                                   "to": view["to"]}).json()
            assert view["incomes"] == registry["incomes"]
            with_synthetic_income += bool(view["incomes"])
        assert with_synthetic_income > 0  # the synthetic incomes are shown, not an empty list

        iin = PEOPLE[0]
        months = ["2026-04", "2026-05", "2026-06"]
        assert sandbox.put(f"/sandbox/persons/{iin}", json={"incomes": [
            {"month": m, "type": "wage", "amount": "41000.00"} for m in months]}).status_code == 200
        view = sandbox.get(f"/sandbox/persons/{iin}", params={"from": "2026-03", "to": "2026-06"}).json()
        registry = sandbox.get("/registry/v1/incomes", params={"iin": iin, "from": "2026-03", "to": "2026-06"}).json()
        assert view["synthetic"] is False and view["incomes"] == registry["incomes"]
        assert [e["month"] for e in view["incomes"]] == months
        assert sandbox.delete(f"/sandbox/persons/{iin}").status_code == 204
        assert sandbox.get(f"/sandbox/persons/{iin}").json()["synthetic"] is True


def test_the_sandbox_refuses_bad_months_and_iins(sandbox_url):
    with httpx.Client(base_url=sandbox_url) as sandbox:
        assert sandbox.get(f"/sandbox/persons/{PEOPLE[1]}", params={"from": "2026-13"}).status_code == 422
        assert sandbox.get("/sandbox/persons/12345").status_code == 422
        assert sandbox.get("/registry/v1/incomes", params={"iin": PEOPLE[1], "from": "2026-00",
                                                           "to": "2026-02"}).status_code == 422
