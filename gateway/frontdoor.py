"""The front door: every HTTP request passes here first, through named stages, in this order:

    strip_spoofed_headers → check_declared_size → (a public path is served) → authenticate (401)
    → rate_limit (429) → require_route (404/405) → check_scope (403) → stated_purpose (422)
    → check_bank_signature (bank routes: 403/401) → forward to the service, or to the gateway's own API

A stage returns what the next one needs or refuses the request by raising the platform's one
error type, `shared.errors.QamqorError` (status, problem slug, title, detail, headers); the
refusal is rendered as problem+json in one place, `FrontDoor._refuse`. Every request but probes
leaves an audit record; every answer that carried people's data (the service names them in the
`x-qamqor-data-subjects` header, which never leaves the gateway) leaves a data-access record per
person. This is plain ASGI: the hot path pays for no framework routing.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway import repository
from gateway.audit import MAX_STATED_PURPOSE, PURPOSE_HEADER, AuditLog, DataAccessLog, SubjectIndex, data_subjects
from gateway.callers import CallerRecord, load_master_key
from gateway.crypto import MasterKey, SecretHasher
from gateway.directory import CallerDirectory, RegistryUnreachable
from gateway.idp import IdpAssertions, http_fetcher
from gateway.proxy import (
    BodyTooLarge, ClientGone, UpstreamBroken, UpstreamTimeout, UpstreamUnavailable, Upstreams, read_body,
    request_path,
)
from gateway.ratelimit import TokenBuckets, retry_after_header
from gateway.routes import DOCS_ASSETS_PREFIX, GATEWAY, PUBLIC_PATHS, Route, RouteTable
from gateway.settings import GatewaySettings
from gateway.signatures import SignatureRejected, check_bank_signature
from gateway.tokens import AccessTokens, InvalidToken, KeyRing
from shared.access import DATA_SUBJECTS_HEADER
from shared.errors import Forbidden, InvalidInput, NotFound, QamqorError, Unauthorized, field_error, problem_response
from shared.identity import generate_ed25519_pem, mint_internal_token
from shared.iin import mask_iins_in
from shared.inputs import has_control_character
from shared.observability import request_id_var

log = logging.getLogger("qamqor.gateway")

UNAUDITED = frozenset({"/health", "/ready"})
REALM = 'Bearer realm="qamqor"'
SPOOFABLE_PREFIX = b"x-qamqor-caller"
INTERNAL_HEADER = b"x-qamqor-internal-token"
SUBJECTS_HEADER = DATA_SUBJECTS_HEADER.encode()
PURPOSE = PURPOSE_HEADER.encode()


def load_internal_private_key(settings: GatewaySettings) -> bytes:
    """The configured key; in development/test a key pair under key_dir, created if absent
    (point the services' QAMQOR_*_INTERNAL_PUBLIC_KEY_FILE at internal_public.pem)."""
    if settings.internal_private_key_file is not None:
        return Path(settings.internal_private_key_file).read_bytes()
    private_file = settings.key_dir / "internal_private.pem"
    if not private_file.exists():
        settings.key_dir.mkdir(parents=True, exist_ok=True)
        private, public = generate_ed25519_pem()
        (settings.key_dir / "internal_public.pem").write_bytes(public)
        private_file.touch(mode=0o600)
        private_file.write_bytes(private)
    return private_file.read_bytes()


class Gateway:
    """Everything the front door and the gateway API share, built once per process; `start()`
    (at application start-up) loads the keys and callers."""

    def __init__(self, settings: GatewaySettings, *, engine: AsyncEngine,
                 sessionmaker: async_sessionmaker[AsyncSession]) -> None:
        self.settings = settings
        self.engine = engine
        self.sessionmaker = sessionmaker
        self.internal_private_key = load_internal_private_key(settings)
        self.hasher = SecretHasher(time_cost=settings.argon2_time_cost, memory_kib=settings.argon2_memory_kib,
                                   parallelism=settings.argon2_parallelism)
        self.buckets = TokenBuckets()
        # Argon2id is memory-hard by design (64 MiB per check): bound how many run at once.
        self.argon2_slots = asyncio.Semaphore(2)
        self.audit = AuditLog(engine, flush_seconds=settings.audit_flush_seconds,
                              batch_size=settings.audit_batch_size, buffer_limit=settings.audit_buffer_limit)
        self.routes = RouteTable()
        self._minted: dict[tuple, tuple[str, float]] = {}
        # Set by start():
        self.master_key: MasterKey
        self.keyring: KeyRing
        self.tokens: AccessTokens
        self.directory: CallerDirectory
        self.upstreams: Upstreams
        self.data_access: DataAccessLog
        self.idp: IdpAssertions | None = None  # None: no identity provider configured, no token exchange

    async def start(self, upstreams: Upstreams) -> None:
        settings = self.settings
        self.upstreams = upstreams
        async with self.sessionmaker() as session, session.begin():
            self.master_key = await load_master_key(settings=settings, session=session)
        self.data_access = DataAccessLog(
            self.engine, SubjectIndex(self.master_key.derive("data-access-subject-index")),
            flush_seconds=settings.audit_flush_seconds, batch_size=settings.audit_batch_size,
            buffer_limit=settings.audit_buffer_limit)
        if settings.idp_jwks_url:
            self.idp = IdpAssertions(
                jwks_url=settings.idp_jwks_url, issuer=settings.idp_issuer, audience=settings.idp_audience,
                leeway=settings.token_leeway_seconds, fetch=http_fetcher(upstreams.session),
                max_age=settings.idp_jwks_max_age_seconds, min_refetch=settings.idp_jwks_min_refetch_seconds)
        self.keyring = KeyRing(self.master_key)
        self.tokens = AccessTokens(self.keyring, issuer=settings.token_issuer, audience=settings.token_audience,
                                   lifetime=settings.token_lifetime_seconds, leeway=settings.token_leeway_seconds)
        self.directory = CallerDirectory(sessionmaker=self.sessionmaker, database_url=settings.database_url,
                                         master_key=self.master_key, keyring=self.keyring,
                                         refresh_seconds=settings.caller_refresh_seconds)
        await self.directory.start()
        self.audit.start()
        self.data_access.start()

    async def stop(self) -> None:
        await self.audit.stop()
        if hasattr(self, "data_access"):
            await self.data_access.stop()
        if hasattr(self, "directory"):
            await self.directory.stop()

    def internal_token(self, caller: CallerRecord, scopes: frozenset[str], request_id: str,
                       citizen_iin: str | None = None) -> str:
        """A gateway-signed internal token, reused for a few seconds per (caller as it is now,
        scopes, citizen acted for): a change of the caller's regions takes effect at once."""
        key = (caller.id, caller.credential_version, scopes, citizen_iin, caller.regions)
        now = time.monotonic()
        minted = self._minted.get(key)
        if minted is not None and now - minted[1] < self.settings.internal_token_reuse_seconds:
            return minted[0]
        token = mint_internal_token(self.internal_private_key, caller.identity(scopes, citizen_iin), request_id,
                                    ttl=self.settings.internal_token_ttl_seconds)
        if len(self._minted) > 10_000:
            self._minted.clear()
        self._minted[key] = (token, now)
        return token

    async def remember_nonce(self, caller_id: str, nonce: str, timestamp: int) -> bool:
        # Kept until its timestamp leaves the window: after that the clock check refuses it.
        expires = datetime.fromtimestamp(timestamp + self.settings.signature_window_seconds + 1, timezone.utc)
        async with self.engine.begin() as conn:
            return await repository.remember_nonce(conn, caller_id=caller_id, nonce=nonce, expires_at=expires)

    async def purge_nonces(self) -> int:
        async with self.engine.begin() as conn:
            return await repository.purge_nonces(conn, now=datetime.now(timezone.utc) - timedelta(seconds=5))


@dataclass(slots=True)
class Exchange:
    """What the audit and data-access records need to know about one request."""

    status: int = 0
    caller: CallerRecord | None = None
    citizen_iin: str | None = None  # the citizen a portal acts for
    route: str = "unmatched"
    service: str | None = None
    stated_purpose: str | None = None
    data_subjects: list[bytes] = field(default_factory=list)  # the service's header value(s), as sent


@dataclass(frozen=True, slots=True)
class Authenticated:
    caller: CallerRecord
    scopes: frozenset[str]
    citizen_iin: str | None = None


@dataclass(slots=True)
class Inbound:
    """What the first stage learns from the request's headers."""

    authorization: bytes | None = None
    content_length: bytes | None = None
    chunked: bool = False
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)


