"""The income registry adapter: its failures say how, never whose incomes."""

from __future__ import annotations

from datetime import date

import httpx
import pytest

from shared.calendar import Quarter
from tests.support import person


@pytest.mark.parametrize(("answer", "says"), [
    (lambda request: httpx.Response(503), "answered 503"),
    (lambda request: httpx.Response(200, json={"incomes": [{"type": "wage", "month": "2026-07", "amount": "x"}]}),
     "cannot be read"),
    (lambda request: httpx.Response(200, json={"incomes": [{"type": "wage", "month": 7, "amount": "1.00"}]}),
     "cannot be read"),
    (lambda request: httpx.Response(200, json={"rows": []}), "cannot be read"),
    (lambda request: httpx.Response(200, text="<html>"), "cannot be read"),
])
async def test_a_registry_failure_says_how_without_naming_the_member(answer, says):
    import traceback

    from services.verification.adapters import HttpIncomeRegistry, RegistryError

    iin = person(date(1990, 1, 1), "female", "applicant")["iin"]
    async with httpx.AsyncClient(transport=httpx.MockTransport(answer), base_url="http://registry") as client:
        with pytest.raises(RegistryError, match=says) as raised:
            await HttpIncomeRegistry(client).incomes(iin, Quarter(2026, 3))
    # what a log line or a dead-letter header would carry: the message, its repr, the traceback
    carried = repr(raised.value) + "".join(traceback.format_exception(raised.value))
    assert iin not in carried and "registry/v1/incomes" not in carried


@pytest.mark.parametrize(("answer", "waits"), [
    # down, overloaded or slow: the application waits and is tried again
    (lambda request: httpx.Response(503), True),
    (lambda request: httpx.Response(500), True),
    (lambda request: httpx.Response(502), True),
    (lambda request: httpx.Response(429), True),
    (lambda request: httpx.Response(408), True),
    (lambda request: (_ for _ in ()).throw(httpx.ConnectError("refused")), True),
    (lambda request: (_ for _ in ()).throw(httpx.ReadTimeout("slow")), True),
    # our request or its answer is wrong: waiting would not help (a dead letter, for a fix)
    (lambda request: httpx.Response(400), False),
    (lambda request: httpx.Response(404), False),
    (lambda request: httpx.Response(422), False),
    (lambda request: httpx.Response(200, json={"rows": []}), False),
])
async def test_an_outage_is_told_apart_from_a_refusal(answer, waits):
    from services.verification.adapters import HttpIncomeRegistry, RegistryError, RegistryUnavailable

    iin = person(date(1990, 1, 1), "female", "applicant")["iin"]
    async with httpx.AsyncClient(transport=httpx.MockTransport(answer), base_url="http://registry") as client:
        with pytest.raises(RegistryError) as raised:
            await HttpIncomeRegistry(client).incomes(iin, Quarter(2026, 3))
    assert isinstance(raised.value, RegistryUnavailable) is waits
    if waits:
        assert raised.value.system == "income_registry"
    assert iin not in str(raised.value)
