"""Identity assertions of the national identity provider (eGov IDP).

A citizen signs in to the portal with eGov IDP; the portal receives an assertion (an OpenID
Connect ID token: a JWT whose subject is the citizen's IIN) signed with the IDP's key, and hands
it to the gateway in a token exchange (RFC 8693) to act for the citizen. Here it is verified
against the IDP's published keys (JWKS): signature, issuer, audience, exp/nbf/iat with the
configured leeway, and a subject that is a valid IIN.

The JWKS is fetched when first needed, kept for `max_age` seconds, and fetched again at once
when an assertion names a key not in it (the IDP rotated its key) — but not more often than
every `min_refetch` seconds, so assertions with made-up key ids cannot make the gateway hammer
the IDP. Time comes from `clock` (unix seconds).

Nothing here logs an assertion or an IIN."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
import jwt
import orjson

from shared.iin import is_valid_iin

log = logging.getLogger("qamqor.gateway.idp")

# Asymmetric algorithms only: never "none", never an HMAC the IDP's public key could be abused as.
ALGORITHMS = ("EdDSA", "ES256", "ES384", "RS256", "PS256")


class InvalidAssertion(Exception):
    """The assertion is not acceptable; the message says why (it never repeats the assertion)."""


class IdpUnavailable(Exception):
    """The IDP's keys could not be fetched and none are known."""


@dataclass(frozen=True, slots=True)
class CitizenAssertion:
    iin: str
    expires_at: int


JwksFetcher = Callable[[str], Awaitable[dict[str, Any]]]


class IdpAssertions:
    def __init__(self, *, jwks_url: str, issuer: str, audience: str, leeway: int, fetch: JwksFetcher,
                 max_age: float = 3600.0, min_refetch: float = 30.0,
                 clock: Callable[[], float] = time.time) -> None:
        self.jwks_url = jwks_url
        self.issuer = issuer
        self.audience = audience
        self.leeway = leeway
        self._fetch = fetch
        self.max_age = max_age
        self.min_refetch = min_refetch
        self.clock = clock
        self._keys: dict[str, jwt.PyJWK] = {}
        self._fetched_at: float | None = None  # the last successful fetch
        self._attempted_at: float | None = None  # the last attempt, successful or not
        self._lock = asyncio.Lock()
        self.fetches = 0  # how many times the JWKS was fetched (tests and metrics read it)

    async def verify(self, assertion: str) -> CitizenAssertion:
        try:
            header = jwt.get_unverified_header(assertion)
        except jwt.InvalidTokenError:
            raise InvalidAssertion("The subject_token is not a JWT.") from None
        algorithm, kid = header.get("alg"), header.get("kid")
        if algorithm not in ALGORITHMS:
            raise InvalidAssertion("The subject_token is signed with an algorithm that is not accepted.")
        if not isinstance(kid, str) or not kid:
            raise InvalidAssertion("The subject_token names no key (kid).")
        key = await self._key(kid)
        if key is None:
            raise InvalidAssertion("The subject_token was not signed by a key of the identity provider.")
        if key.algorithm_name and key.algorithm_name != algorithm:
            raise InvalidAssertion("The subject_token's algorithm does not match its key.")
        try:
            # iat/nbf/exp, iss and aud are checked below against `clock`.
            claims = jwt.decode(assertion, key.key, algorithms=[algorithm], options={
                "require": ["exp", "iat", "sub", "iss", "aud"], "verify_exp": False, "verify_iat": False,
                "verify_nbf": False, "verify_iss": False, "verify_aud": False})
        except jwt.InvalidTokenError:
            raise InvalidAssertion("The subject_token's signature or claims are not valid.") from None
        return self._check(claims)

    def _check(self, claims: dict[str, Any]) -> CitizenAssertion:
        now = self.clock()
        try:
            issued, expires = int(claims["iat"]), int(claims["exp"])
            not_before = int(claims["nbf"]) if "nbf" in claims else None
        except (ValueError, TypeError, OverflowError):
            raise InvalidAssertion("The subject_token's time claims are not valid.") from None
        if issued > now + self.leeway or (not_before is not None and not_before > now + self.leeway):
            raise InvalidAssertion("The subject_token is not valid yet.")
        if expires <= now - self.leeway:
            raise InvalidAssertion("The subject_token has expired.")
        if claims["iss"] != self.issuer:
            raise InvalidAssertion("The subject_token was issued by another issuer.")
        audience = claims["aud"]
        audiences = [audience] if isinstance(audience, str) else audience
        if not isinstance(audiences, list) or self.audience not in audiences:
            raise InvalidAssertion("The subject_token is meant for another audience.")
        subject = claims["sub"]
        if not isinstance(subject, str) or not is_valid_iin(subject):
            raise InvalidAssertion("The subject_token's subject is not a valid IIN.")
        return CitizenAssertion(subject, expires)

    def _fresh(self, now: float) -> bool:
        return self._fetched_at is not None and now - self._fetched_at < self.max_age

    async def _key(self, kid: str) -> jwt.PyJWK | None:
        if kid in self._keys and self._fresh(self.clock()):
            return self._keys[kid]
        async with self._lock:  # one fetch at a time; the others wait for its keys
            now = self.clock()
            if kid in self._keys and self._fresh(now):
                return self._keys[kid]
            if self._attempted_at is None or now - self._attempted_at >= self.min_refetch:
                self._attempted_at = now
                await self._refresh(now)
            elif not self._keys:
                raise IdpUnavailable("The identity provider's keys cannot be fetched right now.")
        return self._keys.get(kid)

    async def _refresh(self, now: float) -> None:
        try:
            document = await self._fetch(self.jwks_url)
            keys = {}
            for entry in document.get("keys", []):
                if not isinstance(entry, dict) or not entry.get("kid") or entry.get("use", "sig") != "sig":
                    continue
                try:
                    keys[str(entry["kid"])] = jwt.PyJWK(entry)
                except (jwt.PyJWKError, jwt.InvalidKeyError, ValueError, TypeError):
                    continue  # a key this gateway cannot use; the others still count
        except Exception as exc:  # noqa: BLE001 — the IDP is down or answered nonsense
            log.warning("identity provider keys could not be fetched: %s", type(exc).__name__)
            if not self._keys:
                raise IdpUnavailable("The identity provider's keys cannot be fetched right now.") from None
            return  # keep verifying with the keys already known
        self.fetches += 1
        self._keys = keys
        self._fetched_at = now


def http_fetcher(session: aiohttp.ClientSession, *, timeout: float = 3.0, limit: int = 65_536) -> JwksFetcher:
    """Fetches a JWKS with the gateway's aiohttp session: bounded in time and size."""

    async def fetch(url: str) -> dict[str, Any]:
        async with session.get(url, timeout=aiohttp.ClientTimeout(total=timeout)) as response:
            response.raise_for_status()
            body = await response.content.read(limit + 1)
            if len(body) > limit:
                raise ValueError("JWKS too large")
            document = orjson.loads(body)
            if not isinstance(document, dict):
                raise ValueError("JWKS is not an object")
            return document

    return fetch
