"""A POST that fails before reaching its service fails safely (issue 8, point 3): 503 with
Retry-After, nothing half-applied, and the same request with the same Idempotency-Key, repeated
once the service is back, is applied exactly once — with the real intake service, stopped and
started again under the gateway, and with a service that goes away in the middle of a request."""

from __future__ import annotations

import asyncio
import uuid
from datetime import date

import asyncpg
import pytest

from services.intake.main import MIGRATIONS_DIR as INTAKE_MIGRATIONS
from services.intake.main import create_app as create_intake
from services.intake.settings import IntakeSettings
from shared.db import asyncpg_dsn, drop_database, ensure_database, migrate
from shared.errors import PROBLEM_JSON
from tests.integration.gateway.conftest import UvicornOnSocket, citizen_token, get_token, running_gateway
from tests.support import person

HALYK_IBAN = "KZ20601KZT5004100100"  # bank code 601: Halyk Bank, HSBKKZKX


def family() -> tuple[str, dict]:
    """(the applicant's IIN, the application) — the citizen the portal acts for is the applicant."""
    applicant = person(date(1984, 6, 30), "female", "applicant")
    child = person(date(2017, 2, 14), "male", "child")
    return applicant["iin"], {
        "channel": "egov", "region_kato": "610000000", "settlement": "urban",
        "bank_account": {"iban": HALYK_IBAN, "bank_code": "HSBKKZKX"}, "expense_check_consent": False,
        "members": [applicant, child]}


@pytest.fixture(scope="module")
async def intake_settings(postgres, broker, internal_keys, db_prefix) -> IntakeSettings:
    url = postgres.url(f"{db_prefix}_gateway_failsafe_intake")
    await drop_database(url)
    await ensure_database(url)
    await asyncio.to_thread(migrate, url, INTAKE_MIGRATIONS)
    return IntakeSettings(environment="test", database_url=url, kafka_bootstrap=broker.bootstrap,
                          internal_public_key_file=internal_keys[1])


async def _applications(settings: IntakeSettings) -> int:
    conn = await asyncpg.connect(asyncpg_dsn(settings.database_url))
    try:
        return await conn.fetchval("SELECT count(*) FROM applications")
    finally:
        await conn.close()


async def test_intake_stopped_then_started_applies_the_post_once(intake_settings, make_settings, register,
                                                                 sandbox_url) -> None:
    intake = UvicornOnSocket(create_intake(intake_settings), lifespan="on")
    port = intake.port
    try:
        async with running_gateway(make_settings(intake_url=intake.url)) as gateway:
            applicant, application = family()
            portal = await register("portal")
            token = await citizen_token(gateway, sandbox_url, await get_token(gateway, portal), applicant)
            headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": str(uuid.uuid4())}
            before = await _applications(intake_settings)

            await asyncio.to_thread(intake.stop)
            down = await gateway.post("/v1/applications", json=application, headers=headers)
            assert down.status_code == 503, down.text
            assert down.headers["content-type"] == PROBLEM_JSON and int(down.headers["retry-after"]) >= 1
            assert await _applications(intake_settings) == before

            intake = UvicornOnSocket(create_intake(intake_settings), port, lifespan="on")
            created = await gateway.post("/v1/applications", json=application, headers=headers)
            assert created.status_code == 201, created.text
            replayed = await gateway.post("/v1/applications", json=application, headers=headers)
            assert replayed.status_code == 201
            assert replayed.json() == created.json()
            assert await _applications(intake_settings) == before + 1
    finally:
        await asyncio.to_thread(intake.stop)


async def test_a_service_that_goes_away_in_the_middle_of_a_post(make_settings, register) -> None:
    """The service reads the POST and goes away without answering: the gateway sends it once more
    (it carries an Idempotency-Key), finds nobody, and answers 503 with Retry-After — never 502,
    never a 201 it did not get. Without a key the POST is not repeated: 502, the service may have
    acted on it."""
    received: list[bytes] = []
    server: asyncio.AbstractServer | None = None

    async def goes_away(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        received.append(head.split(b"\r\n", 1)[0])
        server.close()  # stop listening: the retry is refused
        writer.close()

    for key, expected in (("gone-midway", 503), (None, 502)):
        server = await asyncio.start_server(goes_away, "127.0.0.1", 0)
        url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
        async with running_gateway(make_settings(intake_url=url)) as gateway:
            portal = await register("portal")
            headers = {"Authorization": f"Bearer {await get_token(gateway, portal)}"}
            if key:
                headers["Idempotency-Key"] = key
            response = await gateway.post("/v1/applications", json={"members": []}, headers=headers)
            assert response.status_code == expected, response.text
            assert response.headers["content-type"] == PROBLEM_JSON
            if expected == 503:
                assert response.headers["retry-after"] == "1"
        await server.wait_closed()
    assert received == [b"POST /v1/applications HTTP/1.1"] * 2  # once each


async def test_the_gateways_own_store_down_is_a_503(make_settings, register) -> None:
    """The gateway's own API with its database unreachable: 503 with Retry-After, not a 500."""
    from qamqor_cli.infra import free_port
    from shared.db import make_engine, make_sessionmaker

    async with running_gateway(make_settings()) as gateway:
        admin = {"Authorization": f"Bearer {await get_token(gateway, await register('admin'))}"}
        gw = gateway.gateway
        working = gw.sessionmaker
        engine = make_engine(f"postgresql+asyncpg://postgres@127.0.0.1:{free_port()}/nowhere", pool_size=1)
        gw.sessionmaker = make_sessionmaker(engine)
        try:
            for response in (await gateway.post("/v1/callers", headers=admin, json={"id": "x-y", "kind": "ops"}),
                             await gateway.get("/v1/audit", headers=admin),
                             await gateway.get("/v1/audit/data-access", headers=admin)):
                assert response.status_code == 503, response.text
                assert response.headers["content-type"] == PROBLEM_JSON and response.headers["retry-after"] == "1"
        finally:
            gw.sessionmaker = working
            await engine.dispose()
        assert (await gateway.get("/v1/audit", headers=admin)).status_code == 200


async def test_a_failure_is_logged_without_the_request_it_failed(make_settings, register, caplog) -> None:
    """aiohttp's error messages carry the whole URL: the gateway logs the route and the reason's
    class, never the path or query string that may hold a person's data."""
    import logging

    from qamqor_cli.infra import free_port

    async def garbage(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"SMTP ready\r\n\r\n")
        await writer.drain()
        writer.close()

    caplog.set_level(logging.INFO)
    server = await asyncio.start_server(garbage, "127.0.0.1", 0)
    settings = make_settings(intake_url=f"http://127.0.0.1:{free_port()}",
                             verification_url=f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}")
    async with server, running_gateway(settings) as gateway:
        logging.getLogger().addHandler(caplog.handler)  # the app's logging set-up replaced the root's handlers
        headers = {"Authorization": f"Bearer {await get_token(gateway, await register('ops'))}"}
        query = {"full_name": "Gulzhan Tokhtarovna", "phone": "+77017654321"}
        assert (await gateway.get("/v1/applications", params=query, headers=headers)).status_code == 503
        assert (await gateway.get("/v1/verifications/0190a1b2-c3d4-7e5f-8a9b-000000000001", params=query,
                                  headers=headers)).status_code == 502
    lines = [record.getMessage() for record in caplog.records if record.name.startswith("qamqor.gateway")]
    assert any("service intake unavailable on GET /v1/applications" in line for line in lines), lines
    assert any("service verification broke the connection" in line for line in lines), lines
    assert not any("Gulzhan" in line or "7017654321" in line for line in lines)
