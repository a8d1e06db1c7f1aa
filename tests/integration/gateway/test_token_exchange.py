"""A portal acts for a citizen (issue 8, point 1): RFC 8693 token exchange at POST /oauth/token,
with assertions signed by the real sandbox eGov IDP (a real HTTP server) and verified against its
published JWKS."""

from __future__ import annotations

import base64
import logging
import time
from datetime import date

import jwt
import orjson
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from gateway.callers import rotate_secret
from gateway.schemas import ACCESS_TOKEN_TYPE, JWT_TOKEN_TYPE, TOKEN_EXCHANGE_GRANT
from gateway.tokens import AccessTokens
from sandbox.idp import AUDIENCE, ISSUER
from shared.errors import PROBLEM_JSON
from shared.iin import make_iin, mask_iin
from tests.integration.gateway.conftest import (
    citizen_token, exchange, get_token, running_gateway, sign_in, until,
)

CITIZEN = make_iin(date(1987, 5, 19), "female", 4321)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def claims_of(token: str) -> dict:
    return jwt.decode(token, options={"verify_signature": False})


@pytest.fixture
async def portal(gateway, register):
    caller = await register("portal")
    return caller, await get_token(gateway, caller)


async def test_a_portal_exchanges_a_citizens_assertion(gateway, portal, register, sandbox_url) -> None:
    caller, portal_token = portal
    assertion = await sign_in(sandbox_url, CITIZEN)
    response = await exchange(gateway, portal_token, assertion)
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert body["issued_token_type"] == ACCESS_TOKEN_TYPE and body["token_type"] == "Bearer"
    assert body["expires_in"] == 300
    assert set(body["scope"].split()) == set(caller.scopes)
    claims = claims_of(body["access_token"])
    assert claims["sub"] == CITIZEN and claims["act"] == {"sub": caller.id}
    assert claims["client_id"] == caller.id and claims["cv"] == 1
    assert claims["exp"] - claims["iat"] == 300

    # The token authenticates as the portal acting for the citizen: the service sees both.
    seen = (await gateway.get("/v1/applications", headers=bearer(body["access_token"]))).json()
    assert seen["caller"]["id"] == caller.id and seen["caller"]["kind"] == "portal"
    assert seen["caller"]["citizen"] == CITIZEN
    # ...and the portal's own token still acts for nobody.
    own = (await gateway.get("/v1/applications", headers=bearer(portal_token))).json()
    assert own["caller"]["citizen"] is None

    # The audit log names the portal and, masked, the citizen.
    await gateway.gateway.audit.flush()
    admin = await get_token(gateway, await register("admin"))
    records = (await gateway.get("/v1/audit", params={"caller_id": caller.id, "route": "/v1/applications"},
                                 headers=bearer(admin))).json()["items"]
    assert [r["acting_for"] for r in records] == [None, mask_iin(CITIZEN)]
    assert CITIZEN not in orjson.dumps(records).decode()


async def test_narrowed_scope_and_a_jwt_subject_type(gateway, portal, sandbox_url) -> None:
    _, portal_token = portal
    response = await exchange(gateway, portal_token, await sign_in(sandbox_url, CITIZEN),
                              subject_token_type=JWT_TOKEN_TYPE, scope="applications:read")
    assert response.status_code == 200, response.text
    assert response.json()["scope"] == "applications:read"
    token = response.json()["access_token"]
    refused = await gateway.post("/v1/applications", json={}, headers=bearer(token))
    assert refused.status_code == 403
    too_much = await exchange(gateway, portal_token, await sign_in(sandbox_url, CITIZEN), scope="callers:admin")
    assert too_much.status_code == 400 and too_much.json()["error"] == "invalid_scope"


async def test_never_longer_than_the_assertion(gateway, portal, sandbox_url) -> None:
    _, portal_token = portal
    response = await exchange(gateway, portal_token, await sign_in(sandbox_url, CITIZEN, lifetime_seconds=40))
    assert response.status_code == 200, response.text
    assert 0 < response.json()["expires_in"] <= 40
    claims = claims_of(response.json()["access_token"])
    assert claims["exp"] - claims["iat"] <= 40


