"""Managing callers (admin API, CLI, demo seeding) and the merged OpenAPI document."""

from __future__ import annotations

import asyncio
import json

from typer.testing import CliRunner

from gateway.routes import DEFAULT_SCOPES, ROUTES
from gateway.seed import DEMO_CALLERS, seed_demo_callers
from sandbox.population import PLAYED_BANKS
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
    # one for each bank the sandbox plays
    assert sorted(b["bank_code"] for b in banks) == sorted(code for code, _ in PLAYED_BANKS)
    assert all(b["signing_secret"] for b in banks)
    for entry in first:
        assert set(entry["scopes"]) == DEFAULT_SCOPES[entry["kind"]]
    [case_worker] = [c for c in first if c["kind"] == "case_worker"]
    assert case_worker["regions"] == ["61", "79"]

    tampered = [dict(c) for c in first]
    tampered[0]["secret"] = "forgotten"
    second = await seed_demo_callers(settings.database_url, tampered, settings=settings)
    assert second[0]["secret"] not in ("forgotten", first[0]["secret"])
    assert second[1:] == first[1:]  # working secrets (and signing secrets) kept as they were

    for entry in second:
        caller = Registered(entry["id"], entry["kind"], entry["secret"], entry["scopes"])
        assert await get_token(gateway, caller)

    # A state dir from before issue 8: the demo ops caller held contracts and payments too.
    from sqlalchemy import text

    async with gateway.gateway.engine.begin() as conn:
        await conn.execute(text("UPDATE callers SET scopes = ARRAY['stats:read', 'applications:read', "
                                "'contracts:read', 'payments:read'], regions = '{}' WHERE kind IN ('ops', 'case_worker')"
                                " AND id LIKE 'demo-%'"))
    third = await seed_demo_callers(settings.database_url, second, settings=settings)
    assert third == second
    async with gateway.gateway.engine.connect() as conn:
        rows = (await conn.execute(text("SELECT kind, scopes, regions FROM callers WHERE id IN "
                                        "('demo-ops', 'demo-case-worker') ORDER BY kind"))).all()
    assert [(k, sorted(s), r) for k, s, r in rows] == [
        ("case_worker", sorted(DEFAULT_SCOPES["case_worker"]), ["61", "79"]), ("ops", sorted(DEFAULT_SCOPES["ops"]), [])]


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

    # Every error, whoever answers it, is problem+json with the one shared schema.
    problem = doc["components"]["schemas"]["Problem"]
    assert {"type", "title", "status", "detail", "instance", "errors"} <= set(problem["properties"])
    assert problem["properties"]["errors"]["items"] == {"$ref": "#/components/schemas/FieldProblem"}
    assert {"field", "message"} <= set(doc["components"]["schemas"]["FieldProblem"]["properties"])
    assert "HTTPValidationError" not in json.dumps(doc) and "ValidationError" not in doc["components"]["schemas"]
    for path, item in doc["paths"].items():
        for method, operation in item.items():
            errors = {code: r for code, r in operation["responses"].items() if code[0] in "45"}
            for code, response in errors.items():
                assert list(response["content"]) == ["application/problem+json"], (path, method, code)
                ref = response["content"]["application/problem+json"]["schema"]["$ref"]
                assert ref in ("#/components/schemas/Problem", "#/components/schemas/OAuthProblem"), (path, code)
    for route in ROUTES:
        codes = set(doc["paths"][route.path][route.method.lower()]["responses"])
        expected = {"401", "403", "422", "429", "503"}
        expected |= {"502", "504"} if route.service != "gateway" else set()
        expected |= {"404"} if route.params else set()
        expected |= {"400", "413", "415"} if route.method in ("POST", "PUT") else set()
        assert expected <= codes, (route.path, expected - codes)
        assert "Retry-After" in doc["paths"][route.path][route.method.lower()]["responses"]["503"]["headers"]
    token = doc["paths"]["/oauth/token"]["post"]
    form = token["requestBody"]["content"]["application/x-www-form-urlencoded"]
    assert "urn:ietf:params:oauth:grant-type:token-exchange" in form["schema"]["properties"]["grant_type"]["enum"]
    assert {"client_credentials", "token_exchange"} <= set(form["examples"])
    assert {"400", "401", "429", "503"} <= set(token["responses"])
    assert token["responses"]["400"]["content"]["application/problem+json"]["schema"]["$ref"].endswith("OAuthProblem")
    regions = doc["paths"]["/v1/callers/{caller_id}/regions"]["put"]
    assert regions["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith("/RegionsIn")
    assert "/v1/audit/data-access" in doc["paths"]


async def test_docs_work_offline(gateway) -> None:
    """Swagger UI comes from the gateway itself: the page names no other host, and every file
    it references is served (without a token)."""
    import re

    docs = await gateway.get("/docs")
    assert docs.status_code == 200 and "SwaggerUIBundle" in docs.text
    assert not re.search(r"https?://", docs.text), "the page references another host"
    assets = re.findall(r'(?:src|href)="([^"]+)"', docs.text)
    assert {"/docs/assets/swagger-ui-bundle.js", "/docs/assets/swagger-ui.css"} <= set(assets)
    for asset in assets:
        served = await gateway.get(asset)
        assert served.status_code == 200, asset
        assert len(served.content) > 100, asset
    assert (await gateway.get("/docs/assets/swagger-ui-bundle.js")).headers["content-type"].startswith(
        ("application/javascript", "text/javascript"))
    assert (await gateway.get("/docs/assets/no-such-file.js")).status_code == 404
    assert (await gateway.get("/docs/oauth2-redirect")).status_code == 200


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


def test_the_real_services_errors_become_problems(gateway) -> None:
    """The real services' documents merged: every error of every operation is the shared Problem,
    and FastAPI's default 422 schema is nowhere — the services declare their problems themselves
    (shared.problems), and the merge replaces whatever a service leaves."""
    from gateway.openapi import merge
    from tests.integration.test_route_table import SERVICES, service_app

    service_docs = {name: service_app(name).openapi() for name in SERVICES}
    assert not any("HTTPValidationError" in json.dumps(d) for d in service_docs.values())
    doc = merge(gateway.app.openapi(), service_docs, title="Qamqor API")
    assert "HTTPValidationError" not in json.dumps(doc)
    assert doc["x-qamqor-unavailable-services"] == []
    for route in ROUTES:
        operation = doc["paths"][route.path][route.method.lower()]
        for code, response in operation["responses"].items():
            if code[0] in "45":
                assert response["content"]["application/problem+json"]["schema"]["$ref"].endswith("Problem"), \
                    (route.path, code)
            elif code.startswith("2") and route.service != "gateway" and route.path != "/metrics":
                assert "application/json" in response.get("content", {}) or code == "204", (route.path, code)
    refs = set()

    def walk(node):  # noqa: ANN001, ANN202
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "$ref":
                    refs.add(value.rsplit("/", 1)[1])
                else:
                    walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(doc)
    assert refs <= set(doc["components"]["schemas"]), refs - set(doc["components"]["schemas"])


async def test_asyncapi_is_served_without_a_token(gateway) -> None:
    from shared.events import registered
    from shared.events.asyncapi import build

    response = await gateway.get("/asyncapi.json")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/json")
    doc = response.json()
    assert doc == build()
    assert doc["asyncapi"] == "3.0.0"
    assert {channel["address"] for channel in doc["channels"].values()} == {
        "qamqor.intake", "qamqor.verification", "qamqor.eligibility", "qamqor.contracts", "qamqor.payments",
        "qamqor.dead-letter"}
    assert len(registered()) == sum(1 for name in doc["components"]["messages"]
                                    if not name.startswith("dead-letter."))
    # the same with a token (a caller's browser sends one): still the document
    assert (await gateway.get("/asyncapi.json", headers={"Authorization": "Bearer nonsense"})).status_code == 200
