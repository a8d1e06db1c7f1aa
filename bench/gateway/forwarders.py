"""The gateway with another client for the gateway → service hop, for bench_gateway.py only.

    QAMQOR_BENCH_TRANSPORT=hand-written|httpx|aiohttp \
        uvicorn --factory bench.gateway.forwarders:create_app

- `hand-written`: the gateway as shipped (`gateway/transport.py` under httpx.AsyncClient).
- `httpx`: the same httpx.AsyncClient with httpx's stock transport (httpcore on anyio, with
  sniffio installed), pooled like the shipped one.
- `aiohttp`: `Upstreams.forward` done with one aiohttp.ClientSession: the same headers in
  and out, the same streaming of the answer, no cookies, no decompression, no redirects.

Everything else — token check, caller, rate limit, route, scope, internal token, audit — is the
gateway's own code, so the difference between the three is the forwarding client.
"""

from __future__ import annotations

import os
from typing import Any

import aiohttp
import httpx
from fastapi import FastAPI
from starlette.types import Receive, Scope, Send
from yarl import URL

import gateway.main
from gateway.proxy import UpstreamClient, Upstreams, downstream_headers, request_path, upstream_headers
from gateway.settings import GatewaySettings


def _stock_httpx_client(settings: GatewaySettings) -> httpx.AsyncClient:
    return UpstreamClient(
        timeout=httpx.Timeout(connect=settings.connect_timeout_seconds, read=settings.read_timeout_seconds,
                              write=settings.write_timeout_seconds, pool=settings.pool_timeout_seconds),
        transport=httpx.AsyncHTTPTransport(limits=httpx.Limits(
            max_connections=settings.upstream_max_connections,
            max_keepalive_connections=settings.upstream_max_connections, keepalive_expiry=3.0)),
        follow_redirects=False,
        trust_env=False,
    )


class AiohttpUpstreams(Upstreams):
    """Forwarding as `Upstreams.forward` does it, with aiohttp's client. (Bench only: a request
    body is passed as bytes, and failures are not mapped to 502/503/504.)"""

    def __init__(self, settings: GatewaySettings, client: httpx.AsyncClient) -> None:
        super().__init__(settings, client)
        self.settings = settings
        self.session: aiohttp.ClientSession | None = None

    def _session(self) -> aiohttp.ClientSession:
        if self.session is None:
            settings = self.settings
            self.session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=settings.upstream_max_connections, keepalive_timeout=3.0),
                cookie_jar=aiohttp.DummyCookieJar(), auto_decompress=False,
                skip_auto_headers=("User-Agent", "Accept", "Accept-Encoding"),
                timeout=aiohttp.ClientTimeout(sock_connect=settings.connect_timeout_seconds,
                                              sock_read=settings.read_timeout_seconds))
        return self.session

    async def forward(self, scope: Scope, receive: Receive, send: Send, *, service: str, internal_token: str,
                      request_id: str, body: bytes | None, client_ip: str | None, has_body: bool) -> int:
        query = scope.get("query_string") or b""
        target = (str(self.bases[service]) + request_path(scope).decode("ascii")
                  + ("?" + query.decode("ascii") if query else ""))
        headers = [(name.decode("latin-1"), value.decode("latin-1"))
                   for name, value in upstream_headers(scope, internal_token=internal_token, request_id=request_id,
                                                       client_ip=client_ip)]
        if body is None and has_body:
            from gateway.proxy import read_body

            body = await read_body(receive, self.max_body)
        async with self._session().request(scope["method"], URL(target, encoded=True), headers=headers, data=body,
                                           allow_redirects=False) as response:
            await send({"type": "http.response.start", "status": response.status,
                        "headers": downstream_headers(list(response.raw_headers))})
            previous: bytes | None = None
            async for chunk in response.content.iter_any():
                if previous is not None:
                    await send({"type": "http.response.body", "body": previous, "more_body": True})
                previous = chunk
            await send({"type": "http.response.body", "body": previous or b"", "more_body": False})
            return response.status


def create_app() -> FastAPI:
    transport = os.environ.get("QAMQOR_BENCH_TRANSPORT", "hand-written")
    patches: dict[str, Any] = {
        "hand-written": {},
        "httpx": {"make_client": _stock_httpx_client},
        "aiohttp": {"Upstreams": AiohttpUpstreams},
    }[transport]
    for name, value in patches.items():
        setattr(gateway.main, name, value)
    return gateway.main.create_app()
