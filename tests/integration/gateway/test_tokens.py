"""Access tokens: RFC 6749 client credentials in, EdDSA JWTs with a kid out; every way a token
can stop being acceptable."""

from __future__ import annotations

import base64
import time
from urllib.parse import quote

import httpx
import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from gateway.tokens import rotate_signing_key
from shared.errors import PROBLEM_JSON
from shared.identity import INTERNAL_TOKEN_HEADER, Caller, generate_ed25519_pem, mint_internal_token
from tests.integration.gateway.conftest import get_token, running_gateway, until


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def claims_for(gw, caller_id: str, **changes) -> dict:
    now = int(time.time())
    claims = {"iss": gw.settings.token_issuer, "aud": gw.settings.token_audience, "sub": caller_id,
              "client_id": caller_id, "scope": "applications:read", "cv": 1, "iat": now, "nbf": now,
              "exp": now + 300}
    claims.update(changes)
    return claims


async def test_client_credentials_grant(gateway, register) -> None:
    portal = await register("portal")
    response = await gateway.post("/oauth/token", data={"grant_type": "client_credentials", "client_id": portal.id,
                                                        "client_secret": portal.secret})
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert body["token_type"] == "Bearer"
    assert 0 < body["expires_in"] <= 900
    assert set(body["scope"].split()) == set(portal.scopes)
    header = jwt.get_unverified_header(body["access_token"])
    assert header["alg"] == "EdDSA" and header["typ"] == "at+jwt"
    jwks = (await gateway.get("/.well-known/jwks.json")).json()
    key = next(k for k in jwks["keys"] if k["kid"] == header["kid"])
    claims = jwt.decode(body["access_token"], jwt.PyJWK(key).key, algorithms=["EdDSA"], audience="qamqor-api")
    assert claims["sub"] == portal.id
    assert claims["exp"] - claims["iat"] <= 900


async def test_http_basic_client_authentication(gateway, register) -> None:
    fdc = await register("fdc")
    basic = base64.b64encode(f"{quote(fdc.id)}:{quote(fdc.secret)}".encode()).decode()
    response = await gateway.post("/oauth/token", data={"grant_type": "client_credentials"},
                                  headers={"Authorization": f"Basic {basic}"})
    assert response.status_code == 200, response.text
    # Two authentication methods at once are refused (RFC 6749 §2.3).
    both = await gateway.post("/oauth/token", data={"grant_type": "client_credentials", "client_secret": fdc.secret},
                              headers={"Authorization": f"Basic {basic}"})
    assert both.status_code == 400 and both.json()["error"] == "invalid_request"


async def test_invalid_client(gateway, register) -> None:
    ops = await register("ops")
    for form in ({"client_id": ops.id, "client_secret": "wrong"}, {"client_id": "nobody", "client_secret": "x"}, {}):
        response = await gateway.post("/oauth/token", data={"grant_type": "client_credentials", **form})
        assert response.status_code == 401
        assert response.headers["content-type"] == PROBLEM_JSON
        assert response.headers["www-authenticate"].startswith("Basic")
        assert response.json()["error"] == "invalid_client"


async def test_request_errors_follow_rfc_6749(gateway, register) -> None:
    ops = await register("ops")
    creds = {"client_id": ops.id, "client_secret": ops.secret}
    cases = [
        ({"grant_type": "password", **creds}, "unsupported_grant_type"),
        (creds, "invalid_request"),
        ({"grant_type": "client_credentials", "scope": "callers:admin", **creds}, "invalid_scope"),
        ({"grant_type": "client_credentials", "scope": "no:such", **creds}, "invalid_scope"),
    ]
    for form, error in cases:
        response = await gateway.post("/oauth/token", data=form)
        assert response.status_code == 400, response.text
        assert response.json()["error"] == error
    as_json = await gateway.post("/oauth/token", json={"grant_type": "client_credentials", **creds})
    assert as_json.status_code == 400 and as_json.json()["error"] == "invalid_request"


async def test_narrowed_scope(gateway, register) -> None:
    portal = await register("portal")
    token = await get_token(gateway, portal, scope="applications:read")
    read = await gateway.get("/v1/applications", headers=bearer(token))
    assert read.status_code == 200
    assert read.json()["caller"]["scopes"] == ["applications:read"]
    write = await gateway.post("/v1/applications", headers=bearer(token), json={})
    assert write.status_code == 403


async def test_expired_token(gateway, register) -> None:
    portal = await register("portal")
    token = gateway.gateway.keyring.sign(claims_for(gateway.gateway, portal.id, iat=int(time.time()) - 1000,
                                                    exp=int(time.time()) - 60))
    response = await gateway.get("/v1/applications", headers=bearer(token))
    assert response.status_code == 401
    assert 'error="invalid_token"' in response.headers["www-authenticate"]
    assert "expired" in response.json()["detail"]


async def test_token_signed_with_another_key(gateway, register) -> None:
    portal = await register("portal")
    gw = gateway.gateway
    forged = jwt.encode(claims_for(gw, portal.id), Ed25519PrivateKey.generate(), algorithm="EdDSA",
                        headers={"kid": gw.keyring.signing_kid, "typ": "at+jwt"})
    unknown_kid = jwt.encode(claims_for(gw, portal.id), Ed25519PrivateKey.generate(), algorithm="EdDSA",
                             headers={"kid": "not-ours", "typ": "at+jwt"})
    symmetric = jwt.encode(claims_for(gw, portal.id), "a-shared-secret-of-enough-length-123", algorithm="HS256",
                           headers={"kid": gw.keyring.signing_kid, "typ": "at+jwt"})
    unsigned = jwt.encode(claims_for(gw, portal.id), None, algorithm="none")
    # The services' internal token is not an access token either.
    internal = mint_internal_token(generate_ed25519_pem()[0], Caller(portal.id, "portal"), "r")
    for token in (forged, unknown_kid, symmetric, unsigned, internal, "garbage"):
        response = await gateway.get("/v1/applications", headers=bearer(token))
        assert response.status_code == 401, token


