"""The gateway's own endpoints: the OAuth token endpoint, the JWKS, the admin callers API and
the audit query. The front door has already authenticated and authorised every non-public
request that reaches a route here (scopes from gateway/routes.py)."""

from __future__ import annotations

import asyncio
import base64
import binascii
from datetime import datetime
from typing import Annotated, Any
from urllib.parse import parse_qsl, unquote

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from gateway import repository
from gateway.frontdoor import Gateway
from gateway.ratelimit import retry_after_header
from gateway.callers import CallerRecord, create_caller, get_caller, list_callers, rotate_secret, set_enabled
from gateway.tokens import OAuthError, granted_scopes
from shared.errors import PROBLEM_BASE, PROBLEM_JSON, Unauthorized, problem_response
from shared.identity import Caller

NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


def _gateway(request: Request) -> Gateway:
    return request.app.state.gateway


def _admin(request: Request) -> Caller:
    caller = getattr(request.state, "caller", None)
    if caller is None:  # unreachable through the front door; a guard if it is ever bypassed
        raise Unauthorized("A bearer token is required.")
    return caller


GatewayDep = Annotated[Gateway, Depends(_gateway)]
AdminDep = Annotated[Caller, Depends(_admin)]

oauth = APIRouter(tags=["oauth"])
callers = APIRouter(prefix="/v1", tags=["callers"])


# ---- OAuth 2.0 client credentials (RFC 6749 §4.4) -----------------------------------------


class TokenResponse(BaseModel):
    access_token: str
    token_type: str = "Bearer"
    expires_in: int
    scope: str


def oauth_error(exc: OAuthError, instance: str) -> JSONResponse:
    """RFC 6749 §5.2 members (`error`, `error_description`) inside an RFC 9457 problem."""
    body = {
        "type": PROBLEM_BASE + "oauth-" + exc.error.replace("_", "-"),
        "title": "Token request refused",
        "status": exc.status,
        "detail": exc.description,
        "instance": instance,
        "error": exc.error,
        "error_description": exc.description,
    }
    headers = dict(NO_STORE)
    if exc.status == 401:
        headers["WWW-Authenticate"] = 'Basic realm="qamqor"'
    return JSONResponse(body, status_code=exc.status, media_type=PROBLEM_JSON, headers=headers)


def _form(body: bytes) -> dict[str, str]:
    try:
        pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=False)
    except UnicodeDecodeError:
        raise OAuthError("invalid_request", "The body is not UTF-8.") from None
    form: dict[str, str] = {}
    for name, value in pairs:
        if name in form:
            raise OAuthError("invalid_request", f"Parameter {name} is repeated.")
        form[name] = value
    return form


def _basic_credentials(header: str | None) -> tuple[str, str] | None:
    if not header:
        return None
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic":
        raise OAuthError("invalid_client", "Only HTTP Basic client authentication is accepted in the header.")
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise OAuthError("invalid_client", "The Basic credentials are malformed.") from None
    client_id, sep, secret = decoded.partition(":")
    if not sep:
        raise OAuthError("invalid_client", "The Basic credentials are malformed.")
    # RFC 6749 §2.3.1: both parts are form-urlencoded before base64.
    return unquote(client_id.replace("+", " ")), unquote(secret.replace("+", " "))


async def _authenticate_client(gw: Gateway, client_id: str, secret: str) -> CallerRecord:
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


@oauth.post(
    "/oauth/token", response_model=TokenResponse, summary="Get an access token (client credentials)",
    openapi_extra={"requestBody": {"required": True, "content": {"application/x-www-form-urlencoded": {"schema": {
        "type": "object", "required": ["grant_type"],
        "properties": {"grant_type": {"type": "string", "enum": ["client_credentials"]},
                       "client_id": {"type": "string"}, "client_secret": {"type": "string"},
                       "scope": {"type": "string", "description": "space-separated; narrows the grant"}}}}}}},
)
async def token(request: Request, gw: GatewayDep) -> JSONResponse:
    """RFC 6749 §4.4. Client credentials in the form or by HTTP Basic, not both."""
    try:
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type != "application/x-www-form-urlencoded":
            raise OAuthError("invalid_request", "The body must be application/x-www-form-urlencoded.")
        form = _form(await request.body())
        basic = _basic_credentials(request.headers.get("authorization"))
        if basic and ("client_secret" in form):
            raise OAuthError("invalid_request", "Use one client authentication method, not two.")
        if basic:
            client_id, secret = basic
            if form.get("client_id", client_id) != client_id:
                raise OAuthError("invalid_request", "client_id differs from the Basic credentials.")
        else:
            client_id, secret = form.get("client_id", ""), form.get("client_secret", "")
        grant_type = form.get("grant_type")
        if not grant_type:
            raise OAuthError("invalid_request", "grant_type is required.")
        if grant_type != "client_credentials":
            raise OAuthError("unsupported_grant_type", "Only client_credentials is supported.")
        if not client_id or not secret:
            raise OAuthError("invalid_client", "Client authentication failed.")
        wait = gw.buckets.take("oauth:" + client_id[:64], gw.settings.token_rate_limit)
        if wait:
            return problem_response(status=429, slug="rate-limited", title="Too many requests",
                                    detail="Too many token requests for this client.", instance=request.url.path,
                                    headers={"Retry-After": retry_after_header(wait), **NO_STORE})
        caller = await _authenticate_client(gw, client_id, secret)
        scopes = granted_scopes(caller, form.get("scope"))
    except OAuthError as exc:
        return oauth_error(exc, request.url.path)
    access_token, expires_in = gw.tokens.issue(caller, scopes)
    body = TokenResponse(access_token=access_token, expires_in=expires_in, scope=" ".join(sorted(scopes)))
    return JSONResponse(body.model_dump(), headers=NO_STORE)


