"""The gateway with another client for the gateway → service hop, for bench_gateway.py only.

    QAMQOR_BENCH_TRANSPORT=aiohttp|httpx uvicorn --factory bench.gateway.forwarders:create_app

- `aiohttp`: the gateway as shipped (`gateway/proxy.py`, one aiohttp.ClientSession).
- `httpx`: `Upstreams.forward` done with an httpx.AsyncClient on httpx's stock transport
  (httpcore on anyio, with sniffio installed): the same headers in and out, the same streaming
  of the answer.

Everything else — token check, caller, rate limit, route, scope, internal token, audit — is the
gateway's own code, so the difference between the two is the forwarding client. (Until commit
1acd76e a third, `hand-written`, ran gateway/transport.py; see docs/benchmarks.md.)
"""

from __future__ import annotations

import os

import httpx
from fastapi import FastAPI
from starlette.types import Receive, Scope, Send

import gateway.main
from gateway.proxy import Upstreams, downstream_headers, request_path, upstream_headers


class HttpxUpstreams(Upstreams):
    """Forwarding as `Upstreams.forward` does it, with httpx's stock transport. (Bench only: a
    request body is passed as bytes, and failures are not mapped to 502/503/504.)"""

    client: httpx.AsyncClient | None = None

    def _client(self) -> httpx.AsyncClient:
        if self.client is None:
            self.client = httpx.AsyncClient(
                transport=httpx.AsyncHTTPTransport(limits=httpx.Limits(max_connections=200,
                                                                       max_keepalive_connections=200,
                                                                       keepalive_expiry=3.0)),
                timeout=httpx.Timeout(30.0, connect=2.0, pool=5.0), follow_redirects=False, trust_env=False)
        return self.client

    async def forward(self, scope: Scope, receive: Receive, send: Send, *, service: str, internal_token: str,
                      request_id: str, body: bytes | None, client_ip: str | None, has_body: bool) -> int:
        query = scope.get("query_string") or b""
        target = (str(self.bases[service]) + request_path(scope).decode("ascii")
                  + ("?" + query.decode("ascii") if query else ""))
        headers = upstream_headers(scope, internal_token=internal_token, request_id=request_id, client_ip=client_ip)
        if body is None and has_body:
            from gateway.proxy import read_body

            body = await read_body(receive, self.max_body)
        client = self._client()
        response = await client.send(client.build_request(scope["method"], target, headers=headers, content=body),
                                     stream=True)
        try:
            await send({"type": "http.response.start", "status": response.status_code,
                        "headers": downstream_headers(response.headers.raw)})
            previous: bytes | None = None
            async for chunk in response.aiter_raw():
                if previous is not None:
                    await send({"type": "http.response.body", "body": previous, "more_body": True})
                previous = chunk
            await send({"type": "http.response.body", "body": previous or b"", "more_body": False})
        finally:
            await response.aclose()
        return response.status_code


def create_app() -> FastAPI:
    if os.environ.get("QAMQOR_BENCH_TRANSPORT", "aiohttp") == "httpx":
        gateway.main.Upstreams = HttpxUpstreams  # type: ignore[misc]
    return gateway.main.create_app()
