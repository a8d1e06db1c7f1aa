"""A failing request never breaks the next one (issue 7, point 11).

The gateway keeps keep-alive connections to each service. Whatever one request does to its
connection — a 500, a service that hangs up after answering or before answering, a truncated
answer, a restart — the next request, another caller's, gets its proper answer. Real uvicorn
servers (the real intake app for the 500, the stand-in otherwise) and small raw servers that
misbehave on purpose, all behind the gateway's one pool."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from datetime import date
from typing import Any

import orjson
import pytest

from services.intake.main import MIGRATIONS_DIR as INTAKE_MIGRATIONS
from services.intake.main import create_app as create_intake
from services.intake import service as intake_service
from services.intake.settings import IntakeSettings
from shared.db import drop_database, ensure_database, migrate
from shared.errors import PROBLEM_JSON
from shared.identity import Caller, mint_internal_token
from tests.integration.gateway.conftest import UvicornOnSocket, citizen_token, get_token, running_gateway
from tests.integration.gateway.standin import create_standin
from tests.support import application_body, person

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


async def _raw_server(handler: Handler) -> tuple[asyncio.AbstractServer, str]:
    server = await asyncio.start_server(handler, "127.0.0.1", 0)
    return server, f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"


async def _read_request(reader: asyncio.StreamReader) -> tuple[bytes, bytes]:
    """(head, body) of one request; the head is b"" if the client closed the connection."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError:
        return b"", b""
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":", 1)[1])
    return head, await reader.readexactly(length)


def _answer(body: bytes = b'{"ok":true}', status: str = "200 OK", *, length: int | None = None) -> bytes:
    return (f"HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: "
            f"{len(body) if length is None else length}\r\n\r\n").encode() + body


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


# ---- a 500 from the real intake service ---------------------------------------------------


# A bug planted in the real intake service: listing this region's applications raises.
BUG_REGION = "790000000"
FAILING_REQUEST = f"/v1/applications?region_kato={BUG_REGION}"


@pytest.fixture(scope="module")
async def intake(postgres, broker, internal_keys, db_prefix):
    url = postgres.url(f"{db_prefix}_gateway_next_intake")
    await drop_database(url)
    await ensure_database(url)
    await asyncio.to_thread(migrate, url, INTAKE_MIGRATIONS)
    app = create_intake(IntakeSettings(environment="test", database_url=url, kafka_bootstrap=broker.bootstrap,
                                       internal_public_key_file=internal_keys[1]))
    listing = intake_service.list_applications

    async def list_with_a_bug(*args: Any, **kwargs: Any) -> Any:
        if kwargs.get("region_kato") == BUG_REGION:
            raise RuntimeError("a bug planted by the test")
        return await listing(*args, **kwargs)

    intake_service.list_applications = list_with_a_bug
    server = UvicornOnSocket(app, lifespan="on")
    try:
        yield server
    finally:
        intake_service.list_applications = listing
        await asyncio.to_thread(server.stop)


def _family() -> dict[str, Any]:
    return application_body([person(date(1988, 3, 9), "female", "applicant"), person(date(2019, 6, 1), "male", "child")])


