"""The two grants of `POST /oauth/token`.

- Client credentials (RFC 6749 §4.4): a caller authenticates with its id and secret and gets a
  token of its own.
- Token exchange (RFC 8693): a portal acts for a citizen. It sends the citizen's eGov IDP
  assertion as `subject_token` and its own access token as `actor_token`, and gets a short-lived
  token whose subject is the citizen's IIN and whose `act` claim names the portal. Only a portal
  caller may act for citizens. The token lives `citizen_token_lifetime_seconds` (300 s), never
  longer than the assertion it came from; it carries the portal's client id and credential
  version, so disabling the portal or rotating its secret ends it at once.

Every refusal is an `OAuthError` with its RFC 6749 §5.2 / RFC 8693 §2.2.2 code. Nothing here logs
a token, an assertion or an IIN.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from gateway.callers import CallerRecord
from gateway.directory import RegistryUnreachable
from gateway.frontdoor import Gateway
from gateway.idp import IdpUnavailable, InvalidAssertion
from gateway.ratelimit import retry_after_header
from gateway.schemas import ACCESS_TOKEN_TYPE, ID_TOKEN_TYPE, JWT_TOKEN_TYPE
from gateway.tokens import InvalidToken, OAuthError, granted_scopes
from shared.errors import QamqorError

SUBJECT_TOKEN_TYPES = frozenset({ID_TOKEN_TYPE, JWT_TOKEN_TYPE})


@dataclass(frozen=True, slots=True)
class Issued:
    access_token: str
    expires_in: int
    scopes: frozenset[str]
    issued_token_type: str | None = None


def _rate_limited(wait: float, detail: str) -> QamqorError:
    return QamqorError(detail, status=429, slug="rate-limited", title="Too many requests",
                       headers={"Retry-After": retry_after_header(wait)})


async def authenticate_client(gw: Gateway, client_id: str, secret: str) -> CallerRecord:
    """The caller whose secret this is; invalid_client otherwise. Argon2id: slow by design, so
    the token endpoint has its own bucket per client id and at most two checks run at once."""
    wait = gw.buckets.take("oauth:" + client_id[:64], gw.settings.token_rate_limit)
    if wait:
        raise _rate_limited(wait, "Too many token requests for this client.")
    record = await gw.directory.lookup(client_id) if client_id else None
    async with gw.argon2_slots:
        ok = await asyncio.to_thread(gw.hasher.verify, record.secret_hash if record else None, secret)
        if not ok and record is not None:
            # The secret may have been rotated through another instance a moment ago.
            fresh = await gw.directory.reload_one(client_id)
            if fresh is not None and fresh.secret_hash != record.secret_hash:
                record = fresh
                ok = await asyncio.to_thread(gw.hasher.verify, record.secret_hash, secret)
    if not ok or record is None or not record.enabled:
        raise OAuthError("invalid_client", "Client authentication failed.")
    return record


async def client_credentials(gw: Gateway, form: dict[str, str], client: tuple[str, str] | None) -> Issued:
    if client is None or not client[0] or not client[1]:
        raise OAuthError("invalid_client", "Client authentication failed.")
    caller = await authenticate_client(gw, *client)
    scopes = granted_scopes(caller.scopes, form.get("scope"))
    token, expires_in = gw.tokens.issue(caller, scopes)
    return Issued(token, expires_in, scopes)


def _required(form: dict[str, str], name: str) -> str:
    value = form.get(name, "")
    if not value:
        raise OAuthError("invalid_request", f"{name} is required for a token exchange.")
    return value


async def _actor(gw: Gateway, actor_token: str) -> tuple[CallerRecord, frozenset[str]]:
    """The portal behind the actor token, as it is now, and the scopes its token grants."""
    try:
        claims = gw.tokens.verify(actor_token)
    except InvalidToken as exc:
        raise OAuthError("invalid_request", f"The actor_token is not valid: {exc}") from None
    if claims.citizen_iin is not None:
        raise OAuthError("invalid_request", "The actor_token must be the portal's own token, not one that "
                                            "already acts for a citizen.")
    try:
        caller = await gw.directory.find(claims.caller_id)
    except RegistryUnreachable:
        raise OAuthError("temporarily_unavailable", "The caller registry cannot be reached; try again shortly.",
                         status=503, headers={"Retry-After": "1"}) from None
    if caller is None or not caller.enabled:
        raise OAuthError("invalid_request", "The actor_token is not valid: the caller is disabled.")
    if caller.credential_version != claims.credential_version:
        raise OAuthError("invalid_request", "The actor_token is not valid: the caller's credentials were rotated.")
    return caller, claims.scopes & caller.scopes


async def token_exchange(gw: Gateway, form: dict[str, str], client: tuple[str, str] | None) -> Issued:
    if gw.idp is None:
        raise OAuthError("unsupported_grant_type", "Token exchange needs an identity provider, and none is "
                                                   "configured (QAMQOR_GATEWAY_IDP_JWKS_URL).")
    subject_token = _required(form, "subject_token")
    subject_type = _required(form, "subject_token_type")
    actor_token = _required(form, "actor_token")
    actor_type = _required(form, "actor_token_type")
    if subject_type not in SUBJECT_TOKEN_TYPES:
        raise OAuthError("invalid_request", f"subject_token_type must be {ID_TOKEN_TYPE} (or {JWT_TOKEN_TYPE}).")
    if actor_type != ACCESS_TOKEN_TYPE:
        raise OAuthError("invalid_request", f"actor_token_type must be {ACCESS_TOKEN_TYPE}.")
    if form.get("requested_token_type", ACCESS_TOKEN_TYPE) != ACCESS_TOKEN_TYPE:
        raise OAuthError("invalid_request", f"Only {ACCESS_TOKEN_TYPE} can be requested.")
    if form.get("audience", gw.settings.token_audience) != gw.settings.token_audience or "resource" in form:
        raise OAuthError("invalid_target", f"Tokens are issued only for {gw.settings.token_audience}.")

    caller, actor_scopes = await _actor(gw, actor_token)
    if client is not None and client[0] != caller.id:
        raise OAuthError("invalid_request", "The client is not the actor of the actor_token.")
    if client is not None and client[1]:
        await authenticate_client(gw, *client)
    if caller.kind != "portal":
        raise OAuthError("unauthorized_client", "Only a portal caller may act for citizens.")
    wait = gw.buckets.take(caller.id, gw.settings.rate_limit_for(caller.kind))
    if wait:
        raise _rate_limited(wait, f"The rate limit for {caller.kind} callers was exceeded.")
    try:
        citizen = await gw.idp.verify(subject_token)
    except InvalidAssertion as exc:
        raise OAuthError("invalid_grant", str(exc)) from None
    except IdpUnavailable as exc:
        raise OAuthError("temporarily_unavailable", str(exc), status=503, headers={"Retry-After": "5"}) from None

    scopes = granted_scopes(actor_scopes, form.get("scope"))
    # Never longer than the assertion: one accepted only within the leeway has no life to give.
    remaining = citizen.expires_at - int(gw.tokens.clock())
    if remaining < 1:
        raise OAuthError("invalid_grant", "The subject_token has expired.")
    lifetime = min(gw.settings.citizen_token_lifetime_seconds, remaining)
    token, expires_in = gw.tokens.issue_for_citizen(caller, scopes, citizen_iin=citizen.iin, lifetime=lifetime)
    return Issued(token, expires_in, scopes, ACCESS_TOKEN_TYPE)