def _refused(response, error: str, status: int = 400) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM_JSON
    body = response.json()
    assert body["error"] == error and body["status"] == status and body["error_description"]
    return body


def _forged(assertion: str) -> str:
    """The same claims and key id, signed with a key that is not the IDP's."""
    header = jwt.get_unverified_header(assertion)
    return jwt.encode(claims_of(assertion), Ed25519PrivateKey.generate(), algorithm="EdDSA",
                      headers={"kid": header["kid"], "typ": "JWT"})


def _resigned_as(assertion: str, **changes) -> str:
    """The assertion's claims changed, signature kept: what a tamperer can do without the key."""
    head, _, signature = assertion.split(".")
    payload = base64.urlsafe_b64encode(orjson.dumps(claims_of(assertion) | changes)).rstrip(b"=").decode()
    return f"{head}.{payload}.{signature}"


async def test_bad_assertions_are_invalid_grant(gateway, portal, sandbox_url) -> None:
    _, portal_token = portal
    good = await sign_in(sandbox_url, CITIZEN)
    other_citizen = make_iin(date(1990, 1, 2), "male", 77)
    cases = {
        "forged": _forged(good),
        "tampered": _resigned_as(good, sub=other_citizen),
        "wrong audience": await sign_in(sandbox_url, CITIZEN, audience="another-service"),
        "not a JWT": "not.a.jwt",
        "alg none": jwt.encode({"sub": CITIZEN, "iss": ISSUER, "aud": AUDIENCE}, None, algorithm="none"),
    }
    for name, assertion in cases.items():
        body = _refused(await exchange(gateway, portal_token, assertion), "invalid_grant")
        assert CITIZEN not in body["error_description"], name


async def test_expired_assertion_and_wrong_issuer(make_settings, register, sandbox_url) -> None:
    assertion = await sign_in(sandbox_url, CITIZEN, lifetime_seconds=60)
    async with running_gateway(make_settings()) as gateway:
        _, portal_token = (caller := await register("portal")), await get_token(gateway, caller)
        later = time.time() + 61 + gateway.gateway.settings.token_leeway_seconds
        gateway.gateway.idp.clock = lambda: later  # the assertion's minute has passed
        body = _refused(await exchange(gateway, portal_token, assertion), "invalid_grant")
        assert "expired" in body["error_description"]
    async with running_gateway(make_settings(idp_issuer="https://idp.egov.kz")) as gateway:
        portal_token = await get_token(gateway, caller)
        body = _refused(await exchange(gateway, portal_token, assertion), "invalid_grant")
        assert "issuer" in body["error_description"]


async def test_only_a_portal_acts_for_citizens(gateway, register, sandbox_url) -> None:
    assertion = await sign_in(sandbox_url, CITIZEN)
    for kind in ("ops", "fdc", "case_worker", "admin"):
        caller = await register(kind, bank_code=None)
        _refused(await exchange(gateway, await get_token(gateway, caller), assertion), "unauthorized_client")


async def test_the_actor_token_must_be_the_portals_own_and_valid(gateway, portal, sandbox_url) -> None:
    caller, portal_token = portal
    assertion = await sign_in(sandbox_url, CITIZEN)
    acting = await citizen_token(gateway, sandbox_url, portal_token, CITIZEN)
    body = _refused(await exchange(gateway, acting, assertion), "invalid_request")
    assert "acts for a citizen" in body["error_description"]

    gw = gateway.gateway
    record = gw.directory.get(caller.id)
    an_hour_ago = time.time() - 3600
    expired, _ = AccessTokens(gw.keyring, issuer=gw.settings.token_issuer, audience=gw.settings.token_audience,
                              lifetime=600, leeway=5, clock=lambda: an_hour_ago).issue(record, record.scopes)
    body = _refused(await exchange(gateway, expired, assertion), "invalid_request")
    assert "expired" in body["error_description"]
    _refused(await exchange(gateway, portal_token[:-3] + "abc", assertion), "invalid_request")


