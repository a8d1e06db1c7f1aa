"""Who is calling: the caller the gateway authenticated, carried to services in a short-lived
internal token (EdDSA JWT) that only the gateway can sign."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

INTERNAL_TOKEN_HEADER = "x-qamqor-internal-token"
INTERNAL_AUDIENCE = "qamqor-internal"
INTERNAL_ISSUER = "qamqor-gateway"
INTERNAL_TOKEN_TTL_SECONDS = 60

CALLER_KINDS = ("portal", "fdc", "bank", "sms_gateway", "ops", "case_worker", "admin")


@dataclass(frozen=True, slots=True)
class Caller:
    """The system that calls (`id`, `kind`, its granted `scopes`), and for whom.

    `citizen_iin`: the portal acts for this citizen (a token exchanged for the citizen's eGov IDP
    assertion, RFC 8693); services show such a caller only that citizen's families.
    `regions`: the two-digit KATO region prefixes a case worker's caller serves.
    """

    id: str
    kind: str
    scopes: frozenset[str] = field(default_factory=frozenset)
    bank_code: str | None = None
    citizen_iin: str | None = None
    regions: frozenset[str] = field(default_factory=frozenset)

    def has(self, scope: str) -> bool:
        return scope in self.scopes


def generate_ed25519_pem() -> tuple[bytes, bytes]:
    """A new (private, public) PEM key pair."""
    key = Ed25519PrivateKey.generate()
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return private, public


def mint_internal_token(private_pem: bytes, caller: Caller, request_id: str, *, ttl: int = INTERNAL_TOKEN_TTL_SECONDS) -> str:
    now = int(time.time())
    claims = {
        "iss": INTERNAL_ISSUER,
        "aud": INTERNAL_AUDIENCE,
        "sub": caller.id,
        "kind": caller.kind,
        "scopes": sorted(caller.scopes),
        "bank_code": caller.bank_code,
        "citizen": caller.citizen_iin,
        "regions": sorted(caller.regions),
        "rid": request_id,
        "iat": now,
        "exp": now + ttl,
    }
    return jwt.encode(claims, private_pem, algorithm="EdDSA")


class InternalTokenVerifier:
    """Verifies internal tokens. The gateway reuses one token per caller for a few seconds, so a
    verified token is remembered until it expires: a signature check costs more than the rest
    of a typical request."""

    _CACHE_LIMIT = 10_000

    def __init__(self, public_pem: bytes) -> None:
        self._key = serialization.load_pem_public_key(public_pem)
        self._verified: dict[str, tuple[Caller, int]] = {}

    def verify(self, token: str) -> Caller:
        """Raises `jwt.InvalidTokenError` for anything but a valid, unexpired gateway token."""
        cached = self._verified.get(token)
        if cached is not None:
            caller, expires = cached
            if time.time() < expires:
                return caller
            del self._verified[token]
        caller, expires = self._verify(token)
        if len(self._verified) >= self._CACHE_LIMIT:
            self._verified.clear()
        self._verified[token] = (caller, expires)
        return caller

    def _verify(self, token: str) -> tuple[Caller, int]:
        claims = jwt.decode(
            token,
            self._key,
            algorithms=["EdDSA"],
            audience=INTERNAL_AUDIENCE,
            issuer=INTERNAL_ISSUER,
            options={"require": ["exp", "iat", "sub", "aud", "iss"]},
        )
        return Caller(
            id=claims["sub"],
            kind=claims.get("kind", ""),
            scopes=frozenset(claims.get("scopes", ())),
            bank_code=claims.get("bank_code"),
            citizen_iin=claims.get("citizen"),
            regions=frozenset(claims.get("regions") or ()),
        ), int(claims["exp"])
