"""The national identity provider (eGov IDP), as the sandbox plays it.

A citizen signs in to the e-government portal with eGov IDP; the portal receives an identity
assertion (an OpenID Connect ID token: a JWT whose subject is the citizen's IIN) signed with the
IDP's key, which the IDP publishes as a JWKS. The portal hands that assertion to Qamqor's gateway
in a token exchange (RFC 8693) to act for the citizen; the gateway verifies it against the JWKS.

Here the sign-in itself is a control call (`POST /idp/sandbox/sign-in`): the sandbox has no
citizens' passwords or digital signatures to check. The signing key is made when the process
starts, so a restarted sandbox publishes a new key (the gateway fetches the JWKS again when it
meets an unknown `kid`).
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
from typing import Annotated, Any, Literal

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field

from shared.errors import InvalidInput, field_error
from shared.iin import is_valid_iin

ASSERTION_LIFETIME_SECONDS = 300
# The issuer the sandbox signs as; the gateway trusts assertions of exactly this issuer, with the
# keys published at <sandbox>/idp/.well-known/jwks.json.
ISSUER = "https://idp.egov.sandbox.qamqor.kz"
# The audience eGov IDP puts in assertions it issues for Qamqor's portal sign-ins.
AUDIENCE = "qamqor"
# Where the sandbox publishes the IDP's keys (under the sandbox's base URL).
JWKS_PATH = "/idp/.well-known/jwks.json"
SIGN_IN_PATH = "/idp/sandbox/sign-in"


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


class IdentityProvider:
    def __init__(self) -> None:
        self._key = Ed25519PrivateKey.generate()
        public = self._key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        self.jwk = {"kty": "OKP", "crv": "Ed25519", "x": _b64url(public), "use": "sig", "alg": "EdDSA"}
        # RFC 7638 thumbprint as the key id.
        canonical = f'{{"crv":"Ed25519","kty":"OKP","x":"{self.jwk["x"]}"}}'.encode()
        self.jwk["kid"] = _b64url(hashlib.sha256(canonical).digest())

    def sign_in(self, *, issuer: str, iin: str, method: str, audience: str = AUDIENCE,
                lifetime: int = ASSERTION_LIFETIME_SECONDS) -> tuple[str, int]:
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": issuer, "sub": iin, "aud": audience, "iat": now, "nbf": now, "exp": now + lifetime,
            "auth_time": now, "jti": secrets.token_urlsafe(16), "amr": [method],
        }
        token = jwt.encode(claims, self._key, algorithm="EdDSA", headers={"kid": self.jwk["kid"], "typ": "JWT"})
        return token, lifetime


class SignInIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    iin: Annotated[str, Field(pattern=r"^\d{12}$", description="The citizen's IIN")]
    # How the citizen proved who they are at eGov: a digital signature (EDS) or a one-time SMS code.
    method: Literal["eds", "sms_otp"] = "eds"
    audience: str = Field(default=AUDIENCE, max_length=100)
    lifetime_seconds: int = Field(default=ASSERTION_LIFETIME_SECONDS, ge=1, le=3600)


class SignInOut(BaseModel):
    id_token: str
    token_type: Literal["id_token"] = "id_token"
    expires_in: int


def create_router(idp: IdentityProvider) -> APIRouter:
    router = APIRouter(prefix="/idp", tags=["identity provider (eGov IDP)"])

    @router.get("/.well-known/openid-configuration", summary="Where the IDP's keys are published")
    async def configuration(request: Request) -> dict[str, Any]:
        return {"issuer": ISSUER, "jwks_uri": str(request.url_for("idp_jwks")),
                "id_token_signing_alg_values_supported": ["EdDSA"], "subject_types_supported": ["public"]}

    @router.get("/.well-known/jwks.json", name="idp_jwks", summary="The IDP's public signing keys")
    async def jwks() -> dict[str, Any]:
        return {"keys": [idp.jwk]}

    @router.post("/sandbox/sign-in", response_model=SignInOut, tags=["control"],
                 summary="A citizen signs in at eGov: the assertion the portal would receive")
    async def sign_in(body: SignInIn) -> SignInOut:
        if not is_valid_iin(body.iin):
            raise InvalidInput("Not a valid IIN.", errors=[field_error("iin", "check digit or birth date is wrong")])
        token, lifetime = idp.sign_in(issuer=ISSUER, iin=body.iin, method=body.method,
                                      audience=body.audience, lifetime=body.lifetime_seconds)
        return SignInOut(id_token=token, expires_in=lifetime)

    return router
