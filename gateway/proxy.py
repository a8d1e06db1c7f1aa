"""Forwarding a request to the service that owns it.

One pooled aiohttp client session for the life of the process (httpx's stock transport cost
several times more CPU per request on this machine, and a hand-written one did not save enough
to keep; see docs/benchmarks.md). Bodies stream both ways (a bank callback's body is the
exception: its signature covers the body, so it is read first, within the size limit). Hop-by-hop
headers are dropped both ways; the caller's bearer token never reaches a service — the
gateway-signed internal token replaces it.

A failing request never breaks the next one:
- the pool reuses a connection only while the service keeps it open, and never one idle for
  longer than `KEEPALIVE_SECONDS` — below uvicorn's 5 s, so the service never closes it under us;
- a request the service drops before answering (say, on a kept-alive connection it was closing)
  is retried once when that is safe (RFC 9110 §9.2.2, RFC 9112 §9.3.1): an idempotent method, or
  a POST carrying an Idempotency-Key, whose body is then read first so that it can be sent again;
  dropped again, it is a 503 with Retry-After (the caller may safely repeat it; the service keeps
  no half-applied effect — its transaction rolled back, or the key replays its first answer);
  a POST without a key is never repeated: a 502, the service may have acted on it;
- an answer is read ahead up to `READ_AHEAD_BYTES` before anything goes downstream, so an answer
  that breaks off early (a truncated body) is a 502 and not a response cut short;
- a connection failure is retried twice, with backoff, for idempotent methods."""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from urllib.parse import quote

import aiohttp
from starlette.types import Receive, Scope, Send
from yarl import URL

from gateway.settings import GatewaySettings
from shared.identity import INTERNAL_TOKEN_HEADER
from shared.tracing import trace_headers

log = logging.getLogger("qamqor.gateway.proxy")

IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"})
HOP_BY_HOP = frozenset({
    b"connection", b"keep-alive", b"proxy-authenticate", b"proxy-authorization", b"te", b"trailer",
    b"trailers", b"transfer-encoding", b"upgrade", b"proxy-connection",
})
# Not forwarded upstream: the caller's credentials and what the gateway sets itself.
# A caller's trace headers are replaced by the gateway's own (shared/tracing.py).
DROP_UPSTREAM = HOP_BY_HOP | {b"host", b"authorization", b"cookie", b"expect", b"x-request-id", b"x-forwarded-for",
                              b"x-forwarded-proto", b"x-forwarded-host", b"forwarded", b"traceparent",
                              b"tracestate"}
# Not returned downstream: the ASGI server writes its own.
DROP_DOWNSTREAM = HOP_BY_HOP | {b"date", b"server", b"x-request-id", b"set-cookie"}
KEEPALIVE_SECONDS = 3.0
READ_AHEAD_BYTES = 65_536
MAX_ANSWER_HEADER_BYTES = 262_144


class UpstreamUnavailable(Exception):
    """Could not connect, or the service went away before answering a request that may safely be
    repeated (503 with Retry-After)."""


class UpstreamTimeout(Exception):
    """Connected but the service did not answer in time (504)."""


class UpstreamBroken(Exception):
    """The service closed the connection or spoke bad HTTP (502)."""


class BodyTooLarge(Exception):
    """The request body passed the configured limit while streaming (413)."""


class ClientGone(Exception):
    """The caller disconnected before the request was forwarded."""


# A path and query as uvicorn hands them over: printable ASCII, already percent-encoded.
_PLAIN_TARGET = re.compile(rb"[!-~]*")


def upstream_url(base: URL, raw_path: bytes, query: bytes) -> URL:
    """`base` with the caller's path and query, as the caller encoded them (the front door has
    already refused non-canonical paths); anything outside printable ASCII is percent-encoded."""
    prefix = base.raw_path.rstrip("/")  # a service mounted under a path keeps it
    if not (_PLAIN_TARGET.fullmatch(raw_path) and _PLAIN_TARGET.fullmatch(query)):
        safe = "/%!$&'()*+,;=:@-._~?"
        raw_path, query = quote(raw_path, safe=safe).encode(), quote(query, safe=safe).encode()
    target = prefix + raw_path.decode("ascii") + ("?" + query.decode("ascii") if query else "")
    return URL(str(base.origin()) + target, encoded=True)


