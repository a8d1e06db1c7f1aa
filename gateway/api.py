"""The gateway's own endpoints: the OAuth token endpoint (client credentials and token exchange,
`gateway/grants.py`), the JWKS, the admin callers API and the two audit queries. The front door
has already authenticated and authorised every non-public request that reaches a route here
(scopes from gateway/routes.py)."""

from __future__ import annotations

import base64
import binascii
from datetime import datetime, timezone
from typing import Annotated, Any
from urllib.parse import parse_qsl, unquote

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import JSONResponse

from gateway import repository
from gateway.callers import create_caller, get_caller, list_callers, rotate_secret, set_enabled, set_regions
from gateway.frontdoor import Gateway
from gateway.grants import client_credentials, token_exchange
from gateway.schemas import (
    ACCESS_TOKEN_TYPE, CLIENT_CREDENTIALS_GRANT, ID_TOKEN_TYPE, JWT_TOKEN_TYPE, TOKEN_EXAMPLE, TOKEN_EXCHANGE_GRANT,
    AuditPage, AuditRecordOut, CallerCredentials, CallerIn, CallerList, CallerOut, DataAccessPage,
    DataAccessRecordOut, OAuthProblem, Problem, RegionsIn, TokenResponse,
)
from gateway.tokens import OAuthError
from shared.errors import PROBLEM_BASE, PROBLEM_JSON, QamqorError, Unauthorized, problem_response
from shared.identity import Caller
from shared.inputs import has_control_character

NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


# Coroutines, so that FastAPI does not run these dependencies in its thread pool.
async def _gateway(request: Request) -> Gateway:
    return request.app.state.gateway


async def _admin(request: Request) -> Caller:
    caller = getattr(request.state, "caller", None)
    if caller is None:  # unreachable through the front door; a guard if it is ever bypassed
        raise Unauthorized("A bearer token is required.")
    return caller


GatewayDep = Annotated[Gateway, Depends(_gateway)]
AdminDep = Annotated[Caller, Depends(_admin)]

CallerId = Annotated[str, Path(max_length=64, examples=["portal-2"])]

oauth = APIRouter(tags=["oauth"])
callers = APIRouter(prefix="/v1", tags=["callers"])


# ---- POST /oauth/token: client credentials (RFC 6749 §4.4) and token exchange (RFC 8693) ------


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
    headers = dict(NO_STORE) | exc.headers
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
        if has_control_character(name) or has_control_character(value):
            raise OAuthError("invalid_request", "Parameters must not contain control characters.")
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


def _client(form: dict[str, str], header: str | None) -> tuple[str, str] | None:
    """(client id, secret) from HTTP Basic or the form — not both; None if neither names one."""
    basic = _basic_credentials(header)
    if basic and ("client_secret" in form):
        raise OAuthError("invalid_request", "Use one client authentication method, not two.")
    if basic:
        if form.get("client_id", basic[0]) != basic[0]:
            raise OAuthError("invalid_request", "client_id differs from the Basic credentials.")
        return basic
    if "client_id" in form or "client_secret" in form:
        return form.get("client_id", ""), form.get("client_secret", "")
    return None


TOKEN_FORM = {
    "type": "object", "required": ["grant_type"],
    "properties": {
        "grant_type": {"type": "string", "enum": [CLIENT_CREDENTIALS_GRANT, TOKEN_EXCHANGE_GRANT]},
        "client_id": {"type": "string", "description": "client credentials (or use HTTP Basic)"},
        "client_secret": {"type": "string"},
        "scope": {"type": "string", "description": "space-separated; narrows the grant"},
        "subject_token": {"type": "string", "description": "token exchange: the citizen's eGov IDP assertion"},
        "subject_token_type": {"type": "string", "enum": [ID_TOKEN_TYPE, JWT_TOKEN_TYPE]},
        "actor_token": {"type": "string", "description": "token exchange: the portal's own access token"},
        "actor_token_type": {"type": "string", "enum": [ACCESS_TOKEN_TYPE]},
        "requested_token_type": {"type": "string", "enum": [ACCESS_TOKEN_TYPE]},
    },
}
TOKEN_EXAMPLES = {
    "client_credentials": {"summary": "A caller's own token", "value": {
        "grant_type": CLIENT_CREDENTIALS_GRANT, "client_id": "demo-portal", "client_secret": "…"}},
    "token_exchange": {"summary": "The portal acts for a citizen (RFC 8693)", "value": {
        "grant_type": TOKEN_EXCHANGE_GRANT, "subject_token": "<the citizen's eGov IDP id_token>",
        "subject_token_type": ID_TOKEN_TYPE, "actor_token": "<the portal's access token>",
        "actor_token_type": ACCESS_TOKEN_TYPE}},
}


def _problem(model: type, description: str, example: dict[str, Any]) -> dict[str, Any]:
    return {"model": model, "description": description,
            "content": {PROBLEM_JSON: {"example": example}}}


