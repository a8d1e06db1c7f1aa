"""Access tokens: RFC 6749 client credentials → an EdDSA JWT (RFC 9068 shape) with a `kid`. The
signing keys live in the gateway database (sealed with the master key), rotate, and stay
verifiable until the last token they signed has expired.

A portal acting for a citizen holds a token from an RFC 8693 token exchange: its `sub` is the
citizen's IIN and its `act` claim names the portal (`{"sub": <portal caller id>}`); `client_id` and
`cv` are the portal's, so disabling the portal or rotating its secret ends such tokens too."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gateway import repository
from gateway.callers import CallerRecord
from gateway.crypto import MasterKey, new_token_key, public_key_from_jwk
from gateway.models import SigningKeyRow
from shared.ids import uuid7
from shared.iin import is_valid_iin

TOKEN_ALGORITHM = "EdDSA"
TOKEN_TYPE = "at+jwt"  # RFC 9068


def _key_label(kid: str) -> str:
    return f"token-signing-key:{kid}"


class KeyRing:
    """The access-token keys every gateway instance shares through the database."""

    def __init__(self, master_key: MasterKey) -> None:
        self.master_key = master_key
        self.signing_kid: str | None = None
        self._signing_key: Any = None
        self._public: dict[str, Any] = {}
        self._jwks: dict[str, Any] = {"keys": []}
        self.version = 0  # bumped on every change, so verified-token caches can be dropped

    async def load(self, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
        async with sessionmaker() as session, session.begin():
            now = await repository.database_now(session)
            rows = await repository.signing_keys(session, now=now)
            if not any(row.retired_at is None for row in rows):
                await ensure_signing_key(session=session, master_key=self.master_key)
                rows = await repository.signing_keys(session, now=now)
        self._install(rows)

    def _install(self, rows: list[SigningKeyRow] | Any) -> None:
        public = {row.kid: public_key_from_jwk(row.public_jwk) for row in rows}
        active = next((row for row in rows if row.retired_at is None), None)
        if set(public) == set(self._public) and (active and active.kid) == self.signing_kid:
            return
        if active is not None:
            pem = self.master_key.open(active.private_key_sealed, _key_label(active.kid))
            self._signing_key = serialization.load_pem_private_key(pem, password=None)
            self.signing_kid = active.kid
        self._public = public
        self._jwks = {"keys": [row.public_jwk for row in rows]}
        self.version += 1

    def jwks(self) -> dict[str, Any]:
        return self._jwks

    def public_key(self, kid: str) -> Any:
        return self._public.get(kid)

    def sign(self, claims: dict[str, Any]) -> str:
        if self._signing_key is None:
            raise RuntimeError("no active token signing key")
        return jwt.encode(claims, self._signing_key, algorithm=TOKEN_ALGORITHM,
                          headers={"kid": self.signing_kid, "typ": TOKEN_TYPE})


async def ensure_signing_key(*, session: AsyncSession, master_key: MasterKey) -> None:
    """Create the first signing key unless another instance already did (advisory lock)."""
    await repository.lock_signing_keys(session)
    now = await repository.database_now(session)
    if not any(row.retired_at is None for row in await repository.signing_keys(session, now=now)):
        _add_key(session, master_key)
        await repository.notify_keys_changed(session)


def _add_key(session: AsyncSession, master_key: MasterKey) -> str:
    kid, private_pem, jwk = new_token_key()
    repository.add_signing_key(session, SigningKeyRow(
        kid=kid, algorithm=TOKEN_ALGORITHM, private_key_sealed=master_key.seal(private_pem, _key_label(kid)),
        public_jwk=jwk, created_at=datetime.now(timezone.utc)))
    return kid


async def rotate_signing_key(*, session: AsyncSession, master_key: MasterKey, token_lifetime_seconds: int,
                             leeway_seconds: int = 5) -> str:
    """A new key signs from now on; the previous one keeps verifying (and stays in the JWKS)
    until the last token it signed has expired."""
    await repository.lock_signing_keys(session)
    now = await repository.database_now(session)
    verify_until = now + timedelta(seconds=token_lifetime_seconds + leeway_seconds + 60)
    await repository.retire_signing_keys(session, now=now, verify_until=verify_until)
    kid = _add_key(session, master_key)
    await session.flush()
    await repository.notify_keys_changed(session)
    return kid


class InvalidToken(Exception):
    """A bearer token that is not (or no longer) acceptable; the message says why."""


@dataclass(frozen=True, slots=True)
class AccessClaims:
    caller_id: str
    scopes: frozenset[str]
    credential_version: int
    expires_at: float
    citizen_iin: str | None = None  # the citizen the caller (a portal) acts for


class AccessTokens:
    """Issues and verifies access tokens. A verified token is remembered (keyed by its exact
    text) until it expires, so the hot path does one dictionary lookup, not a signature check;
    the caller's current state is still checked on every request. Time comes from `clock`
    (unix seconds), for issuing and for every check of iat, nbf and exp."""

    def __init__(self, keyring: KeyRing, *, issuer: str, audience: str, lifetime: int, leeway: int,
                 cache_size: int = 20_000, clock: Callable[[], float] = time.time) -> None:
        self.keyring = keyring
        self.issuer = issuer
        self.audience = audience
        self.lifetime = lifetime
        self.leeway = leeway
        self.cache_size = cache_size
        self.clock = clock
        self._verified: dict[str, AccessClaims] = {}
        self._cache_version = keyring.version

    def issue(self, caller: CallerRecord, scopes: frozenset[str]) -> tuple[str, int]:
        now = int(self.clock())
        claims: dict[str, Any] = {
            "iss": self.issuer, "aud": self.audience, "sub": caller.id, "client_id": caller.id,
            "scope": " ".join(sorted(scopes)), "kind": caller.kind, "cv": caller.credential_version,
            "iat": now, "nbf": now, "exp": now + self.lifetime, "jti": str(uuid7()),
        }
        if caller.bank_code:
            claims["bank_code"] = caller.bank_code
        return self.keyring.sign(claims), self.lifetime

    def issue_for_citizen(self, caller: CallerRecord, scopes: frozenset[str], *, citizen_iin: str,
                          lifetime: int) -> tuple[str, int]:
        """RFC 8693 §4.1: the citizen is the subject, the portal the actor."""
        now = int(self.clock())
        claims: dict[str, Any] = {
            "iss": self.issuer, "aud": self.audience, "sub": citizen_iin, "act": {"sub": caller.id},
            "client_id": caller.id, "scope": " ".join(sorted(scopes)), "kind": caller.kind,
            "cv": caller.credential_version, "iat": now, "nbf": now, "exp": now + lifetime, "jti": str(uuid7()),
        }
        return self.keyring.sign(claims), lifetime

    def verify(self, token: str) -> AccessClaims:
        if self._cache_version != self.keyring.version:
            self._verified.clear()
            self._cache_version = self.keyring.version
        claims = self._verified.get(token)
        if claims is not None:
            if claims.expires_at + self.leeway > self.clock():
                return claims
            del self._verified[token]
            raise InvalidToken("The access token has expired.")
        claims = self._verify_signature(token)
        if len(self._verified) >= self.cache_size:
            self._verified.pop(next(iter(self._verified)))
        self._verified[token] = claims
        return claims

    def _verify_signature(self, token: str) -> AccessClaims:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.InvalidTokenError:
            raise InvalidToken("The access token is malformed.") from None
        if header.get("alg") != TOKEN_ALGORITHM or header.get("typ") != TOKEN_TYPE:
            raise InvalidToken("The access token has the wrong type or algorithm.")
        key = self.keyring.public_key(str(header.get("kid")))
        if key is None:
            raise InvalidToken("The access token was not signed by a current gateway key.")
        try:
            # PyJWT reads the system clock for iat/nbf/exp, and checks them before iss and aud;
            # those five are checked below, in the same order, against `clock`.
            claims = jwt.decode(token, key, algorithms=[TOKEN_ALGORITHM], options={
                "require": ["exp", "iat", "sub", "aud", "iss", "scope"], "verify_iat": False, "verify_nbf": False,
                "verify_exp": False, "verify_iss": False, "verify_aud": False})
        except jwt.InvalidTokenError:
            raise InvalidToken("The access token is not valid.") from None
        self._check_claims(claims)
        caller_id, citizen = str(claims["sub"]), None
        actor = claims.get("act")
        if actor is not None:  # a token acting for a citizen: the subject is the citizen
            if not isinstance(actor, dict) or actor.get("sub") != claims.get("client_id") or "act" in actor \
                    or not is_valid_iin(caller_id):
                raise InvalidToken("The access token is not valid.")
            caller_id, citizen = str(actor["sub"]), str(claims["sub"])
        return AccessClaims(caller_id, frozenset(str(claims["scope"]).split()), int(claims.get("cv", 0)),
                            float(claims["exp"]), citizen)

    def _check_claims(self, claims: dict[str, Any]) -> None:
        now = self.clock()
        try:
            issued, expires = int(claims["iat"]), int(claims["exp"])
            not_before = int(claims["nbf"]) if "nbf" in claims else None
        except (ValueError, TypeError, OverflowError):
            raise InvalidToken("The access token is not valid.") from None
        if issued > now + self.leeway or (not_before is not None and not_before > now + self.leeway):
            raise InvalidToken("The access token is not valid.")
        if expires <= now - self.leeway:
            raise InvalidToken("The access token has expired.")
        if claims["iss"] != self.issuer:
            raise InvalidToken("The access token is not valid.")
        audience = claims["aud"]
        if not audience:
            raise InvalidToken("The access token is not valid.")
        audiences = [audience] if isinstance(audience, str) else audience
        if not isinstance(audiences, list) or self.audience not in audiences:
            raise InvalidToken("The access token is meant for another audience.")


class OAuthError(Exception):
    """RFC 6749 §5.2 / RFC 8693 §2.2.2 error: `error` is the registered code; 401 only for
    invalid_client, 503 for temporarily_unavailable, 400 otherwise."""

    def __init__(self, error: str, description: str, *, status: int | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(description)
        self.error = error
        self.description = description
        self.status = status or (401 if error == "invalid_client" else 400)
        self.headers = headers or {}


def granted_scopes(held: frozenset[str], requested: str | None) -> frozenset[str]:
    """What a token grants: everything `held`, or the narrower `requested` (space-separated)."""
    if requested is None or not requested.strip():
        return held
    wanted = frozenset(requested.split())
    if not wanted <= held:
        raise OAuthError("invalid_scope", "The requested scope exceeds what this client is granted.")
    return wanted
