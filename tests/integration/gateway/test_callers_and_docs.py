"""Managing callers (admin API, CLI, demo seeding) and the merged OpenAPI document."""

from __future__ import annotations

import asyncio
import json

from typer.testing import CliRunner

from gateway.routes import DEFAULT_SCOPES, ROUTES
from gateway.seed import DEMO_CALLERS, seed_demo_callers
from qamqor_cli.callers import callers_app, keys_app
from qamqor_cli.infra import free_port
from shared.identity import CALLER_KINDS
from tests.integration.gateway.conftest import (
    FAST_ARGON2, Registered, get_token, running_gateway, signed_headers, until,
)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_admin_api_manages_callers(gateway, register) -> None:
    admin = await register("admin")
    headers = bearer(await get_token(gateway, admin))
    created = await gateway.post("/v1/callers", headers=headers,
                                 json={"id": "api-bank-jusan", "kind": "bank", "bank_code": "TSESKZKA"})
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["scopes"] == ["bank:callbacks"] and body["secret"] and body["signing_secret"]

    listed = await gateway.get("/v1/callers", headers=headers)
    assert "api-bank-jusan" in {c["id"] for c in listed.json()["items"]}
    assert "secret" not in listed.text and "signing_secret" not in listed.text
    assert body["secret"] not in listed.text

    bank = Registered("api-bank-jusan", "bank", body["secret"], body["scopes"], "TSESKZKA", body["signing_secret"])
    assert await get_token(gateway, bank)

    duplicate = await gateway.post("/v1/callers", headers=headers, json={"id": "api-bank-jusan", "kind": "bank",
                                                                         "bank_code": "TSESKZKA"})
    assert duplicate.status_code == 409
    invalid = await gateway.post("/v1/callers", headers=headers,
                                 json={"id": "X!", "kind": "wizard", "scopes": ["root"], "bank_code": "nope"})
    assert invalid.status_code == 422
    assert {e["field"] for e in invalid.json()["errors"]} == {"id", "kind", "scopes", "bank_code"}
    no_code = await gateway.post("/v1/callers", headers=headers, json={"id": "bank-without-code", "kind": "bank"})
    assert no_code.status_code == 422
    assert (await gateway.post("/v1/callers/nobody/disable", headers=headers)).status_code == 404

    assert (await gateway.post("/v1/callers/api-bank-jusan/disable", headers=headers)).json()["enabled"] is False
    assert (await gateway.post("/v1/callers/api-bank-jusan/enable", headers=headers)).json()["enabled"] is True
    assert (await gateway.get("/v1/callers/api-bank-jusan", headers=headers)).json()["enabled"] is True


def _cli(app, args: list[str], env: dict[str, str]):
    result = CliRunner().invoke(app, args, env=env)
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


async def test_cli_creates_rotates_and_disables(gateway, make_settings) -> None:
    settings = make_settings()
    env = {"QAMQOR_GATEWAY_DATABASE_URL": settings.database_url,
           **{f"QAMQOR_GATEWAY_{k.upper()}": str(v) for k, v in FAST_ARGON2.items()}}

    def run(*args: str):
        return _cli(callers_app, list(args), env)

    created = await asyncio.to_thread(run, "create", "--id", "cli-ops", "--kind", "ops")
    assert created["scopes"] == sorted(DEFAULT_SCOPES["ops"]) and created["secret"]
    narrowed = await asyncio.to_thread(run, "create", "--id", "cli-bank", "--kind", "bank", "--bank-code", "CASPKZKA",
                                       "--scopes", "bank:callbacks")
    assert narrowed["bank_code"] == "CASPKZKA" and narrowed["signing_secret"]
    assert {"cli-ops", "cli-bank"} <= {c["id"] for c in await asyncio.to_thread(run, "list")}

    # The CLI (another process, another working directory) and the gateway agree on the key that
    # seals signing secrets, so the printed signing secret works at once.
    bank = Registered("cli-bank", "bank", narrowed["secret"], narrowed["scopes"], "CASPKZKA",
                      narrowed["signing_secret"])
    path = "/v1/banks/CASPKZKA/payment-orders"
    signed = await gateway.get(path, headers=bearer(await get_token(gateway, bank)) | signed_headers(bank, "GET", path))
    assert signed.status_code == 200, signed.text

    ops = Registered("cli-ops", "ops", created["secret"], created["scopes"])
    token = await get_token(gateway, ops)  # the running gateway has never seen it: read through
    assert (await gateway.get("/v1/stats/summary", headers=bearer(token))).status_code == 200

    rotated = await asyncio.to_thread(run, "rotate-secret", "cli-ops")
    assert rotated["secret"] != created["secret"]
    ops.secret = rotated["secret"]
    token = await get_token(gateway, ops)
    assert (await gateway.get("/v1/stats/summary", headers=bearer(token))).status_code == 200

    await asyncio.to_thread(run, "disable", "cli-ops")  # another process: reaches us by NOTIFY

    async def refused() -> bool:
        return (await gateway.get("/v1/stats/summary", headers=bearer(token))).status_code == 401

    await until(refused)

    failed = await asyncio.to_thread(CliRunner().invoke, callers_app, ["create", "--id", "cli-bad", "--kind", "bank"],
                                     env=env)
    assert failed.exit_code == 1
    assert json.loads(failed.output)["errors"][0]["field"] == "bank_code"
    keys = await asyncio.to_thread(_cli, keys_app, ["list"], env)
    assert keys and all("kid" in k for k in keys)