async def test_a_500_from_intake_keeps_its_connection_usable(intake, internal_keys) -> None:
    """The service end: after a 500, the same keep-alive connection carries the next request."""
    ops = mint_internal_token(internal_keys[0], Caller("next-ops", "ops", frozenset({"applications:read"})), "r")
    family = _family()
    token = mint_internal_token(internal_keys[0], Caller("next-portal", "portal",
                                                         frozenset({"applications:read", "applications:write"}),
                                                         citizen_iin=family["members"][0]["iin"]), "r")
    body = orjson.dumps(family)
    reader, writer = await asyncio.open_connection("127.0.0.1", intake.port)
    try:
        writer.write(f"GET {FAILING_REQUEST} HTTP/1.1\r\nHost: intake\r\n"
                     f"x-qamqor-internal-token: {ops}\r\n\r\n".encode())
        head, answer = await _read_response(reader)
        assert head.startswith(b"HTTP/1.1 500"), head
        assert orjson.loads(answer)["type"].endswith("/internal-error")
        writer.write(f"POST /v1/applications HTTP/1.1\r\nHost: intake\r\nx-qamqor-internal-token: {token}\r\n"
                     f"Idempotency-Key: {uuid.uuid4()}\r\nContent-Type: application/json\r\n"
                     f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
        head, answer = await _read_response(reader)
        assert head.startswith(b"HTTP/1.1 201"), head + answer
    finally:
        writer.close()


async def _read_response(reader: asyncio.StreamReader) -> tuple[bytes, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    length = next(int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                  if line.lower().startswith(b"content-length:"))
    return head, await reader.readexactly(length)


async def test_a_500_through_the_gateway_then_good_requests(intake, make_settings, register, sandbox_url) -> None:
    """Issue 7's reproduction (then `GET /v1/applications?status=%00`, which is a 422 since every
    input is checked): a request that makes intake answer 500 (an ops list), then citizens'
    applications are submitted — each is answered 201 and saved."""
    async with running_gateway(make_settings(intake_url=intake.url)) as gateway:
        ops = await register("ops")
        failed = await gateway.get(FAILING_REQUEST, headers=bearer(await get_token(gateway, ops)))
        assert failed.status_code == 500, failed.text
        assert failed.headers["content-type"] == PROBLEM_JSON
        portal_token = await get_token(gateway, await register("portal"))
        for _ in range(3):
            family = _family()
            headers = bearer(await citizen_token(gateway, sandbox_url, portal_token, family["members"][0]["iin"]))
            submitted = await gateway.post("/v1/applications", json=family,
                                           headers=headers | {"Idempotency-Key": str(uuid.uuid4())})
            assert submitted.status_code == 201, submitted.text
            saved = await gateway.get(f"/v1/applications/{submitted.json()['id']}", headers=headers)
            assert saved.status_code == 200 and saved.json()["status"] == "submitted"


# ---- services that misbehave on purpose ---------------------------------------------------


@pytest.fixture(scope="module")
async def portal_headers(gateway, register) -> dict[str, str]:
    portal = await register("portal")
    return bearer(await get_token(gateway, portal))


async def test_a_500_then_a_hang_up_as_starlette_did_it(make_settings, portal_headers) -> None:
    """What every service did before: answer 500, then close the connection. Every next request
    is answered — a GET, or a POST with an Idempotency-Key as every submission carries."""
    seen: list[bytes] = []

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            head, _ = await _read_request(reader)
            if not head:
                break
            seen.append(head.split(b" ", 2)[1])
            if b"status=%00" in head:
                writer.write(_answer(b'{"status":500}', "500 Internal Server Error"))
                await writer.drain()
                break
            writer.write(_answer())
            await writer.drain()
        writer.close()

    server, url = await _raw_server(handler)
    async with server, running_gateway(make_settings(intake_url=url)) as gateway:
        assert (await gateway.get("/v1/applications?status=%00", headers=portal_headers)).status_code == 500
        submitted = await gateway.post("/v1/applications", json={},
                                       headers=portal_headers | {"Idempotency-Key": "after-a-500"})
        assert submitted.status_code == 200
        for _ in range(2):
            assert (await gateway.get("/v1/applications?status=%00", headers=portal_headers)).status_code == 500
            assert (await gateway.get("/v1/applications", headers=portal_headers)).status_code == 200
    assert seen.count(b"/v1/applications") == 3  # each sent once


async def test_a_service_that_hangs_up_after_every_answer(make_settings, portal_headers) -> None:
    connections = 0

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal connections
        connections += 1
        head, _ = await _read_request(reader)
        if head:
            writer.write(_answer())  # no "Connection: close": the hang-up comes unannounced
            await writer.drain()
        writer.close()

    server, url = await _raw_server(handler)
    async with server, running_gateway(make_settings(intake_url=url)) as gateway:
        statuses = [(await gateway.request(method, "/v1/applications", headers=portal_headers | key,
                                           json={} if method == "POST" else None)).status_code
                    for method, key in (("GET", {}), ("POST", {"Idempotency-Key": "hang-up-1"}),
                                        ("POST", {"Idempotency-Key": "hang-up-2"}), ("GET", {}))]
    assert statuses == [200] * 4
    assert connections == 4


async def test_a_reused_connection_closed_before_any_answer(make_settings, portal_headers) -> None:
    """The service takes the next request on a kept-alive connection and closes it unanswered.
    Retried once on a fresh connection when that is safe (RFC 9110 §9.2.2, RFC 9112 §9.3.1): an
    idempotent method, or a POST with an Idempotency-Key; a POST without one is a 502 — the
    service may have acted on it."""
    received: list[bytes] = []

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head, _ = await _read_request(reader)  # a fresh connection's first request is answered...
        if head:
            received.append(head.split(b"\r\n", 1)[0])
            writer.write(_answer())
            await writer.drain()
            head, _ = await _read_request(reader)  # ...the next one on it is not
            if head:
                received.append(head.split(b"\r\n", 1)[0])
        writer.close()

    server, url = await _raw_server(handler)
    async with server, running_gateway(make_settings(intake_url=url)) as gateway:
        async def send(method: str, **headers: str) -> int:
            response = await gateway.request(method, "/v1/applications", headers=portal_headers | headers,
                                             json={} if method == "POST" else None)
            return response.status_code

        assert await send("GET") == 200  # opens the connection that will be reused
        assert await send("GET") == 200  # reused, hung up on, retried on a fresh one
        assert await send("POST", **{"Idempotency-Key": "next-1"}) == 200
        assert await send("POST") == 502
        assert await send("GET") == 200  # and the pool is fine afterwards
    lines = [line.decode() for line in received]
    assert lines == ["GET /v1/applications HTTP/1.1",
                     "GET /v1/applications HTTP/1.1", "GET /v1/applications HTTP/1.1",
                     "POST /v1/applications HTTP/1.1", "POST /v1/applications HTTP/1.1",
                     "POST /v1/applications HTTP/1.1",
                     "GET /v1/applications HTTP/1.1"]


async def test_a_truncated_answer_is_a_502_and_the_next_request_succeeds(make_settings, portal_headers) -> None:
    truncated_sent = False

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal truncated_sent
        while True:
            head, _ = await _read_request(reader)
            if not head:
                break
            if not truncated_sent:  # 100 bytes announced, 14 sent, then the connection ends
                truncated_sent = True
                writer.write(_answer(b'{"cut": "short', length=100))
                await writer.drain()
                break
            writer.write(_answer())
            await writer.drain()
        writer.close()

    server, url = await _raw_server(handler)
    async with server, running_gateway(make_settings(intake_url=url)) as gateway:
        truncated = await gateway.get("/v1/applications", headers=portal_headers)
        assert truncated.status_code == 502
        assert truncated.headers["content-type"] == PROBLEM_JSON
        assert (await gateway.post("/v1/applications", json={}, headers=portal_headers)).status_code == 200


async def test_a_service_restarting_between_two_requests(make_settings, portal_headers, internal_keys) -> None:
    from pathlib import Path

    standin = UvicornOnSocket(create_standin("intake", Path(internal_keys[1]).read_bytes()))
    try:
        async with running_gateway(make_settings(intake_url=standin.url)) as gateway:
            first = await gateway.get("/v1/applications", headers=portal_headers)
            assert first.status_code == 200
            standin = await standin.restart()
            second = await gateway.post("/v1/applications", json={}, headers=portal_headers)
            assert second.status_code == 200, second.text
            assert second.json()["method"] == "POST"
    finally:
        await asyncio.to_thread(standin.stop)