def make_session(settings: GatewaySettings) -> aiohttp.ClientSession:
    """The gateway's one client session (made at start-up, inside the event loop)."""
    return aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=settings.upstream_max_connections, keepalive_timeout=KEEPALIVE_SECONDS),
        # `connect` bounds waiting for a pooled connection plus connecting; `sock_read` each wait
        # for the service once the request is sent.
        timeout=aiohttp.ClientTimeout(total=None, connect=settings.pool_timeout_seconds,
                                      sock_connect=settings.connect_timeout_seconds,
                                      sock_read=settings.read_timeout_seconds),
        # Cookies belong to callers, never to the gateway's shared session; bodies pass byte for
        # byte; the only headers added are the gateway's own.
        cookie_jar=aiohttp.DummyCookieJar(),
        auto_decompress=False,
        skip_auto_headers=("User-Agent", "Accept", "Accept-Encoding", "Content-Type"),
        trust_env=False,
        # A service names the people whose data a list carries in one header (x-qamqor-data-subjects,
        # 13 bytes a person): room for a page of families, not aiohttp's default of 8 KiB.
        max_field_size=MAX_ANSWER_HEADER_BYTES,
    )


@dataclass(slots=True)
class _RequestBody:
    """How far the caller's body has been read, and why reading it failed, if it did (aiohttp
    reports a failing body as a connection error)."""

    started: bool = False
    failure: Exception | None = None


class Upstreams:
    def __init__(self, settings: GatewaySettings, session: aiohttp.ClientSession) -> None:
        self.session = session
        self.bases = {name: URL(url.rstrip("/")) for name, url in settings.service_urls().items()}
        self.max_body = settings.max_body_bytes
        self.retries = settings.upstream_connect_retries

    async def forward(
        self, scope: Scope, receive: Receive, send: Send, *, service: str, internal_token: str,
        request_id: str, body: bytes | None, client_ip: str | None, has_body: bool,
    ) -> int:
        """Forward and stream the answer back; returns the status sent downstream. Raises one
        of the exceptions above if nothing has been sent downstream yet."""
        method = scope["method"]
        url = upstream_url(self.bases[service], request_path(scope), scope.get("query_string") or b"")
        raw_headers = upstream_headers(scope, internal_token=internal_token, request_id=request_id,
                                       client_ip=client_ip)
        replayable = method in IDEMPOTENT_METHODS or (
            method == "POST" and any(name == b"idempotency-key" for name, _ in raw_headers))
        if replayable and has_body and body is None:
            body = await read_body(receive, self.max_body)  # bounded; kept to send it again
        state = _RequestBody()

        headers = [(name.decode("latin-1"), value.decode("latin-1")) for name, value in raw_headers]
        content = body if body is not None else self._stream_body(receive, state) if has_body else None
        async with _Exchange(self, method, url, headers, content, state, replayable) as response:
            chunks = response.content.iter_any()
            ahead, complete = await self._read_ahead(chunks)
            await send({"type": "http.response.start", "status": response.status,
                        "headers": downstream_headers(response.raw_headers)})
            if complete:
                await send({"type": "http.response.body", "body": b"".join(ahead), "more_body": False})
                return response.status
            try:
                # One chunk of look-ahead so the last chunk carries more_body=False.
                previous = b"".join(ahead)
                async for chunk in chunks:
                    await send({"type": "http.response.body", "body": previous, "more_body": True})
                    previous = chunk
                await send({"type": "http.response.body", "body": previous, "more_body": False})
            except (aiohttp.ClientError, asyncio.TimeoutError):
                # Headers already went out: all that is left is to cut the response short.
                log.warning("upstream %s broke off a response to %s %s", service, method, scope["path"])
                raise
        return response.status

    async def _read_ahead(self, chunks: AsyncIterator[bytes]) -> tuple[list[bytes], bool]:
        """Up to READ_AHEAD_BYTES of the answer, and whether that was all of it."""
        ahead: list[bytes] = []
        size = 0
        try:
            while size < READ_AHEAD_BYTES:
                try:
                    chunk = await anext(chunks)
                except StopAsyncIteration:
                    return ahead, True
                ahead.append(chunk)
                size += len(chunk)
        except aiohttp.SocketTimeoutError as exc:
            raise UpstreamTimeout(type(exc).__name__) from exc
        except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
            raise UpstreamBroken(str(exc) or type(exc).__name__) from exc
        return ahead, False

    async def _stream_body(self, receive: Receive, state: _RequestBody) -> AsyncIterator[bytes]:
        received = 0
        while True:
            message = await receive()
            state.started = True
            if message["type"] == "http.disconnect":
                state.failure = ClientGone()
                raise state.failure
            chunk = message.get("body", b"")
            received += len(chunk)
            if received > self.max_body:
                state.failure = BodyTooLarge()
                raise state.failure
            if chunk:
                yield chunk
            if not message.get("more_body", False):
                return