@oauth.get("/.well-known/jwks.json", summary="Public keys that verify access tokens")
async def jwks(gw: GatewayDep) -> JSONResponse:
    return JSONResponse(gw.keyring.jwks(), headers={"Cache-Control": "public, max-age=300"})


# ---- callers (scope callers:admin) --------------------------------------------------------


class CallerIn(BaseModel):
    id: str = Field(examples=["portal-egov"])
    kind: str = Field(examples=["portal"])
    scopes: list[str] | None = Field(default=None, description="defaults to the kind's scopes")
    bank_code: str | None = Field(default=None, description="banks only: the bank's BIC")


class CallerOut(BaseModel):
    id: str
    kind: str
    scopes: list[str]
    enabled: bool
    bank_code: str | None = None
    credential_version: int
    created_at: str | None = None
    disabled_at: str | None = None


class CallerCredentials(CallerOut):
    secret: str = Field(description="shown once")
    signing_secret: str | None = Field(default=None, description="banks only; shown once")


class CallerList(BaseModel):
    items: list[CallerOut]


@callers.post("/callers", status_code=201, response_model=CallerCredentials, summary="Register a caller")
async def create(body: CallerIn, gw: GatewayDep, _: AdminDep) -> dict[str, Any]:
    async with gw.sessionmaker() as session, session.begin():
        issued = await create_caller(session=session, hasher=gw.hasher, master_key=gw.master_key,
                                     caller_id=body.id, kind=body.kind, scopes=body.scopes, bank_code=body.bank_code)
    await gw.directory.reload_one(body.id)
    return issued.as_dict()


@callers.get("/callers", response_model=CallerList, summary="List callers")
async def list_all(gw: GatewayDep, _: AdminDep) -> dict[str, Any]:
    async with gw.sessionmaker() as session:
        return {"items": await list_callers(session=session)}


@callers.get("/callers/{caller_id}", response_model=CallerOut, summary="One caller")
async def get_one(caller_id: str, gw: GatewayDep, _: AdminDep) -> dict[str, Any]:
    async with gw.sessionmaker() as session:
        return await get_caller(session=session, caller_id=caller_id)


@callers.post("/callers/{caller_id}/rotate-secret", response_model=CallerCredentials,
              summary="New secret (and signing secret for a bank); older tokens stop working")
async def rotate(caller_id: str, gw: GatewayDep, _: AdminDep) -> dict[str, Any]:
    async with gw.sessionmaker() as session, session.begin():
        issued = await rotate_secret(session=session, hasher=gw.hasher, master_key=gw.master_key, caller_id=caller_id)
    await gw.directory.reload_one(caller_id)
    return issued.as_dict()


@callers.post("/callers/{caller_id}/disable", response_model=CallerOut,
              summary="Disable a caller; its tokens stop working at once")
async def disable(caller_id: str, gw: GatewayDep, _: AdminDep) -> dict[str, Any]:
    async with gw.sessionmaker() as session, session.begin():
        view = await set_enabled(session=session, caller_id=caller_id, enabled=False)
    await gw.directory.reload_one(caller_id)
    return view


@callers.post("/callers/{caller_id}/enable", response_model=CallerOut, summary="Enable a caller again")
async def enable(caller_id: str, gw: GatewayDep, _: AdminDep) -> dict[str, Any]:
    async with gw.sessionmaker() as session, session.begin():
        view = await set_enabled(session=session, caller_id=caller_id, enabled=True)
    await gw.directory.reload_one(caller_id)
    return view


# ---- audit (scope callers:admin) ----------------------------------------------------------


class AuditRecordOut(BaseModel):
    id: int
    at: datetime
    caller_id: str | None
    caller_kind: str | None
    method: str
    route: str
    path: str
    service: str | None
    status: int
    latency_ms: float
    request_id: str
    client_ip: str | None


class AuditPage(BaseModel):
    items: list[AuditRecordOut]
    next_before_id: int | None = Field(description="pass as before_id for the next (older) page")


@callers.get("/audit", response_model=AuditPage, tags=["audit"], summary="Who called what, newest first")
async def audit(
    gw: GatewayDep, _: AdminDep,
    caller_id: str | None = None,
    request_id: str | None = None,
    route: str | None = Query(default=None, description="a route template, e.g. /v1/applications/{application_id}"),
    status: int | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    before_id: int | None = None,
    limit: int = Query(default=100, ge=1, le=1000),
) -> dict[str, Any]:
    async with gw.sessionmaker() as session:
        rows = await repository.query_audit(session, caller_id=caller_id, request_id=request_id, route=route,
                                            status=status, since=since, until=until, before_id=before_id,
                                            limit=limit)
    items = [AuditRecordOut.model_validate(row, from_attributes=True) for row in rows]
    return {"items": items, "next_before_id": items[-1].id if len(items) == limit else None}
