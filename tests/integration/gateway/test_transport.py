"""The gateway's upstream transport against real sockets: a uvicorn stand-in and small raw
servers that misbehave on purpose."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import httpx
import pytest

from gateway.transport import UpstreamTransport
from shared.identity import INTERNAL_TOKEN_HEADER, Caller, mint_internal_token

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


async def _serve(handler: Handler) -> tuple[asyncio.AbstractServer, str]:
    server = await asyncio.start_server(handler, "127.0.0.1", 0)
    return server, f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"


async def _read_request(reader: asyncio.StreamReader) -> bytes:
    return await reader.readuntil(b"\r\n\r\n")


def _client(**timeouts: float) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=UpstreamTransport(max_connections=4),
                             timeout=httpx.Timeout(**({"timeout": 2.0} | timeouts)))


async def test_keep_alive_head_and_chunked_against_uvicorn(standins, internal_keys) -> None:
    private, _ = internal_keys
    token = mint_internal_token(private, Caller("t", "ops", frozenset({"stats:read"})), "r")
    async with _client() as client:
        transport = client._transport  # type: ignore[attr-defined]
        url = standins["reporting"] + "/v1/stats/summary"
        for _ in range(3):
            response = await client.get(url, headers={INTERNAL_TOKEN_HEADER: token})
            assert response.status_code == 200 and response.json()["service"] == "reporting"
        assert sum(len(c) for c in transport._idle.values()) == 1  # one connection, reused
        # A HEAD answer has a Content-Length but no body (the stand-in answers 405 to HEAD).
        head = await client.head(url, headers={INTERNAL_TOKEN_HEADER: token})
        assert int(head.headers["content-length"]) > 0 and head.content == b""
        streamed = await client.get(url + "?chunks=20", headers={INTERNAL_TOKEN_HEADER: token})
        assert streamed.text.count("chunk") == 20
        posted = await client.post(url, headers={INTERNAL_TOKEN_HEADER: token}, content=b"x" * 100_000)
        assert posted.json()["body_length"] == 100_000


async def test_body_until_close_and_server_closing_idle_connections() -> None:
    served = 0

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal served
        await _read_request(reader)
        served += 1
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nno length, ends at close")
        await writer.drain()
        writer.close()

    server, url = await _serve(handler)
    async with server, _client() as client:
        for _ in range(2):  # the second request must not reuse the closed connection
            response = await client.get(url + "/x")
            assert response.text == "no length, ends at close"
    assert served == 2


async def test_silent_server_is_a_read_timeout_and_garbage_a_protocol_error() -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _read_request(reader)
        await asyncio.sleep(2)
        writer.close()

    async def garbage(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _read_request(reader)
        writer.write(b"SMTP ready\r\n\r\n")
        await writer.drain()
        writer.close()

    async def hangs_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _read_request(reader)
        writer.close()

    silent_server, silent_url = await _serve(silent)
    garbage_server, garbage_url = await _serve(garbage)
    hangup_server, hangup_url = await _serve(hangs_up)
    async with silent_server, garbage_server, hangup_server, _client(read=0.2) as client:
        with pytest.raises(httpx.ReadTimeout):
            await client.get(silent_url)
        with pytest.raises(httpx.RemoteProtocolError):
            await client.get(garbage_url)
        with pytest.raises(httpx.RemoteProtocolError):
            await client.get(hangup_url)


async def test_connection_refused_is_a_connect_error() -> None:
    from qamqor_cli.infra import free_port

    async with _client() as client:
        with pytest.raises(httpx.ConnectError):
            await client.get(f"http://127.0.0.1:{free_port()}/")


async def test_pool_limit_gives_pool_timeout() -> None:
    release = asyncio.Event()

    async def slow(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _read_request(reader)
        await release.wait()
        writer.write(b"HTTP/1.1 204 No Content\r\n\r\n")
        await writer.drain()
        writer.close()

    server, url = await _serve(slow)
    async with server, _client(pool=0.2) as client:
        in_flight = [asyncio.create_task(client.get(url)) for _ in range(4)]
        await asyncio.sleep(0.1)
        with pytest.raises(httpx.PoolTimeout):
            await client.get(url)
        release.set()
        assert [r.status_code for r in await asyncio.gather(*in_flight)] == [204] * 4