# ---- refusals -----------------------------------------------------------------------------


def _invalid_token(reason: str) -> QamqorError:
    return QamqorError(reason, status=401, slug="invalid-token", title="Invalid token",
                       headers={"WWW-Authenticate": REALM + f', error="invalid_token", error_description="{reason}"'})


def _too_large(limit: int) -> QamqorError:
    return QamqorError(f"The request body may be at most {limit} bytes.", status=413, slug="payload-too-large",
                       title="Payload too large")


def _unavailable(detail: str) -> QamqorError:
    return QamqorError(detail, status=503, slug="service-unavailable", title="Service unavailable",
                       headers={"Retry-After": "1"})


def _bad_signature(detail: str, slug: str = "invalid-signature", title: str = "Invalid signature") -> QamqorError:
    return QamqorError(detail, status=401, slug=slug, title=title,
                       headers={"WWW-Authenticate": 'QamqorSignature realm="qamqor"'})


# ---- the stages that need no gateway state ------------------------------------------------


def strip_spoofed_headers(scope: Scope) -> Inbound:
    """Only the gateway speaks for a caller: its internal token and caller headers are dropped."""
    inbound = Inbound()
    for name, value in scope["headers"]:
        if name == INTERNAL_HEADER or name.startswith(SPOOFABLE_PREFIX):
            continue
        if name == b"authorization":
            inbound.authorization = value
        elif name == b"content-length":
            inbound.content_length = value
        elif name == b"transfer-encoding":
            inbound.chunked = True
        inbound.headers.append((name, value))
    scope["headers"] = inbound.headers
    return inbound