async def test_seed_demo_callers_keeps_working_secrets(gateway, make_settings) -> None:
    settings = make_settings()
    first = await seed_demo_callers(settings.database_url, None, settings=settings)
    assert [c["id"] for c in first] == [d["id"] for d in DEMO_CALLERS]
    assert {c["kind"] for c in first} == set(CALLER_KINDS)
    banks = [c for c in first if c["kind"] == "bank"]
    assert sorted(b["bank_code"] for b in banks) == ["HSBKKZKX", "KCJBKZKX"]
    assert all(b["signing_secret"] for b in banks)
    for entry in first:
        assert set(entry["scopes"]) == DEFAULT_SCOPES[entry["kind"]]

    tampered = [dict(c) for c in first]
    tampered[0]["secret"] = "forgotten"
    second = await seed_demo_callers(settings.database_url, tampered, settings=settings)
    assert second[0]["secret"] not in ("forgotten", first[0]["secret"])
    assert second[1:] == first[1:]  # working secrets (and signing secrets) kept as they were

    for entry in second:
        caller = Registered(entry["id"], entry["kind"], entry["secret"], entry["scopes"])
        assert await get_token(gateway, caller)


async def test_merged_openapi(gateway) -> None:
    response = await gateway.get("/openapi.json")
    assert response.status_code == 200
    doc = response.json()
    for route in ROUTES:
        operation = doc["paths"][route.path][route.method.lower()]
        assert operation["security"][0] == {"oauth2": [route.scope]}
        if route.signed:
            assert {"X-Qamqor-Timestamp", "X-Qamqor-Nonce", "X-Qamqor-Signature"} <= {
                p["name"] for p in operation["parameters"]}
    assert doc["paths"]["/v1/stats/summary"]["get"]["summary"] == "Recipients and amounts"  # from the service
    assert "Summary" in doc["components"]["schemas"]
    assert "/oauth/token" in doc["paths"] and "/.well-known/jwks.json" in doc["paths"]
    flows = doc["components"]["securitySchemes"]["oauth2"]["flows"]["clientCredentials"]
    assert flows["tokenUrl"] == "/oauth/token" and "callers:admin" in flows["scopes"]
    assert doc["x-qamqor-unavailable-services"] == []
    docs = await gateway.get("/docs")
    assert docs.status_code == 200 and "swagger" in docs.text.lower()


async def test_openapi_tolerates_a_service_that_is_down(make_settings) -> None:
    async with running_gateway(make_settings(verification_url=f"http://127.0.0.1:{free_port()}")) as gw:
        doc = (await gw.get("/openapi.json")).json()
        assert doc["x-qamqor-unavailable-services"] == ["verification"]
        assert "/v1/verifications/{application_id}" in doc["paths"]  # from the route table


async def test_a_secret_sealed_under_another_master_key_spoils_only_its_caller(gateway, register) -> None:
    """A bank created with a different master key (a misconfigured process) must not take the
    gateway down: its signed requests are refused; everyone else carries on."""
    import os

    from gateway.crypto import MasterKey
    from gateway.callers import create_caller

    gw = gateway.gateway
    async with gw.sessionmaker() as session, session.begin():
        await create_caller(session=session, hasher=gw.hasher, master_key=MasterKey(os.urandom(32)),
                            caller_id="foreign-sealed-bank", kind="bank", bank_code="ATYNKZKA")
    await gw.directory.reload_all()
    assert gw.directory.get("foreign-sealed-bank").signing_secret is None
    portal = await register("portal")
    assert (await gateway.get("/v1/applications", headers=bearer(await get_token(gateway, portal)))).status_code == 200
