"""Callers, access tokens and bank signatures: what the gateway decides, without HTTP.

- Callers: created with argon2id-hashed secrets (shown once), rotated, disabled; every change
  is announced with pg_notify so every gateway instance sees it at once.
- Tokens: RFC 6749 client credentials → an EdDSA JWT (RFC 9068 shape) with a `kid`; keys live
  in the database (sealed), rotate, and stay verifiable until their last token expires.
- Bank signatures: HMAC-SHA256 over timestamp, nonce, method, path and body hash (issue 3).
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import jwt
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import serialization
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gateway import repository
from gateway.crypto import (
    MasterKey, SecretHasher, bank_signature, new_client_secret, new_signing_secret, new_token_key,
    public_key_from_jwk, signatures_match,
)
from gateway.models import CallerRow, SigningKeyRow
from gateway.routes import DEFAULT_SCOPES, SCOPES
from gateway.settings import GatewaySettings
from shared.errors import Conflict, InvalidInput, NotFound, field_error
from shared.identity import CALLER_KINDS, Caller
from shared.ids import uuid7

log = logging.getLogger("qamqor.gateway")

CALLER_ID_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{1,63}$")
BANK_CODE_RE = re.compile(r"^[A-Z]{6}[A-Z0-9]{2}(?:[A-Z0-9]{3})?$")  # SWIFT BIC
NONCE_RE = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
TIMESTAMP_RE = re.compile(r"^[0-9]{1,12}$")
SIGNATURE_RE = re.compile(r"^[0-9a-f]{64}$")
TOKEN_ALGORITHM = "EdDSA"
TOKEN_TYPE = "at+jwt"  # RFC 9068


def _signing_label(caller_id: str) -> str:
    return f"bank-signing-secret:{caller_id}"


def _key_label(kid: str) -> str:
    return f"token-signing-key:{kid}"


# ---- the master key -------------------------------------------------------------------------


async def load_master_key(*, settings: GatewaySettings, session: AsyncSession) -> MasterKey:
    """The key that seals secrets at rest: the configured file (required in production), else —
    development and test only — a key kept in the gateway database, shared by every process
    that uses it."""
    if settings.master_key_file is not None:
        return MasterKey.load(Path(settings.master_key_file), create=False)
    if settings.environment == "production":
        raise RuntimeError("master_key_file must be set in production")
    return MasterKey(await repository.dev_master_key(session, candidate=os.urandom(32)))


# ---- callers ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CallerRecord:
    """What every gateway instance keeps in memory about a caller."""

    id: str
    kind: str
    scopes: frozenset[str]
    enabled: bool
    bank_code: str | None
    credential_version: int
    secret_hash: str
    signing_secret: bytes | None

    @staticmethod
    def from_row(row: CallerRow, master_key: MasterKey) -> "CallerRecord":
        signing = None
        if row.signing_secret_sealed:
            try:
                signing = master_key.open(row.signing_secret_sealed, _signing_label(row.id))
            except InvalidTag:
                # Sealed under another master key: this caller's signed requests are refused
                # (401) until its secret is rotated; every other caller keeps working.
                log.error("signing secret of %s cannot be unsealed with this master key", row.id)
        return CallerRecord(row.id, row.kind, frozenset(row.scopes), row.enabled, row.bank_code,
                            row.credential_version, row.secret_hash, signing)

    def identity(self, scopes: frozenset[str]) -> Caller:
        return Caller(id=self.id, kind=self.kind, scopes=scopes, bank_code=self.bank_code)


@dataclass(frozen=True)
class IssuedCredentials:
    """Secrets exist in clear only here, once; the database keeps a hash (and a sealed copy of
    the bank signing secret, which HMAC needs)."""

    caller: dict[str, Any]
    secret: str
    signing_secret: str | None

    def as_dict(self) -> dict[str, Any]:
        out = dict(self.caller, secret=self.secret)
        if self.signing_secret is not None:
            out["signing_secret"] = self.signing_secret
        return out


def caller_view(row: CallerRow) -> dict[str, Any]:
    return {
        "id": row.id,
        "kind": row.kind,
        "scopes": sorted(row.scopes),
        "enabled": row.enabled,
        "bank_code": row.bank_code,
        "credential_version": row.credential_version,
        "created_at": row.created_at.isoformat() if row.created_at else None,
        "disabled_at": row.disabled_at.isoformat() if row.disabled_at else None,
    }


def validate_new_caller(caller_id: str, kind: str, scopes: list[str] | None, bank_code: str | None) -> frozenset[str]:
    errors = []
    if not CALLER_ID_RE.match(caller_id or ""):
        errors.append(field_error("id", "2–64 characters: lowercase letters, digits, '.', '_' or '-'"))
    if kind not in CALLER_KINDS:
        errors.append(field_error("kind", f"must be one of {', '.join(CALLER_KINDS)}"))
    granted = frozenset(scopes) if scopes is not None else DEFAULT_SCOPES.get(kind, frozenset())
    unknown = sorted(s for s in granted if s not in SCOPES)
    if unknown:
        errors.append(field_error("scopes", f"unknown scope(s): {', '.join(unknown)}"))
    if scopes is not None and not granted:
        errors.append(field_error("scopes", "at least one scope"))
    if kind == "bank":
        if not bank_code or not BANK_CODE_RE.match(bank_code):
            errors.append(field_error("bank_code", "a bank needs its BIC, e.g. HSBKKZKX"))
    elif bank_code is not None:
        errors.append(field_error("bank_code", "only a bank caller has a bank code"))
    if errors:
        raise InvalidInput("The caller is not valid.", errors=errors)
    return granted


async def create_caller(
    *, session: AsyncSession, hasher: SecretHasher, master_key: MasterKey, caller_id: str, kind: str,
    scopes: list[str] | None = None, bank_code: str | None = None,
) -> IssuedCredentials:
    granted = validate_new_caller(caller_id, kind, scopes, bank_code)
    if await repository.get_caller(session, caller_id) is not None:
        raise Conflict(f"A caller with id {caller_id!r} already exists.")
    secret = new_client_secret()
    signing = new_signing_secret() if kind == "bank" else None
    row = CallerRow(
        id=caller_id, kind=kind, scopes=sorted(granted), enabled=True, bank_code=bank_code,
        credential_version=1, secret_hash=await asyncio.to_thread(hasher.hash, secret),
        signing_secret_sealed=master_key.seal(signing.encode(), _signing_label(caller_id)) if signing else None,
    )
    repository.add_caller(session, row)
    await session.flush()
    await session.refresh(row)
    await repository.notify_caller_changed(session, caller_id)
    return IssuedCredentials(caller_view(row), secret, signing)


async def _existing(session: AsyncSession, caller_id: str) -> CallerRow:
    row = await repository.get_caller(session, caller_id, for_update=True)
    if row is None:
        raise NotFound(f"No caller with id {caller_id!r}.")
    return row


async def rotate_secret(
    *, session: AsyncSession, hasher: SecretHasher, master_key: MasterKey, caller_id: str,
) -> IssuedCredentials:
    """New client secret (and, for a bank, a new signing secret). Tokens issued before the
    rotation stop working: a rotation is what one does after a leak."""
    row = await _existing(session, caller_id)
    secret = new_client_secret()
    signing = new_signing_secret() if row.kind == "bank" else None
    row.secret_hash = await asyncio.to_thread(hasher.hash, secret)
    row.credential_version += 1
    if signing is not None:
        row.signing_secret_sealed = master_key.seal(signing.encode(), _signing_label(row.id))
    row.updated_at = datetime.now(timezone.utc)
    await session.flush()
    await repository.notify_caller_changed(session, caller_id)
    return IssuedCredentials(caller_view(row), secret, signing)


async def set_enabled(*, session: AsyncSession, caller_id: str, enabled: bool) -> dict[str, Any]:
    row = await _existing(session, caller_id)
    if row.enabled != enabled:
        row.enabled = enabled
        row.disabled_at = None if enabled else datetime.now(timezone.utc)
        row.updated_at = datetime.now(timezone.utc)
        await session.flush()
        await repository.notify_caller_changed(session, caller_id)
    return caller_view(row)


async def get_caller(*, session: AsyncSession, caller_id: str) -> dict[str, Any]:
    row = await repository.get_caller(session, caller_id)
    if row is None:
        raise NotFound(f"No caller with id {caller_id!r}.")
    return caller_view(row)


async def list_callers(*, session: AsyncSession) -> list[dict[str, Any]]:
    return [caller_view(row) for row in await repository.list_callers(session)]


# ---- token signing keys -------------------------------------------------------------------


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


# ---- access tokens ------------------------------------------------------------------------


class InvalidToken(Exception):
    """A bearer token that is not (or no longer) acceptable; the message says why."""


@dataclass(frozen=True, slots=True)
class AccessClaims:
    caller_id: str
    scopes: frozenset[str]
    credential_version: int
    expires_at: float


class AccessTokens:
    """Issues and verifies access tokens. A verified token is remembered (keyed by its exact
    text) until it expires, so the hot path does one dictionary lookup, not a signature check;
    the caller's current state is still checked on every request."""

    def __init__(self, keyring: KeyRing, *, issuer: str, audience: str, lifetime: int, leeway: int,
                 cache_size: int = 20_000) -> None:
        self.keyring = keyring
        self.issuer = issuer
        self.audience = audience
        self.lifetime = lifetime
        self.leeway = leeway
        self.cache_size = cache_size
        self._verified: dict[str, AccessClaims] = {}
        self._cache_version = keyring.version

    def issue(self, caller: CallerRecord, scopes: frozenset[str]) -> tuple[str, int]:
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.issuer, "aud": self.audience, "sub": caller.id, "client_id": caller.id,
            "scope": " ".join(sorted(scopes)), "kind": caller.kind, "cv": caller.credential_version,
            "iat": now, "nbf": now, "exp": now + self.lifetime, "jti": str(uuid7()),
        }
        if caller.bank_code:
            claims["bank_code"] = caller.bank_code
        return self.keyring.sign(claims), self.lifetime

    def verify(self, token: str) -> AccessClaims:
        if self._cache_version != self.keyring.version:
            self._verified.clear()
            self._cache_version = self.keyring.version
        claims = self._verified.get(token)
        if claims is not None:
            if claims.expires_at + self.leeway > time.time():
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
            claims = jwt.decode(token, key, algorithms=[TOKEN_ALGORITHM], audience=self.audience,
                                issuer=self.issuer, leeway=self.leeway,
                                options={"require": ["exp", "iat", "sub", "aud", "iss", "scope"]})
        except jwt.ExpiredSignatureError:
            raise InvalidToken("The access token has expired.") from None
        except jwt.InvalidAudienceError:
            raise InvalidToken("The access token is meant for another audience.") from None
        except jwt.InvalidTokenError:
            raise InvalidToken("The access token is not valid.") from None
        return AccessClaims(str(claims["sub"]), frozenset(str(claims["scope"]).split()),
                            int(claims.get("cv", 0)), float(claims["exp"]))


