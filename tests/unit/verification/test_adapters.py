"""The income registry adapter against a registry over real HTTP (a small aiohttp server on a free
port): its failures say how, never whose incomes, and tell an outage from a refusal."""

from __future__ import annotations

import asyncio
import socket
from contextlib import asynccontextmanager
from datetime import date
from decimal import Decimal

import pytest
from aiohttp import web

from shared.calendar import Quarter
from tests.support import person


@asynccontextmanager
async def registry(answer):  # noqa: ANN001 - an aiohttp handler
    """A registry at some free port answering every request with `answer`; yields its base URL."""
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", answer)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


def status(code: int):  # noqa: ANN201
    async def answer(request: web.Request) -> web.Response:
        return web.Response(status=code)
    return answer


def body(text: str, content_type: str = "application/json"):  # noqa: ANN201
    async def answer(request: web.Request) -> web.Response:
        return web.Response(text=text, content_type=content_type)
    return answer


async def slow(request: web.Request) -> web.Response:
    await asyncio.sleep(2)
    return web.json_response({"incomes": []})


async def dropped(request: web.Request) -> web.Response:
    request.transport.close()  # type: ignore[union-attr] - the connection goes away without an answer
    await asyncio.sleep(1)
    return web.Response()


async def incomes(base_url: str | None, iin: str, *, timeout: float = 5.0):  # noqa: ANN201
    from services.verification.adapters import HttpIncomeRegistry, registry_session

    if base_url is None:  # nothing listens there
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            base_url = f"http://127.0.0.1:{s.getsockname()[1]}"
    async with registry_session(base_url, timeout) as session:
        return await HttpIncomeRegistry(session).incomes(iin, Quarter(2026, 3))


IIN = person(date(1990, 1, 1), "female", "applicant")["iin"]


async def test_the_registry_answer_is_read_as_the_members_incomes():
    seen = []

    async def answer(request: web.Request) -> web.Response:
        seen.append((request.path, dict(request.query)))
        return web.json_response({"iin": IIN, "incomes": [{"month": "2026-07", "type": "wage", "amount": "70000.50"},
                                                          {"month": "2026-08", "type": "pension", "amount": 45000}]})

    async with registry(answer) as url:
        got = await incomes(url, IIN)
    assert seen == [("/registry/v1/incomes", {"iin": IIN, "from": "2026-07", "to": "2026-09"})]
    assert [(i.iin, i.type, i.month, i.amount) for i in got] == [
        (IIN, "wage", "2026-07", Decimal("70000.50")), (IIN, "pension", "2026-08", Decimal("45000"))]


@pytest.mark.parametrize(("answer", "says"), [
    (status(503), "answered 503"),
    (body('{"incomes": [{"type": "wage", "month": "2026-07", "amount": "x"}]}'), "cannot be read"),
    (body('{"incomes": [{"type": "wage", "month": 7, "amount": "1.00"}]}'), "cannot be read"),
    (body('{"rows": []}'), "cannot be read"),
    (body("<html>", "text/html"), "cannot be read"),
])
async def test_a_registry_failure_says_how_without_naming_the_member(answer, says):
    import traceback

    from services.verification.adapters import RegistryError

    async with registry(answer) as url:
        with pytest.raises(RegistryError, match=says) as raised:
            await incomes(url, IIN)
    # what a log line or a dead-letter header would carry: the message, its repr, the traceback
    carried = repr(raised.value) + "".join(traceback.format_exception(raised.value))
    assert IIN not in carried and "registry/v1/incomes" not in carried


@pytest.mark.parametrize(("answer", "waits"), [
    # down, overloaded or slow: the application waits and is tried again
    (status(503), True),
    (status(500), True),
    (status(502), True),
    (status(429), True),
    (status(408), True),
    (None, True),  # nothing listens: connection refused
    (slow, True),  # no answer within the timeout
    (dropped, True),  # the connection closed without an answer
    # our request or its answer is wrong: waiting would not help (a dead letter, for a fix)
    (status(400), False),
    (status(404), False),
    (status(422), False),
    (body('{"rows": []}'), False),
])
async def test_an_outage_is_told_apart_from_a_refusal(answer, waits):
    import traceback

    from services.verification.adapters import RegistryError, RegistryUnavailable

    if answer is None:
        with pytest.raises(RegistryError) as raised:
            await incomes(None, IIN)
    else:
        async with registry(answer) as url:
            with pytest.raises(RegistryError) as raised:
                await incomes(url, IIN, timeout=0.5)
    assert isinstance(raised.value, RegistryUnavailable) is waits
    if waits:
        assert raised.value.system == "income_registry"
    carried = repr(raised.value) + "".join(traceback.format_exception(raised.value))
    assert IIN not in carried
