"""Forwarding a request to the service that owns it.

One pooled httpx.AsyncClient for the life of the process. Bodies stream both ways (a bank
callback's body is the exception: its signature covers the body, so it is read first, within
the size limit). Hop-by-hop headers are dropped both ways; the caller's bearer token never
reaches a service — the gateway-signed internal token replaces it. A connection failure is
retried only for idempotent methods and only before any body byte was read."""

from __future__ import annotations

import asyncio
import logging
import re
from urllib.parse import quote
from collections.abc import AsyncIterator

import httpx
from starlette.types import Receive, Scope, Send

from gateway.settings import GatewaySettings
from gateway.transport import UpstreamTransport
from shared.identity import INTERNAL_TOKEN_HEADER

log = logging.getLogger("qamqor.gateway.proxy")

IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"})
HOP_BY_HOP = frozenset({
    b"connection", b"keep-alive", b"proxy-authenticate", b"proxy-authorization", b"te", b"trailer",
    b"trailers", b"transfer-encoding", b"upgrade", b"proxy-connection",
})
# Not forwarded upstream: the caller's credentials and what the gateway sets itself.
DROP_UPSTREAM = HOP_BY_HOP | {b"host", b"authorization", b"cookie", b"expect", b"x-request-id", b"x-forwarded-for",
                              b"x-forwarded-proto", b"x-forwarded-host", b"forwarded"}
# Not returned downstream: the ASGI server writes its own.
DROP_DOWNSTREAM = HOP_BY_HOP | {b"date", b"server", b"x-request-id", b"set-cookie"}


class UpstreamUnavailable(Exception):
    """Could not connect (503)."""


class UpstreamTimeout(Exception):
    """Connected but the service did not answer in time (504)."""


class UpstreamBroken(Exception):
    """The service closed the connection or spoke bad HTTP (502)."""


class BodyTooLarge(Exception):
    """The request body passed the configured limit while streaming (413)."""


class ClientGone(Exception):
    """The caller disconnected before the request was forwarded."""


class _NoCookies(httpx.Cookies):
    """Cookies belong to callers, never to the gateway's shared client: nothing is stored from
    a service's answer and nothing is added to a request."""

    def extract_cookies(self, response: httpx.Response) -> None:
        return None

    def set_cookie_header(self, request: httpx.Request) -> None:
        return None


_NO_COOKIES = _NoCookies()


class UpstreamClient(httpx.AsyncClient):
    @property  # type: ignore[override]
    def cookies(self) -> httpx.Cookies:
        return _NO_COOKIES

    @cookies.setter
    def cookies(self, value: object) -> None:
        pass


# A path and query as uvicorn hands them over: printable ASCII, already percent-encoded.
_PLAIN_TARGET = re.compile(rb"[!-~]*")


def upstream_url(base: httpx.URL, raw_path: bytes, query: bytes) -> httpx.URL:
    """`base` with the caller's path and query. The common case (printable ASCII, which the
    gateway's canonical-path check already vetted) skips httpx's full re-parse of the URL,
    which was a tenth of the gateway's CPU per request; anything else takes the normal route."""
    prefix = base.raw_path.rstrip(b"/")  # a service mounted under a path keeps it
    if _PLAIN_TARGET.fullmatch(raw_path) and _PLAIN_TARGET.fullmatch(query):
        try:
            url = httpx.URL.__new__(httpx.URL)
            url._uri_reference = base._uri_reference._replace(  # type: ignore[attr-defined]
                path=(prefix + raw_path).decode("ascii"), query=query.decode("ascii") if query else None)
            return url
        except AttributeError:  # a future httpx without these internals: parse as usual
            pass
    safe = "/%!$&'()*+,;=:@-._~?"
    target = quote(prefix + raw_path, safe=safe) + ("?" + quote(query, safe=safe) if query else "")
    return base.copy_with(raw_path=target.encode("ascii"))


def make_client(settings: GatewaySettings) -> httpx.AsyncClient:
    return UpstreamClient(
        timeout=httpx.Timeout(connect=settings.connect_timeout_seconds, read=settings.read_timeout_seconds,
                              write=settings.write_timeout_seconds, pool=settings.pool_timeout_seconds),
        # Below uvicorn's 5 s keep-alive, so the gateway does not reuse a connection the
        # service is about to close.
        transport=UpstreamTransport(max_connections=settings.upstream_max_connections, keepalive_expiry=3.0),
        follow_redirects=False,
        trust_env=False,
    )


class Upstreams:
    def __init__(self, settings: GatewaySettings, client: httpx.AsyncClient) -> None:
        self.client = client
        self.bases = {name: httpx.URL(url.rstrip("/")) for name, url in settings.service_urls().items()}
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
        headers = upstream_headers(scope, internal_token=internal_token, request_id=request_id, client_ip=client_ip)
        streamed = {"started": False}
        if body is not None:
            content: bytes | AsyncIterator[bytes] | None = body
        elif has_body:
            content = self._stream_body(receive, streamed)
        else:
            content = None

        request = httpx.Request(method, url, headers=headers, content=content)
        attempts = 1 + (self.retries if method in IDEMPOTENT_METHODS else 0)
        response = await self._send(request, attempts, streamed)
        try:
            await send({"type": "http.response.start", "status": response.status_code,
                        "headers": downstream_headers(response.headers.raw)})
            # One chunk of look-ahead so the last chunk carries more_body=False.
            previous: bytes | None = None
            async for chunk in response.aiter_raw():
                if previous is not None:
                    await send({"type": "http.response.body", "body": previous, "more_body": True})
                previous = chunk
            await send({"type": "http.response.body", "body": previous or b"", "more_body": False})
        except httpx.HTTPError:
            # Headers already went out: all we can do is cut the response short.
            log.warning("upstream %s broke off a response to %s %s", service, method, scope["path"])
            raise
        finally:
            await response.aclose()
        return response.status_code

    async def _send(self, request: httpx.Request, attempts: int, streamed: dict[str, bool]) -> httpx.Response:
        delay = 0.05
        for attempt in range(1, attempts + 1):
            try:
                return await self.client.send(request, stream=True)
            except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
                # Nothing reached the service; safe to retry an idempotent request whose body
                # (if any) has not been consumed.
                if attempt == attempts or streamed["started"]:
                    raise UpstreamUnavailable(str(exc) or type(exc).__name__) from exc
                await asyncio.sleep(delay)
                delay *= 2
            except httpx.PoolTimeout as exc:
                raise UpstreamUnavailable("no free connection to the service") from exc
            except (httpx.ReadTimeout, httpx.WriteTimeout) as exc:
                raise UpstreamTimeout(type(exc).__name__) from exc
            except (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError) as exc:
                raise UpstreamBroken(str(exc) or type(exc).__name__) from exc
        raise AssertionError("unreachable")

    async def _stream_body(self, receive: Receive, streamed: dict[str, bool]) -> AsyncIterator[bytes]:
        received = 0
        while True:
            message = await receive()
            streamed["started"] = True
            if message["type"] == "http.disconnect":
                raise ClientGone()
            chunk = message.get("body", b"")
            received += len(chunk)
            if received > self.max_body:
                raise BodyTooLarge()
            if chunk:
                yield chunk
            if not message.get("more_body", False):
                return


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