class OAuthError(Exception):
    """RFC 6749 §5.2 error: `error` is the registered code, 401 only for invalid_client."""

    def __init__(self, error: str, description: str) -> None:
        super().__init__(description)
        self.error = error
        self.description = description
        self.status = 401 if error == "invalid_client" else 400


def granted_scopes(caller: CallerRecord, requested: str | None) -> frozenset[str]:
    if requested is None or not requested.strip():
        return caller.scopes
    wanted = frozenset(requested.split())
    if not wanted <= caller.scopes:
        raise OAuthError("invalid_scope", "The requested scope exceeds what this client is granted.")
    return wanted


# ---- bank signatures ----------------------------------------------------------------------


class SignatureRejected(Exception):
    """A signed bank request that must be refused (401); the message says why."""


@dataclass(frozen=True, slots=True)
class SignedRequest:
    nonce: str
    timestamp: int


def check_bank_signature(
    *, caller: CallerRecord, headers: Mapping[str, str], method: str, path: str, body: bytes,
    now: float, window_seconds: int,
) -> SignedRequest:
    """Everything but the nonce's freshness, which needs the shared store. The signature is
    checked before the clock so that an unsigned request learns nothing about either."""
    timestamp = headers.get("x-qamqor-timestamp", "")
    nonce = headers.get("x-qamqor-nonce", "")
    signature = headers.get("x-qamqor-signature", "")
    if not (timestamp and nonce and signature):
        raise SignatureRejected("X-Qamqor-Timestamp, X-Qamqor-Nonce and X-Qamqor-Signature are required.")
    if not TIMESTAMP_RE.match(timestamp):
        raise SignatureRejected("X-Qamqor-Timestamp must be unix seconds.")
    if not NONCE_RE.match(nonce):
        raise SignatureRejected("X-Qamqor-Nonce must be 16–64 URL-safe characters.")
    if caller.signing_secret is None:
        raise SignatureRejected("This caller has no signing secret.")
    expected = bank_signature(caller.signing_secret, timestamp=timestamp, nonce=nonce, method=method,
                              path=path, body=body)
    # compare_digest on every input (even a malformed one) so timing tells nothing.
    if not signatures_match(expected, signature) or not SIGNATURE_RE.match(signature):
        raise SignatureRejected("The request signature does not match.")
    if abs(now - int(timestamp)) > window_seconds:
        raise SignatureRejected(f"X-Qamqor-Timestamp is more than {window_seconds} s away from the gateway clock.")
    return SignedRequest(nonce, int(timestamp))