def check_declared_size(inbound: Inbound, limit: int) -> bool:
    """Refuses a declared body over the limit (a chunked body is counted while it streams);
    returns whether a body follows."""
    if inbound.content_length is None:
        return inbound.chunked
    try:
        length = int(inbound.content_length)
    except ValueError:
        raise QamqorError("Content-Length is not a number.") from None
    if length > limit:
        raise _too_large(limit)
    return inbound.chunked or length > 0


def bearer_token(authorization: bytes | None) -> str:
    if authorization is None:
        raise Unauthorized("A bearer token is required (POST /oauth/token).", headers={"WWW-Authenticate": REALM})
    scheme, _, token = authorization.decode("latin-1").partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise Unauthorized("Use the Authorization: Bearer scheme.",
                           headers={"WWW-Authenticate": REALM + ', error="invalid_request"'})
    return token


def require_route(method: str, route: Route | None, allowed: tuple[str, ...]) -> Route:
    """After authentication, so that anonymous callers learn nothing about which paths exist."""
    if route is not None:
        return route
    if allowed:
        raise QamqorError(f"{method} is not allowed here.", status=405, slug="method-not-allowed",
                          title="Method not allowed", headers={"Allow": ", ".join(sorted(set(allowed)))})
    raise NotFound("No such route.")


def check_scope(route: Route, scopes: frozenset[str]) -> None:
    if route.scope not in scopes:
        raise Forbidden(f"This route needs the scope {route.scope}.",
                        headers={"WWW-Authenticate": REALM + f', error="insufficient_scope", scope="{route.scope}"'})


def stated_purpose(headers: list[tuple[bytes, bytes]]) -> str | None:
    """The caller's own reason for this request (X-Qamqor-Purpose), for the data-access record:
    at most 200 characters of UTF-8 text without control characters; IINs in it are masked."""
    value = next((v for name, v in headers if name == PURPOSE), None)
    if value is None:
        return None
    try:
        text = value.decode("utf-8").strip()
    except UnicodeDecodeError:
        text = None
    if text is None or len(text) > MAX_STATED_PURPOSE or has_control_character(text):
        raise InvalidInput("X-Qamqor-Purpose is not valid.", errors=[field_error(
            "header.X-Qamqor-Purpose", f"at most {MAX_STATED_PURPOSE} characters of UTF-8 text, no control characters")])
    return mask_iins_in(text) or None


def take_data_subjects(message: Message, exchange: Exchange) -> None:
    """Strips the services' data-subjects header from an answer, keeping its value for the record."""
    headers = message.get("headers")
    if not headers:
        return
    kept = []
    for name, value in headers:
        if name.lower() == SUBJECTS_HEADER:
            exchange.data_subjects.append(value)
        else:
            kept.append((name, value))
    if len(kept) != len(headers):
        message["headers"] = kept


def _canonical(path: str, raw_path: bytes | None) -> bool:
    """No empty, '.' or '..' segments and no encoded slashes: what is matched is what is sent."""
    if not path.startswith("/") or path.endswith("/") or "//" in path:
        return False
    if "/./" in path + "/" or "/../" in path + "/" or "\\" in path:
        return False
    if raw_path is not None and (b"%2f" in raw_path.lower() or b"%5c" in raw_path.lower()):
        return False
    return True


