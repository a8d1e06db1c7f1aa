"""The sandbox's eGov IDP: a signed assertion for a citizen, verifiable with the published JWKS."""

from __future__ import annotations

import httpx
import jwt
import pytest

from sandbox.idp import AUDIENCE, ISSUER

CITIZEN = "550211400017"


def test_assertion_verifies_against_the_published_keys(sandbox_url):
    with httpx.Client(base_url=sandbox_url) as client:
        config = client.get("/idp/.well-known/openid-configuration").json()
        assert config["issuer"] == ISSUER
        signed = client.post("/idp/sandbox/sign-in", json={"iin": CITIZEN, "method": "sms_otp"})
        assert signed.status_code == 200, signed.text
        token = signed.json()["id_token"]
        keys = jwt.PyJWKSet.from_dict(client.get(config["jwks_uri"]).json())
    kid = jwt.get_unverified_header(token)["kid"]
    key = next(k for k in keys.keys if k.key_id == kid)
    claims = jwt.decode(token, key.key, algorithms=["EdDSA"], audience=AUDIENCE, issuer=ISSUER)
    assert claims["sub"] == CITIZEN and claims["amr"] == ["sms_otp"]
    assert claims["exp"] - claims["iat"] == signed.json()["expires_in"]
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB"), key.key,
                   algorithms=["EdDSA"], audience=AUDIENCE, issuer=ISSUER)


@pytest.mark.parametrize("iin", ["550211400018", "12345", "55021140001x"])
def test_sign_in_refuses_what_is_not_an_iin(sandbox_url, iin):
    response = httpx.post(f"{sandbox_url}/idp/sandbox/sign-in", json={"iin": iin})
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["errors"][0]["field"] == "iin"