def _oauth_example(status: int, error: str, description: str) -> dict[str, Any]:
    return {"type": PROBLEM_BASE + "oauth-" + error.replace("_", "-"), "title": "Token request refused",
            "status": status, "detail": description, "instance": "/oauth/token", "error": error,
            "error_description": description}


@oauth.post(
    "/oauth/token", response_model=TokenResponse, summary="Get an access token",
    description="Client credentials (RFC 6749 §4.4): a caller's own token. Token exchange (RFC 8693): a portal "
                "exchanges its own access token (`actor_token`) and a citizen's eGov IDP assertion "
                "(`subject_token`) for a token acting for that citizen — `sub` is the citizen's IIN, `act` names "
                "the portal, it lives at most 5 minutes and never longer than the assertion.",
    responses={
        200: {"content": {"application/json": {"examples": {
            "client_credentials": {"value": {"access_token": TOKEN_EXAMPLE, "token_type": "Bearer",
                                             "expires_in": 600, "scope": "applications:read contracts:read"}},
            "token_exchange": {"value": {"access_token": TOKEN_EXAMPLE, "issued_token_type": ACCESS_TOKEN_TYPE,
                                         "token_type": "Bearer", "expires_in": 300,
                                         "scope": "applications:read applications:write"}}}}}},
        400: _problem(OAuthProblem, "invalid_request, invalid_grant, unauthorized_client, invalid_scope, "
                      "unsupported_grant_type or invalid_target",
                      _oauth_example(400, "invalid_grant", "The subject_token has expired.")),
        401: _problem(OAuthProblem, "invalid_client", _oauth_example(401, "invalid_client",
                                                                     "Client authentication failed.")),
        429: _problem(Problem, "Too many token requests; see Retry-After", {
            "type": PROBLEM_BASE + "rate-limited", "title": "Too many requests", "status": 429,
            "detail": "Too many token requests for this client.", "instance": "/oauth/token"}),
        503: _problem(OAuthProblem, "temporarily_unavailable: the identity provider or the caller registry cannot "
                      "be reached; see Retry-After", _oauth_example(
                          503, "temporarily_unavailable", "The identity provider's keys cannot be fetched right now.")),
    },
    openapi_extra={"requestBody": {"required": True, "content": {"application/x-www-form-urlencoded": {
        "schema": TOKEN_FORM, "examples": TOKEN_EXAMPLES}}}},
)
async def token(request: Request, gw: GatewayDep) -> JSONResponse:
    """Client credentials in the form or by HTTP Basic, not both."""
    try:
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type != "application/x-www-form-urlencoded":
            raise OAuthError("invalid_request", "The body must be application/x-www-form-urlencoded.")
        form = _form(await request.body())
        client = _client(form, request.headers.get("authorization"))
        grant_type = form.get("grant_type")
        if not grant_type:
            raise OAuthError("invalid_request", "grant_type is required.")
        if grant_type == CLIENT_CREDENTIALS_GRANT:
            issued = await client_credentials(gw, form, client)
        elif grant_type == TOKEN_EXCHANGE_GRANT:
            issued = await token_exchange(gw, form, client)
        else:
            raise OAuthError("unsupported_grant_type",
                             f"Only {CLIENT_CREDENTIALS_GRANT} and {TOKEN_EXCHANGE_GRANT} are supported.")
    except OAuthError as exc:
        return oauth_error(exc, request.url.path)
    except QamqorError as exc:  # rate limited
        return problem_response(status=exc.status, slug=exc.slug, title=exc.title, detail=exc.detail,
                                instance=request.url.path, headers=exc.headers | NO_STORE)
    body = TokenResponse(access_token=issued.access_token, expires_in=issued.expires_in,
                         scope=" ".join(sorted(issued.scopes)), issued_token_type=issued.issued_token_type)
    return JSONResponse(body.model_dump(exclude_none=True), headers=NO_STORE)


@oauth.get("/.well-known/jwks.json", summary="Public keys that verify access tokens")
async def jwks(gw: GatewayDep) -> JSONResponse:
    return JSONResponse(gw.keyring.jwks(), headers={"Cache-Control": "public, max-age=300"})


# ---- callers (scope callers:admin) --------------------------------------------------------


@callers.post("/callers", status_code=201, response_model=CallerCredentials, summary="Register a caller")
async def create(body: CallerIn, gw: GatewayDep, _: AdminDep) -> dict[str, Any]:
    async with gw.sessionmaker() as session, session.begin():
        issued = await create_caller(session=session, hasher=gw.hasher, master_key=gw.master_key,
                                     caller_id=body.id, kind=body.kind, scopes=body.scopes, bank_code=body.bank_code,
                                     regions=body.regions)
    await gw.directory.reload_one(body.id)
    return issued.as_dict()


@callers.get("/callers", response_model=CallerList, summary="List callers")
async def list_all(gw: GatewayDep, _: AdminDep) -> dict[str, Any]:
    async with gw.sessionmaker() as session:
        return {"items": await list_callers(session=session)}


