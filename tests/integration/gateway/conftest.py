"""Gateway test rig: a migrated gateway database of this session, one stand-in service per
real service (each a real uvicorn server on its own port, checking internal tokens), the
sandbox's eGov IDP (a real uvicorn server) the gateway verifies citizens' assertions with, and
the gateway app itself, driven over ASGI."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from gateway.crypto import bank_signature
from gateway.main import MIGRATIONS_DIR, create_app
from gateway.routes import ROUTES
from gateway.callers import create_caller
from gateway.schemas import ACCESS_TOKEN_TYPE, ID_TOKEN_TYPE, TOKEN_EXCHANGE_GRANT
from gateway.settings import GatewaySettings, RateLimit
from sandbox.idp import AUDIENCE as IDP_AUDIENCE, ISSUER as IDP_ISSUER
from shared.db import drop_database, ensure_database, migrate
from shared.identity import CALLER_KINDS
from tests.integration.gateway.standin import create_standin

SERVICES = sorted({route.service for route in ROUTES if route.service != "gateway"})
FAST_ARGON2 = {"argon2_time_cost": 2, "argon2_memory_kib": 19456, "argon2_parallelism": 1}


@pytest.fixture(scope="session")
async def gateway_database(postgres, db_prefix) -> str:
    url = postgres.url(f"{db_prefix}_gateway")
    await drop_database(url)
    await ensure_database(url)
    await asyncio.to_thread(migrate, url, MIGRATIONS_DIR)
    return url


class UvicornOnSocket:
    """A uvicorn server in a background thread on a socket bound here, so requests wait in the
    listen backlog until it serves them (nothing waits for its start-up), and it can restart on
    the same port."""

    def __init__(self, app: Any, port: int = 0, *, lifespan: str = "off") -> None:
        self.app = app
        self.lifespan = lifespan
        self.socket = socket.socket()
        self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.socket.bind(("127.0.0.1", port))
        self.socket.listen(128)
        self.port = self.socket.getsockname()[1]
        self.server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan=lifespan))
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.socket]}, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join()

    async def restart(self) -> "UvicornOnSocket":
        await asyncio.to_thread(self.stop)
        return UvicornOnSocket(self.app, self.port, lifespan=self.lifespan)


@pytest.fixture(scope="session")
def standins(internal_keys) -> dict[str, str]:
    """service name → URL of its stand-in."""
    _, public_file = internal_keys
    public = Path(public_file).read_bytes()
    servers = {name: UvicornOnSocket(create_standin(name, public)) for name in SERVICES}
    yield {name: server.url for name, server in servers.items()}
    for server in servers.values():
        server.stop()


@pytest.fixture(scope="session")
def make_settings(gateway_database, standins, internal_keys, state_dir, sandbox_url) -> Callable[..., GatewaySettings]:
    private_file = state_dir / "internal_private.pem"
    key_dir = state_dir / "gateway-keys"

    def make(**overrides: Any) -> GatewaySettings:
        values: dict[str, Any] = {
            "environment": "test", "database_url": gateway_database, "internal_private_key_file": private_file,
            "key_dir": key_dir, "rate_limits": {kind: RateLimit(rate=1000, burst=1000) for kind in CALLER_KINDS},
            "token_rate_limit": RateLimit(rate=1000, burst=1000), "read_timeout_seconds": 5.0,
            "idp_jwks_url": f"{sandbox_url}/idp/.well-known/jwks.json", "idp_issuer": IDP_ISSUER,
            "idp_audience": IDP_AUDIENCE,
            **FAST_ARGON2,
        }
        values.update({f"{name}_url": url for name, url in standins.items()})
        values.update(overrides)
        return GatewaySettings(**values)

    return make


@asynccontextmanager
async def running_gateway(settings: GatewaySettings) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 40000))
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as client:
            client.app = app  # type: ignore[attr-defined]
            client.gateway = app.state.gateway  # type: ignore[attr-defined]
            yield client


@pytest.fixture(scope="session")
async def gateway(make_settings) -> AsyncIterator[httpx.AsyncClient]:
    async with running_gateway(make_settings()) as client:
        yield client


@dataclass
class Registered:
    id: str
    kind: str
    secret: str
    scopes: list[str]
    bank_code: str | None = None
    signing_secret: str | None = None


_counter = iter(range(1, 1_000_000))


@pytest.fixture(scope="session")
def register(gateway) -> Callable[..., Any]:
    """Create a caller straight in the gateway database (as the CLI does)."""
    gw = gateway.gateway

    async def make(kind: str, *, scopes: list[str] | None = None, bank_code: str | None = None,
                   caller_id: str | None = None) -> Registered:
        caller_id = caller_id or f"t-{kind.replace('_', '-')}-{next(_counter)}"
        async with gw.sessionmaker() as session, session.begin():
            issued = await create_caller(session=session, hasher=gw.hasher, master_key=gw.master_key,
                                         caller_id=caller_id, kind=kind, scopes=scopes, bank_code=bank_code)
        await gw.directory.reload_one(caller_id)
        c = issued.as_dict()
        return Registered(c["id"], c["kind"], c["secret"], c["scopes"], c.get("bank_code"), c.get("signing_secret"))

    return make


async def until(condition: Callable[[], Awaitable[bool]]) -> None:
    """Polls until `condition()` holds: for a change that reaches this process from another one
    (PostgreSQL NOTIFY). A test asserts that it arrives, never how fast."""
    while not await condition():
        await asyncio.sleep(0.01)


async def get_token(client: httpx.AsyncClient, caller: Registered, scope: str | None = None) -> str:
    form = {"grant_type": "client_credentials", "client_id": caller.id, "client_secret": caller.secret}
    if scope is not None:
        form["scope"] = scope
    response = await client.post("/oauth/token", data=form)
    assert response.status_code == 200, response.text
    return response.json()["access_token"]


async def sign_in(sandbox_url: str, iin: str, **claims: Any) -> str:
    """The citizen signs in at the sandbox's eGov IDP: the assertion the portal receives."""
    async with httpx.AsyncClient(base_url=sandbox_url) as idp:
        response = await idp.post("/idp/sandbox/sign-in", json={"iin": iin, **claims})
    assert response.status_code == 200, response.text
    return response.json()["id_token"]


async def exchange(client: httpx.AsyncClient, actor_token: str, assertion: str, **extra: str) -> httpx.Response:
    """The portal's RFC 8693 token exchange at the gateway."""
    form = {"grant_type": TOKEN_EXCHANGE_GRANT, "subject_token": assertion, "subject_token_type": ID_TOKEN_TYPE,
            "actor_token": actor_token, "actor_token_type": ACCESS_TOKEN_TYPE, **extra}
    return await client.post("/oauth/token", data=form)


async def citizen_token(client: httpx.AsyncClient, sandbox_url: str, actor_token: str, iin: str) -> str:
    response = await exchange(client, actor_token, await sign_in(sandbox_url, iin))
    assert response.status_code == 200, response.text
    return response.json()["access_token"]


def signed_headers(caller: Registered, method: str, path: str, body: bytes = b"", *, timestamp: int | None = None,
                   nonce: str | None = None, secret: str | None = None) -> dict[str, str]:
    import secrets

    ts = str(int(time.time()) if timestamp is None else timestamp)
    nonce = nonce or secrets.token_urlsafe(18)
    signature = bank_signature((secret or caller.signing_secret or "").encode(), timestamp=ts, nonce=nonce,
                               method=method, path=path, body=body)
    return {"X-Qamqor-Timestamp": ts, "X-Qamqor-Nonce": nonce, "X-Qamqor-Signature": signature}
