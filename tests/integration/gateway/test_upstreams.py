"""Forwarding against real sockets: small raw servers that keep connections alive, end answers
by closing, stay silent, speak garbage or hang up — and what the caller gets through the gateway
each time."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from shared.errors import PROBLEM_JSON
from tests.integration.gateway.conftest import get_token, running_gateway

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


async def _serve(handler: Handler) -> tuple[asyncio.AbstractServer, str]:
    server = await asyncio.start_server(handler, "127.0.0.1", 0)
    return server, f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"


async def _read_request(reader: asyncio.StreamReader) -> bytes:
    try:
        return await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError:
        return b""


async def _ops_headers(gateway, register) -> dict[str, str]:
    ops = await register("ops")
    return {"Authorization": f"Bearer {await get_token(gateway, ops)}"}


async def test_one_connection_carries_request_after_request(make_settings, gateway, register) -> None:
    connections = 0

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal connections
        connections += 1
        while await _read_request(reader):
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}")
            await writer.drain()
        writer.close()

    headers = await _ops_headers(gateway, register)
    server, url = await _serve(handler)
    async with server, running_gateway(make_settings(reporting_url=url)) as gw:
        for _ in range(3):
            assert (await gw.get("/v1/stats/summary", headers=headers)).status_code == 200
    assert connections == 1


async def test_a_head_answer_has_no_body(gateway, register) -> None:
    # The stand-in answers HEAD with 405 and the Content-Length a GET would have.
    response = await gateway.head("/v1/stats/summary", headers=await _ops_headers(gateway, register))
    assert int(response.headers["content-length"]) > 0 and response.content == b""


async def test_an_answer_delimited_by_closing_the_connection(make_settings, gateway, register) -> None:
    served = 0

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal served
        await _read_request(reader)
        served += 1
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nno length, ends at close")
        await writer.drain()
        writer.close()

    headers = await _ops_headers(gateway, register)
    server, url = await _serve(handler)
    async with server, running_gateway(make_settings(reporting_url=url)) as gw:
        for _ in range(2):  # the second request must not reuse the closed connection
            response = await gw.get("/v1/stats/summary", headers=headers)
            assert response.status_code == 200 and response.text == "no length, ends at close"
    assert served == 2


async def test_silence_is_a_504_garbage_is_a_502_hanging_up_a_503(make_settings, gateway, register) -> None:
    """A GET the service hangs up on without answering may safely be repeated: the caller is told
    to repeat it later (503 with Retry-After). An answer that is not HTTP is a 502."""
    release = asyncio.Event()

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _read_request(reader)
        await release.wait()
        writer.close()

    async def garbage(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _read_request(reader)
        writer.write(b"SMTP ready\r\n\r\n")
        await writer.drain()
        writer.close()

    async def hangs_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _read_request(reader)
        writer.close()

    headers = await _ops_headers(gateway, register)
    (silent_server, silent_url), (garbage_server, garbage_url), (hangup_server, hangup_url) = [
        await _serve(handler) for handler in (silent, garbage, hangs_up)]
    settings = make_settings(reporting_url=silent_url, intake_url=garbage_url, verification_url=hangup_url,
                             read_timeout_seconds=0.2)
    async with silent_server, garbage_server, hangup_server, running_gateway(settings) as gw:
        try:
            assert (await gw.get("/v1/stats/summary", headers=headers)).status_code == 504
        finally:
            release.set()
        broken = await gw.get("/v1/applications", headers=headers)
        assert broken.status_code == 502
        assert broken.headers["content-type"] == PROBLEM_JSON
        gone = await gw.get("/v1/verifications/0190a1b2-c3d4-7e5f-8a9b-000000000001", headers=headers)
        assert gone.status_code == 503
        assert gone.headers["content-type"] == PROBLEM_JSON and gone.headers["retry-after"] == "1"


async def test_a_full_pool_is_a_503(make_settings, gateway, register) -> None:
    arrived = 0
    two_in_flight = asyncio.Event()
    release = asyncio.Event()

    async def slow(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal arrived
        await _read_request(reader)
        arrived += 1
        if arrived == 2:
            two_in_flight.set()
        await release.wait()
        writer.write(b"HTTP/1.1 204 No Content\r\n\r\n")
        await writer.drain()
        writer.close()

    headers = await _ops_headers(gateway, register)
    server, url = await _serve(slow)
    settings = make_settings(reporting_url=url, upstream_max_connections=2, pool_timeout_seconds=0.2)
    async with server, running_gateway(settings) as gw:
        in_flight = [asyncio.create_task(gw.get("/v1/stats/summary", headers=headers)) for _ in range(2)]
        await two_in_flight.wait()
        refused = await gw.get("/v1/stats/summary", headers=headers)
        release.set()
        assert refused.status_code == 503
        assert [r.status_code for r in await asyncio.gather(*in_flight)] == [204, 204]