@callers.get("/callers/{caller_id}", response_model=CallerOut, summary="One caller")
async def get_one(caller_id: CallerId, gw: GatewayDep, _: AdminDep) -> dict[str, Any]:
    async with gw.sessionmaker() as session:
        return await get_caller(session=session, caller_id=caller_id)


@callers.post("/callers/{caller_id}/rotate-secret", response_model=CallerCredentials,
              summary="New secret (and signing secret for a bank); older tokens stop working")
async def rotate(caller_id: CallerId, gw: GatewayDep, _: AdminDep) -> dict[str, Any]:
    async with gw.sessionmaker() as session, session.begin():
        issued = await rotate_secret(session=session, hasher=gw.hasher, master_key=gw.master_key, caller_id=caller_id)
    await gw.directory.reload_one(caller_id)
    return issued.as_dict()


@callers.post("/callers/{caller_id}/disable", response_model=CallerOut,
              summary="Disable a caller; its tokens stop working at once")
async def disable(caller_id: CallerId, gw: GatewayDep, _: AdminDep) -> dict[str, Any]:
    async with gw.sessionmaker() as session, session.begin():
        view = await set_enabled(session=session, caller_id=caller_id, enabled=False)
    await gw.directory.reload_one(caller_id)
    return view


@callers.post("/callers/{caller_id}/enable", response_model=CallerOut, summary="Enable a caller again")
async def enable(caller_id: CallerId, gw: GatewayDep, _: AdminDep) -> dict[str, Any]:
    async with gw.sessionmaker() as session, session.begin():
        view = await set_enabled(session=session, caller_id=caller_id, enabled=True)
    await gw.directory.reload_one(caller_id)
    return view


@callers.put("/callers/{caller_id}/regions", response_model=CallerOut,
             summary="Set the regions a case worker's caller serves; effective at once")
async def regions(caller_id: CallerId, body: RegionsIn, gw: GatewayDep, _: AdminDep) -> dict[str, Any]:
    async with gw.sessionmaker() as session, session.begin():
        view = await set_regions(session=session, caller_id=caller_id, regions=body.regions)
    await gw.directory.reload_one(caller_id)
    return view


# ---- audit (scope callers:admin) ----------------------------------------------------------


def _utc(moment: datetime | None) -> datetime | None:
    """A time without a zone is read as UTC."""
    return moment.replace(tzinfo=timezone.utc) if moment is not None and moment.tzinfo is None else moment


@callers.get("/audit", response_model=AuditPage, tags=["audit"], summary="Who called what, newest first")
async def audit(
    gw: GatewayDep, _: AdminDep,
    caller_id: str | None = Query(default=None, max_length=64),
    request_id: str | None = Query(default=None, max_length=128),
    route: str | None = Query(default=None, max_length=200,
                              description="a route template, e.g. /v1/applications/{application_id}"),
    status: int | None = Query(default=None, ge=100, le=599),
    since: datetime | None = None,
    until: datetime | None = None,
    before_id: int | None = Query(default=None, ge=1, le=2**62),
    limit: int = Query(default=100, ge=1, le=1000),
) -> dict[str, Any]:
    async with gw.sessionmaker() as session:
        rows = await repository.query_audit(session, caller_id=caller_id, request_id=request_id, route=route,
                                            status=status, since=_utc(since), until=_utc(until),
                                            before_id=before_id, limit=limit)
    items = [AuditRecordOut.model_validate(row, from_attributes=True) for row in rows]
    return {"items": items, "next_before_id": items[-1].id if len(items) == limit else None}


@callers.get("/audit/data-access", response_model=DataAccessPage, tags=["audit"],
             summary="Who read whose personal data, when and why, newest first")
async def data_access(
    gw: GatewayDep, _: AdminDep,
    subject_iin: str | None = Query(default=None, pattern=r"^[0-9]{12}$", examples=["550211400017"],
                                    description="the person whose data was read (searched by its HMAC)"),
    caller_id: str | None = Query(default=None, max_length=64),
    since: datetime | None = None,
    until: datetime | None = None,
    before_id: int | None = Query(default=None, ge=1, le=2**62),
    limit: int = Query(default=100, ge=1, le=1000),
) -> dict[str, Any]:
    subject = gw.data_access.index.of(subject_iin) if subject_iin is not None else None
    async with gw.sessionmaker() as session:
        rows = await repository.query_data_access(session, subject_hmac=subject, caller_id=caller_id,
                                                  since=_utc(since), until=_utc(until), before_id=before_id,
                                                  limit=limit)
    items = [DataAccessRecordOut(
        id=row.id, at=row.at, caller_id=row.caller_id, caller_kind=row.caller_kind, acting_for=row.acting_for,
        method=row.method, route=row.route, status=row.status, request_id=row.request_id, purpose=row.purpose,
        stated_purpose=row.stated_purpose, subject=row.subject_masked) for row in rows]
    return {"items": items, "next_before_id": items[-1].id if len(items) == limit else None}
