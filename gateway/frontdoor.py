"""The front door: every HTTP request passes here first.

In order: strip headers only the gateway may set → public path? serve it → authenticate the
bearer token (401) → rate-limit the caller (429) → find the route (404/405) → check its scope
(403) → size limit (413) → for bank routes: own bank code (403), signature, clock and nonce
(401) → forward to the service, or hand to the gateway's own API. Every request but probes
leaves an audit record. This is plain ASGI: the hot path pays for no framework routing.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway import repository
from gateway.audit import AuditLog
from gateway.crypto import MasterKey, SecretHasher
from gateway.directory import CallerDirectory
from gateway.proxy import (
    BodyTooLarge, ClientGone, UpstreamBroken, UpstreamTimeout, UpstreamUnavailable, Upstreams, read_body,
    request_path,
)
from gateway.ratelimit import TokenBuckets, retry_after_header
from gateway.routes import GATEWAY, PUBLIC_PATHS, RouteTable
from gateway.service import (
    AccessTokens, CallerRecord, InvalidToken, KeyRing, SignatureRejected, check_bank_signature, load_master_key,
)
from gateway.settings import GatewaySettings
from shared.errors import problem_response
from shared.identity import generate_ed25519_pem, mint_internal_token
from shared.observability import request_id_var

log = logging.getLogger("qamqor.gateway")

UNAUDITED = frozenset({"/health", "/ready"})
REALM = 'Bearer realm="qamqor"'
SPOOFABLE_PREFIX = b"x-qamqor-caller"
INTERNAL_HEADER = b"x-qamqor-internal-token"


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

    async def start(self, upstreams: Upstreams) -> None:
        settings = self.settings
        self.upstreams = upstreams
        async with self.sessionmaker() as session, session.begin():
            self.master_key = await load_master_key(settings=settings, session=session)
        self.keyring = KeyRing(self.master_key)
        self.tokens = AccessTokens(self.keyring, issuer=settings.token_issuer, audience=settings.token_audience,
                                   lifetime=settings.token_lifetime_seconds, leeway=settings.token_leeway_seconds)
        self.directory = CallerDirectory(sessionmaker=self.sessionmaker, database_url=settings.database_url,
                                         master_key=self.master_key, keyring=self.keyring,
                                         refresh_seconds=settings.caller_refresh_seconds)
        await self.directory.start()
        self.audit.start()

    async def stop(self) -> None:
        await self.audit.stop()
        if hasattr(self, "directory"):
            await self.directory.stop()

    def internal_token(self, caller: CallerRecord, scopes: frozenset[str], request_id: str) -> str:
        """A gateway-signed internal token, reused for a few seconds per (caller, scopes)."""
        key = (caller.id, caller.credential_version, scopes)
        now = time.monotonic()
        minted = self._minted.get(key)
        if minted is not None and now - minted[1] < self.settings.internal_token_reuse_seconds:
            return minted[0]
        token = mint_internal_token(self.internal_private_key, caller.identity(scopes), request_id,
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
    """What the audit record needs to know about one request."""

    status: int = 0
    caller: CallerRecord | None = None
    route: str = "unmatched"
    service: str | None = None


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
            await send(message)

        try:
            await self._handle(scope, receive, send_and_note, exchange)
        finally:
            path = scope["path"]
            if path not in UNAUDITED:
                caller = exchange.caller
                client = scope.get("client")
                self.gateway.audit.record(
                    at=wall, caller_id=caller.id if caller else None, caller_kind=caller.kind if caller else None,
                    method=scope["method"], route=exchange.route, path=path, service=exchange.service,
                    status=exchange.status or 500, latency_ms=round((time.perf_counter() - started) * 1000, 3),
                    request_id=request_id_var.get() or "", client_ip=client[0] if client else None,
                )

    async def _handle(self, scope: Scope, receive: Receive, send: Send, exchange: Exchange) -> None:
        gw = self.gateway
        settings = gw.settings
        authorization: bytes | None = None
        content_length: bytes | None = None
        has_body = False
        headers = []
        for name, value in scope["headers"]:
            if name == INTERNAL_HEADER or name.startswith(SPOOFABLE_PREFIX):
                continue  # only the gateway speaks for a caller
            if name == b"authorization":
                authorization = value
            elif name == b"content-length":
                content_length = value
            elif name == b"transfer-encoding":
                has_body = True
            headers.append((name, value))
        scope["headers"] = headers

        if content_length is not None:
            try:
                length = int(content_length)
            except ValueError:
                await _problem(scope, receive, send, 400, "bad-request", "Bad request",
                               "Content-Length is not a number.")
                return
            if length > settings.max_body_bytes:
                await _problem(scope, receive, send, 413, "payload-too-large", "Payload too large",
                               f"The request body may be at most {settings.max_body_bytes} bytes.")
                return
            has_body = has_body or length > 0

        path = scope["path"]
        method = scope["method"]
        if path in PUBLIC_PATHS:
            exchange.route = path
            exchange.service = GATEWAY
            await self._to_gateway_app(scope, receive, send)
            return

        if _canonical(path, request_path(scope)):
            route, params, allowed = gw.routes.match(method, path)
        else:
            route, params, allowed = None, {}, ()
        if route is not None:
            exchange.route = route.path
            exchange.service = route.service

        # -- authentication --
        if authorization is None:
            await _problem(scope, receive, send, 401, "unauthorized", "Authentication required",
                           "A bearer token is required (POST /oauth/token).", {"WWW-Authenticate": REALM})
            return
        scheme, _, token = authorization.decode("latin-1").partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            await _problem(scope, receive, send, 401, "unauthorized", "Authentication required",
                           "Use the Authorization: Bearer scheme.",
                           {"WWW-Authenticate": REALM + ', error="invalid_request"'})
            return
        try:
            claims = gw.tokens.verify(token)
        except InvalidToken as exc:
            await _invalid_token(scope, receive, send, str(exc))
            return
        caller = gw.directory.get(claims.caller_id)
        if caller is None:
            try:
                caller = await gw.directory.lookup(claims.caller_id)
            except Exception:  # noqa: BLE001 — the registry is unreachable: not the caller's fault
                log.warning("caller registry unavailable", exc_info=True)
                await _problem(scope, receive, send, 503, "service-unavailable", "Service unavailable",
                               "The caller registry cannot be reached; try again shortly.", {"Retry-After": "1"})
                return
        if caller is None or not caller.enabled:
            await _invalid_token(scope, receive, send, "The caller is disabled.")
            return
        if caller.credential_version != claims.credential_version:
            await _invalid_token(scope, receive, send, "The caller's credentials were rotated; get a new token.")
            return
        exchange.caller = caller
        # A token never grants more than the caller holds now (scopes can be narrowed later).
        scopes = claims.scopes if claims.scopes <= caller.scopes else claims.scopes & caller.scopes

        # -- rate limit --
        wait = gw.buckets.take(caller.id, settings.rate_limit_for(caller.kind))
        if wait:
            await _problem(scope, receive, send, 429, "rate-limited", "Too many requests",
                           f"The rate limit for {caller.kind} callers was exceeded.",
                           {"Retry-After": retry_after_header(wait)})
            return

        # -- route and scope --
        if route is None:
            if allowed:
                await _problem(scope, receive, send, 405, "method-not-allowed", "Method not allowed",
                               f"{method} is not allowed here.", {"Allow": ", ".join(sorted(set(allowed)))})
            else:
                await _problem(scope, receive, send, 404, "not-found", "Not found", "No such route.")
            return
        scope["route"] = route  # metrics label the route template
        if route.scope not in scopes:
            await _problem(scope, receive, send, 403, "forbidden", "Forbidden",
                           f"This route needs the scope {route.scope}.",
                           {"WWW-Authenticate": REALM + f', error="insufficient_scope", scope="{route.scope}"'})
            return

        # -- signed bank requests --
        body: bytes | None = None
        if route.signed:
            if params.get("bank_code") != caller.bank_code:
                await _problem(scope, receive, send, 403, "forbidden", "Forbidden",
                               "A bank may call only its own bank_code.")
                return
            try:
                body = await read_body(receive, settings.max_body_bytes)
            except BodyTooLarge:
                await _too_large(scope, receive, send, settings.max_body_bytes)
                return
            except ClientGone:
                exchange.status = 499
                return
            try:
                signed = check_bank_signature(
                    caller=caller, headers=_header_map(headers), method=method,
                    path=request_path(scope).decode("latin-1"), body=body,
                    now=time.time(), window_seconds=settings.signature_window_seconds)
            except SignatureRejected as exc:
                await _problem(scope, receive, send, 401, "invalid-signature", "Invalid signature", str(exc),
                               {"WWW-Authenticate": 'QamqorSignature realm="qamqor"'})
                return
            try:
                fresh = await gw.remember_nonce(caller.id, signed.nonce, signed.timestamp)
            except Exception:  # noqa: BLE001 — without the nonce store a replay cannot be ruled out
                log.warning("nonce store unavailable", exc_info=True)
                await _problem(scope, receive, send, 503, "service-unavailable", "Service unavailable",
                               "Signed requests cannot be checked right now; try again shortly.",
                               {"Retry-After": "1"})
                return
            if not fresh:
                await _problem(scope, receive, send, 401, "replayed-request", "Replayed request",
                               "This nonce was already used.", {"WWW-Authenticate": 'QamqorSignature realm="qamqor"'})
                return

        request_id = request_id_var.get() or ""
        if route.service == GATEWAY:
            scope.setdefault("state", {})["caller"] = caller.identity(scopes)
            await self._to_gateway_app(scope, receive, send)
            return

        client = scope.get("client")
        try:
            await gw.upstreams.forward(
                scope, receive, send, service=route.service,
                internal_token=gw.internal_token(caller, scopes, request_id), request_id=request_id,
                body=body, client_ip=client[0] if client else None, has_body=has_body)
        except UpstreamUnavailable as exc:
            log.warning("service %s unavailable: %s", route.service, exc)
            await _problem(scope, receive, send, 503, "service-unavailable", "Service unavailable",
                           f"The {route.service} service cannot be reached; try again shortly.", {"Retry-After": "1"})
        except UpstreamTimeout:
            await _problem(scope, receive, send, 504, "gateway-timeout", "Gateway timeout",
                           f"The {route.service} service did not answer in time.")
        except UpstreamBroken as exc:
            log.warning("service %s broke the connection: %s", route.service, exc)
            await _problem(scope, receive, send, 502, "bad-gateway", "Bad gateway",
                           f"The {route.service} service gave no valid answer.")
        except BodyTooLarge:
            await _too_large(scope, receive, send, settings.max_body_bytes)
        except ClientGone:
            exchange.status = 499

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
            await _too_large(scope, receive, send, limit)


def _header_map(headers: list[tuple[bytes, bytes]]) -> dict[str, str]:
    return {name.decode("latin-1"): value.decode("latin-1") for name, value in headers
            if name.startswith(b"x-qamqor-")}


async def _problem(scope: Scope, receive: Receive, send: Send, status: int, slug: str, title: str, detail: str,
                   headers: dict[str, str] | None = None) -> None:
    response = problem_response(status=status, slug=slug, title=title, detail=detail, instance=scope["path"],
                                headers=headers)
    await response(scope, receive, send)


async def _invalid_token(scope: Scope, receive: Receive, send: Send, reason: str) -> None:
    await _problem(scope, receive, send, 401, "invalid-token", "Invalid token", reason,
                   {"WWW-Authenticate": REALM + f', error="invalid_token", error_description="{reason}"'})


async def _too_large(scope: Scope, receive: Receive, send: Send, limit: int) -> None:
    await _problem(scope, receive, send, 413, "payload-too-large", "Payload too large",
                   f"The request body may be at most {limit} bytes.")