async def test_wrong_audience_and_issuer(gateway, register) -> None:
    portal = await register("portal")
    gw = gateway.gateway
    for changes in ({"aud": "someone-else"}, {"iss": "https://evil.example"}):
        token = gw.keyring.sign(claims_for(gw, portal.id, **changes))
        response = await gateway.get("/v1/applications", headers=bearer(token))
        assert response.status_code == 401, changes


async def test_disabled_caller_loses_issued_tokens_at_once(gateway, register) -> None:
    portal = await register("portal")
    admin = await register("admin")
    token = await get_token(gateway, portal)
    admin_token = await get_token(gateway, admin)
    assert (await gateway.get("/v1/applications", headers=bearer(token))).status_code == 200
    disabled = await gateway.post(f"/v1/callers/{portal.id}/disable", headers=bearer(admin_token))
    assert disabled.status_code == 200 and disabled.json()["enabled"] is False
    response = await gateway.get("/v1/applications", headers=bearer(token))
    assert response.status_code == 401
    assert "disabled" in response.json()["detail"]
    again = await gateway.post("/oauth/token", data={"grant_type": "client_credentials", "client_id": portal.id,
                                                     "client_secret": portal.secret})
    assert again.status_code == 401 and again.json()["error"] == "invalid_client"


async def test_disable_reaches_a_second_gateway_instance(gateway, register, make_settings) -> None:
    """Two instances share the database; a disable through one is seen by the other through
    LISTEN/NOTIFY: its periodic refresh is set to an hour, so nothing else can tell it."""
    portal = await register("portal")
    admin = await register("admin")
    async with running_gateway(make_settings(caller_refresh_seconds=3600)) as second:
        token = await get_token(second, portal)
        assert (await second.get("/v1/applications", headers=bearer(token))).status_code == 200
        disabled = await gateway.post(f"/v1/callers/{portal.id}/disable",
                                      headers=bearer(await get_token(gateway, admin)))
        assert disabled.status_code == 200

        async def refused() -> bool:
            return (await second.get("/v1/applications", headers=bearer(token))).status_code == 401

        await until(refused)


async def test_rotated_secret_revokes_older_tokens(gateway, register) -> None:
    case_worker = await register("case_worker")
    admin = await register("admin")
    old_token = await get_token(gateway, case_worker)
    rotated = await gateway.post(f"/v1/callers/{case_worker.id}/rotate-secret",
                                 headers=bearer(await get_token(gateway, admin)))
    assert rotated.status_code == 200
    new_secret = rotated.json()["secret"]
    assert new_secret != case_worker.secret
    assert (await gateway.get("/v1/contracts", headers=bearer(old_token))).status_code == 401
    stale = await gateway.post("/oauth/token", data={"grant_type": "client_credentials", "client_id": case_worker.id,
                                                     "client_secret": case_worker.secret})
    assert stale.status_code == 401
    case_worker.secret = new_secret
    fresh_token = await get_token(gateway, case_worker)
    assert (await gateway.get("/v1/contracts", headers=bearer(fresh_token))).status_code == 200


async def test_key_rotation_keeps_older_tokens_valid(gateway, register) -> None:
    portal = await register("portal")
    gw = gateway.gateway
    old_token = await get_token(gateway, portal)
    old_kid = jwt.get_unverified_header(old_token)["kid"]
    async with gw.sessionmaker() as session, session.begin():
        new_kid = await rotate_signing_key(session=session, master_key=gw.master_key,
                                           token_lifetime_seconds=gw.settings.token_lifetime_seconds)

    async def rotated() -> bool:  # the NOTIFY from the rotation reloads the ring
        return gw.keyring.signing_kid == new_kid

    await until(rotated)
    new_token = await get_token(gateway, portal)
    assert jwt.get_unverified_header(new_token)["kid"] == new_kid != old_kid
    kids = {k["kid"] for k in (await gateway.get("/.well-known/jwks.json")).json()["keys"]}
    assert {old_kid, new_kid} <= kids
    for token in (old_token, new_token):
        assert (await gateway.get("/v1/applications", headers=bearer(token))).status_code == 200


async def test_services_refuse_requests_that_bypass_the_gateway(standins, internal_keys) -> None:
    """Straight to a service over real HTTP: no internal token, a forged one, a spoofed caller
    header — all 401. Only a gateway-signed token passes."""
    private, _ = internal_keys
    url = standins["intake"] + "/v1/applications"
    forged = mint_internal_token(generate_ed25519_pem()[0], Caller("x", "admin", frozenset({"callers:admin"})), "r")
    async with httpx.AsyncClient() as client:
        for headers in ({}, {INTERNAL_TOKEN_HEADER: forged}, {"X-Qamqor-Caller-Id": "demo-admin"},
                        {"Authorization": "Bearer whatever"}):
            response = await client.get(url, headers=headers)
            assert response.status_code == 401, headers
            assert response.headers["content-type"] == PROBLEM_JSON
        genuine = mint_internal_token(private, Caller("p", "portal", frozenset({"applications:read"})), "r")
        assert (await client.get(url, headers={INTERNAL_TOKEN_HEADER: genuine})).status_code == 200