class FrontDoor:
    def __init__(self, app: ASGIApp, gateway: Gateway) -> None:
        self.app = app
        self.gateway = gateway

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        wall = time.time()
        exchange = Exchange()

        async def send_and_note(message: Message) -> None:
            if message["type"] == "http.response.start":
                exchange.status = message["status"]
                take_data_subjects(message, exchange)
            await send(message)

        try:
            await self._pass(scope, receive, send_and_note, exchange)
        except QamqorError as refusal:
            if exchange.status:  # a response is already under way: nothing else can be said
                raise
            await self._refuse(scope, receive, send_and_note, refusal)
        except ClientGone:
            exchange.status = 499
        finally:
            path = scope["path"]
            if path not in UNAUDITED:
                caller = exchange.caller
                client = scope.get("client")
                request_id = request_id_var.get() or ""
                self.gateway.audit.record(
                    at=wall, caller_id=caller.id if caller else None, caller_kind=caller.kind if caller else None,
                    method=scope["method"], route=exchange.route, path=path, service=exchange.service,
                    status=exchange.status or 500, latency_ms=round((time.perf_counter() - started) * 1000, 3),
                    request_id=request_id, client_ip=client[0] if client else None, citizen_iin=exchange.citizen_iin,
                )
                if exchange.data_subjects and caller is not None:
                    subjects = [iin for value in exchange.data_subjects for iin in data_subjects(value)]
                    self.gateway.data_access.record(
                        at=wall, caller_id=caller.id, caller_kind=caller.kind, citizen_iin=exchange.citizen_iin,
                        method=scope["method"], route=exchange.route, status=exchange.status or 500,
                        request_id=request_id, stated_purpose=exchange.stated_purpose, subjects=subjects)

    @staticmethod
    async def _refuse(scope: Scope, receive: Receive, send: Send, refusal: QamqorError) -> None:
        response = problem_response(status=refusal.status, slug=refusal.slug, title=refusal.title,
                                    detail=refusal.detail, instance=scope["path"], errors=refusal.errors,
                                    headers=refusal.headers or None)
        await response(scope, receive, send)

    async def _pass(self, scope: Scope, receive: Receive, send: Send, exchange: Exchange) -> None:
        """The stages, in order."""
        settings = self.gateway.settings
        inbound = strip_spoofed_headers(scope)
        has_body = check_declared_size(inbound, settings.max_body_bytes)
        path, method = scope["path"], scope["method"]
        if path in PUBLIC_PATHS or path.startswith(DOCS_ASSETS_PREFIX):
            exchange.route, exchange.service = path if path in PUBLIC_PATHS else DOCS_ASSETS_PREFIX, GATEWAY
            await self._to_gateway_app(scope, receive, send)
            return
        route, params, allowed = self._match(scope)
        if route is not None:  # the audit record names the route even if the caller is refused
            exchange.route, exchange.service = route.path, route.service
        who = await self._authenticate(bearer_token(inbound.authorization))
        caller, scopes = who.caller, who.scopes
        exchange.caller, exchange.citizen_iin = caller, who.citizen_iin
        self._rate_limit(caller)
        route = require_route(method, route, allowed)
        scope["route"] = route  # metrics label the route template
        check_scope(route, scopes)
        exchange.stated_purpose = stated_purpose(inbound.headers)
        body = await self._check_bank_signature(scope, receive, route, params, caller, inbound) if route.signed \
            else None
        if route.service == GATEWAY:
            scope.setdefault("state", {})["caller"] = caller.identity(scopes, who.citizen_iin)
            await self._to_gateway_app(scope, receive, send)
            return
        await self._forward(scope, receive, send, route, who, body=body, has_body=has_body)

    def _match(self, scope: Scope) -> tuple[Route | None, dict[str, str], tuple[str, ...]]:
        """Non-canonical paths (`..`, `//`, a trailing `/`, an encoded `/`) count as unknown."""
        if _canonical(scope["path"], request_path(scope)):
            return self.gateway.routes.match(scope["method"], scope["path"])
        return None, {}, ()

    async def _authenticate(self, token: str) -> Authenticated:
        """The caller behind a valid token, as it is now, the scopes the token grants it and the
        citizen it acts for (a portal's exchanged token): the portal's own state — enabled,
        credential version, rate limit — governs a token acting for a citizen too."""
        gw = self.gateway
        try:
            claims = gw.tokens.verify(token)
        except InvalidToken as exc:
            raise _invalid_token(str(exc)) from None
        try:
            caller = await gw.directory.find(claims.caller_id)
        except RegistryUnreachable:
            raise _unavailable("The caller registry cannot be reached; try again shortly.") from None
        if caller is None or not caller.enabled:
            raise _invalid_token("The caller is disabled.")
        if caller.credential_version != claims.credential_version:
            raise _invalid_token("The caller's credentials were rotated; get a new token.")
        # A token never grants more than the caller holds now (scopes can be narrowed later).
        scopes = claims.scopes if claims.scopes <= caller.scopes else claims.scopes & caller.scopes
        if claims.citizen_iin is not None and caller.kind != "portal":  # only a portal acts for citizens
            raise _invalid_token("Only a portal may act for a citizen.")
        return Authenticated(caller, scopes, claims.citizen_iin)

    def _rate_limit(self, caller: CallerRecord) -> None:
        wait = self.gateway.buckets.take(caller.id, self.gateway.settings.rate_limit_for(caller.kind))
        if wait:
            raise QamqorError(f"The rate limit for {caller.kind} callers was exceeded.", status=429,
                              slug="rate-limited", title="Too many requests",
                              headers={"Retry-After": retry_after_header(wait)})

    async def _check_bank_signature(self, scope: Scope, receive: Receive, route: Route, params: dict[str, str],
                                    caller: CallerRecord, inbound: Inbound) -> bytes:
        """Own bank code, then signature and clock, then a nonce never seen before. Returns the
        body, which had to be read because the signature covers it."""
        gw = self.gateway
        settings = gw.settings
        if params.get("bank_code") != caller.bank_code:
            raise Forbidden("A bank may call only its own bank_code.")
        try:
            body = await read_body(receive, settings.max_body_bytes)
        except BodyTooLarge:
            raise _too_large(settings.max_body_bytes) from None
        try:
            signed = check_bank_signature(
                caller=caller, headers=_header_map(inbound.headers), method=scope["method"],
                path=request_path(scope).decode("latin-1"), body=body, now=time.time(),
                window_seconds=settings.signature_window_seconds)
        except SignatureRejected as exc:
            raise _bad_signature(str(exc)) from None
        try:
            fresh = await gw.remember_nonce(caller.id, signed.nonce, signed.timestamp)
        except Exception:  # noqa: BLE001 — without the nonce store a replay cannot be ruled out
            log.warning("nonce store unavailable", exc_info=True)
            raise _unavailable("Signed requests cannot be checked right now; try again shortly.") from None
        if not fresh:
            raise _bad_signature("This nonce was already used.", "replayed-request", "Replayed request")
        return body

    async def _forward(self, scope: Scope, receive: Receive, send: Send, route: Route, who: Authenticated, *,
                       body: bytes | None, has_body: bool) -> None:
        gw = self.gateway
        request_id = request_id_var.get() or ""
        client = scope.get("client")
        try:
            await gw.upstreams.forward(
                scope, receive, send, service=route.service,
                internal_token=gw.internal_token(who.caller, who.scopes, request_id, who.citizen_iin),
                request_id=request_id, body=body, client_ip=client[0] if client else None, has_body=has_body)
        except UpstreamUnavailable as exc:
            # The reason's class, not its text: aiohttp's messages carry the URL, query string and all.
            log.warning("service %s unavailable on %s %s: %s", route.service, route.method, route.path, _reason(exc))
            raise _unavailable(f"The {route.service} service cannot be reached; try again shortly.") from None
        except UpstreamTimeout:
            raise QamqorError(f"The {route.service} service did not answer in time.", status=504,
                              slug="gateway-timeout", title="Gateway timeout") from None
        except UpstreamBroken as exc:
            log.warning("service %s broke the connection on %s %s: %s", route.service, route.method, route.path,
                        _reason(exc))
            raise QamqorError(f"The {route.service} service gave no valid answer.", status=502, slug="bad-gateway",
                              title="Bad gateway") from None
        except BodyTooLarge:
            raise _too_large(gw.settings.max_body_bytes) from None

    async def _to_gateway_app(self, scope: Scope, receive: Receive, send: Send) -> None:
        limit = self.gateway.settings.max_body_bytes
        received = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > limit:
                raise BodyTooLarge()
            return message

        async def note_start(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, limited_receive, note_start)
        except BodyTooLarge:
            if started:
                raise
            raise _too_large(limit) from None


def _reason(exc: BaseException) -> str:
    cause = exc.__cause__
    return type(cause).__name__ if cause is not None else type(exc).__name__


def _header_map(headers: list[tuple[bytes, bytes]]) -> dict[str, str]:
    return {name.decode("latin-1"): value.decode("latin-1") for name, value in headers
            if name.startswith(b"x-qamqor-")}