async def test_a_disabled_or_rotated_portal_loses_its_citizen_tokens(gateway, portal, register, sandbox_url) -> None:
    caller, portal_token = portal
    acting = await citizen_token(gateway, sandbox_url, portal_token, CITIZEN)
    admin = bearer(await get_token(gateway, await register("admin")))
    assert (await gateway.post(f"/v1/callers/{caller.id}/disable", headers=admin)).status_code == 200
    assert (await gateway.get("/v1/applications", headers=bearer(acting))).status_code == 401
    body = _refused(await exchange(gateway, portal_token, await sign_in(sandbox_url, CITIZEN)), "invalid_request")
    assert "disabled" in body["error_description"]

    assert (await gateway.post(f"/v1/callers/{caller.id}/enable", headers=admin)).status_code == 200
    acting = await citizen_token(gateway, sandbox_url, portal_token, CITIZEN)
    gw = gateway.gateway
    async with gw.sessionmaker() as session, session.begin():
        await rotate_secret(session=session, hasher=gw.hasher, master_key=gw.master_key, caller_id=caller.id)

    async def refused() -> bool:
        return (await gateway.get("/v1/applications", headers=bearer(acting))).status_code == 401

    await until(refused)


async def test_request_errors(gateway, portal, sandbox_url) -> None:
    _, portal_token = portal
    assertion = await sign_in(sandbox_url, CITIZEN)
    base = {"grant_type": TOKEN_EXCHANGE_GRANT, "subject_token": assertion,
            "subject_token_type": "urn:ietf:params:oauth:token-type:id_token", "actor_token": portal_token,
            "actor_token_type": ACCESS_TOKEN_TYPE}
    for missing in ("subject_token", "subject_token_type", "actor_token", "actor_token_type"):
        form = {k: v for k, v in base.items() if k != missing}
        body = _refused(await gateway.post("/oauth/token", data=form), "invalid_request")
        assert missing in body["error_description"]
    _refused(await gateway.post("/oauth/token", data=base | {"subject_token_type": "urn:x:saml2"}),
             "invalid_request")
    _refused(await gateway.post("/oauth/token", data=base | {"actor_token_type": JWT_TOKEN_TYPE}), "invalid_request")
    _refused(await gateway.post("/oauth/token", data=base | {"requested_token_type": JWT_TOKEN_TYPE}),
             "invalid_request")
    _refused(await gateway.post("/oauth/token", data=base | {"audience": "elsewhere"}), "invalid_target")
    _refused(await gateway.post("/oauth/token", data=base | {"scope": "a\x00b"}), "invalid_request")


async def test_without_an_identity_provider_there_is_no_exchange(make_settings, register, sandbox_url) -> None:
    async with running_gateway(make_settings(idp_jwks_url=None)) as gateway:
        portal_token = await get_token(gateway, await register("portal"))
        _refused(await exchange(gateway, portal_token, await sign_in(sandbox_url, CITIZEN)), "unsupported_grant_type")


async def test_an_unreachable_identity_provider_is_a_503(make_settings, register, sandbox_url) -> None:
    from qamqor_cli.infra import free_port

    async with running_gateway(make_settings(idp_jwks_url=f"http://127.0.0.1:{free_port()}/jwks")) as gateway:
        portal_token = await get_token(gateway, await register("portal"))
        response = await exchange(gateway, portal_token, await sign_in(sandbox_url, CITIZEN))
        _refused(response, "temporarily_unavailable", 503)
        assert response.headers["retry-after"]


async def test_exchanges_leave_no_assertion_or_iin_in_the_logs(gateway, portal, sandbox_url, caplog) -> None:
    """Good and bad exchanges, with the logs at DEBUG: neither the assertion nor the IIN appears."""
    _, portal_token = portal
    caplog.set_level(logging.DEBUG)
    assertion = await sign_in(sandbox_url, CITIZEN)
    acting = await citizen_token(gateway, sandbox_url, portal_token, CITIZEN)
    await gateway.get("/v1/applications", headers=bearer(acting))
    await exchange(gateway, portal_token, _forged(assertion))
    await exchange(gateway, portal_token, assertion[:-6])
    text = "\n".join(record.getMessage() + str(record.exc_info or "") for record in caplog.records)
    formatted = "\n".join(caplog.text.splitlines())
    for secret in (CITIZEN, assertion, assertion.split(".")[1], acting.split(".")[1]):
        assert secret not in text and secret not in formatted