class _Exchange:
    """`async with`: sends the request — retrying as the module docstring says — and holds the
    answer until its body has been passed on."""

    def __init__(self, upstreams: Upstreams, method: str, url: URL, headers: list[tuple[str, str]],
                 content: bytes | AsyncIterator[bytes] | None, state: _RequestBody, replayable: bool) -> None:
        self.upstreams = upstreams
        self.method, self.url, self.headers, self.content = method, url, headers, content
        self.state = state
        self.replayable = replayable
        self.response: aiohttp.ClientResponse | None = None

    async def __aenter__(self) -> aiohttp.ClientResponse:
        connect_attempts = 1 + (self.upstreams.retries if self.method in IDEMPOTENT_METHODS else 0)
        # aiohttp itself sends an idempotent request once more after such a drop; a POST with
        # an Idempotency-Key is sent once more here.
        dropped_attempts = 2 if self.replayable and self.method not in IDEMPOTENT_METHODS else 1
        delay = 0.05
        while True:
            try:
                self.response = await self.upstreams.session.request(
                    self.method, self.url, headers=self.headers, data=self.content, allow_redirects=False)
                return self.response
            except aiohttp.ConnectionTimeoutError as exc:  # no free pooled connection, or no connection in time
                raise UpstreamUnavailable(str(exc) or type(exc).__name__) from exc
            except aiohttp.ClientConnectorError as exc:  # refused or unreachable: nothing reached the service
                connect_attempts -= 1
                if connect_attempts == 0 or self.state.started:
                    raise UpstreamUnavailable(str(exc) or type(exc).__name__) from exc
                await asyncio.sleep(delay)
                delay *= 2
            except aiohttp.SocketTimeoutError as exc:
                raise UpstreamTimeout(type(exc).__name__) from exc
            except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
                if self.state.failure is not None:
                    raise self.state.failure from exc
                dropped = isinstance(exc, (aiohttp.ServerDisconnectedError, aiohttp.ClientOSError))
                dropped_attempts -= 1
                if dropped and dropped_attempts == 0 and self.replayable:
                    # Nothing came back; repeating is safe (idempotent, or the key replays).
                    raise UpstreamUnavailable(str(exc) or type(exc).__name__) from exc
                if dropped_attempts == 0 or not dropped:
                    raise UpstreamBroken(str(exc) or type(exc).__name__) from exc
                log.info("service dropped %s %s before answering; sending it once more", self.method, self.url.path)

    async def __aexit__(self, exc_type: type[BaseException] | None, *_: object) -> None:
        if self.response is not None:
            if exc_type is None:
                self.response.release()  # back to the pool, the answer having been read to its end
            else:
                self.response.close()


def upstream_headers(scope: Scope, *, internal_token: str, request_id: str,
                     client_ip: str | None) -> list[tuple[bytes, bytes]]:
    """The caller's headers less hop-by-hop ones and its credentials, plus what the gateway
    vouches for: the internal token, the request id, the forwarding headers."""
    drop = DROP_UPSTREAM
    for name, value in scope["headers"]:
        if name == b"connection":  # RFC 9110 §7.6.1: the headers it names are hop-by-hop too
            drop = drop | _connection_tokens(value)
    headers = [(name, value) for name, value in scope["headers"] if name not in drop]
    headers.append((INTERNAL_TOKEN_HEADER.encode(), internal_token.encode()))
    headers.append((b"x-request-id", request_id.encode("latin-1")))
    if client_ip:
        headers.append((b"x-forwarded-for", client_ip.encode("latin-1")))
    headers.append((b"x-forwarded-proto", scope.get("scheme", "http").encode()))
    headers.extend(trace_headers())  # the gateway's request span, when traced
    return headers


def downstream_headers(raw: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    """The service's headers less hop-by-hop ones and those the ASGI server writes itself."""
    drop = DROP_DOWNSTREAM
    lowered = []
    for name, value in raw:
        name = name.lower()
        if name == b"connection":
            drop = drop | _connection_tokens(value)
        lowered.append((name, value))
    return [(name, value) for name, value in lowered if name not in drop]


def _connection_tokens(value: bytes) -> frozenset[bytes]:
    return frozenset(token.strip().lower() for token in value.split(b",") if token.strip())


def request_path(scope: Scope) -> bytes:
    """The path as the caller sent it (percent-encoding kept), without the query string."""
    raw = scope.get("raw_path")
    if not raw:
        return scope["path"].encode()
    return raw.split(b"?", 1)[0]  # some ASGI clients put the query in raw_path


async def read_body(receive: Receive, limit: int) -> bytes:
    """The whole request body, refusing more than `limit` bytes (signed bank requests)."""
    parts: list[bytes] = []
    received = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientGone()
        chunk = message.get("body", b"")
        received += len(chunk)
        if received > limit:
            raise BodyTooLarge()
        parts.append(chunk)
        if not message.get("more_body", False):
            return b"".join(parts)
