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
