"""One fixture set for every test: real PostgreSQL, the real Kafka-protocol broker, and
gateway-signed internal tokens. Pure unit tests need none of it."""

from __future__ import annotations

import asyncio
import importlib
import os
import tempfile
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest

from gateway.routes import SCOPES
from qamqor_cli.infra import Broker, Postgres, ensure_postgres, free_port, start_broker
from shared.identity import Caller, generate_ed25519_pem, mint_internal_token

SCOPES_ALL = frozenset(SCOPES)


@pytest.fixture(scope="session")
def state_dir() -> Path:
    path = Path(tempfile.mkdtemp(prefix="qamqor-test-"))
    return path


@pytest.fixture(scope="session")
def postgres(state_dir: Path) -> Postgres:
    return ensure_postgres(state_dir)


@pytest.fixture(scope="session")
def db_prefix(postgres: Postgres) -> str:
    """Every database this test session creates starts with this prefix, so two sessions (two
    checkouts, or CI beside a developer) never drop each other's databases; all of them are
    dropped when the session ends."""
    prefix = f"qamqor_t{os.getpid()}"
    yield prefix
    asyncio.run(_drop_databases(postgres, prefix))


async def _drop_databases(postgres: Postgres, prefix: str) -> None:
    import asyncpg

    from shared.db import asyncpg_dsn, drop_database

    conn = await asyncpg.connect(asyncpg_dsn(postgres.url("postgres")))
    try:
        names = await conn.fetch("SELECT datname FROM pg_database WHERE datname LIKE $1", prefix + "\\_%")
    finally:
        await conn.close()
    for row in names:
        await drop_database(postgres.url(row["datname"]))


@pytest.fixture(scope="session")
def broker(state_dir: Path) -> Broker:
    external = os.environ.get("QAMQOR_TEST_KAFKA_BOOTSTRAP")
    if external:
        yield Broker(external, None)
        return
    broker = start_broker(state_dir / "kafka", free_port(), state_dir / "kafka.log")
    yield broker
    broker.stop()


@pytest.fixture(scope="session")
def internal_keys(state_dir: Path) -> tuple[bytes, Path]:
    private, public = generate_ed25519_pem()
    public_file = state_dir / "internal_public.pem"
    public_file.write_bytes(public)
    (state_dir / "internal_private.pem").write_bytes(private)
    return private, public_file


@pytest.fixture(scope="session")
def internal_token(internal_keys) -> Callable[..., dict[str, str]]:
    """Headers as the gateway would send them for a caller of `kind` with `scopes`."""
    private, _ = internal_keys

    def make(kind: str = "admin", scopes: frozenset[str] = SCOPES_ALL, caller_id: str | None = None,
             bank_code: str | None = None, citizen: str | None = None,
             regions: frozenset[str] = frozenset()) -> dict[str, str]:
        """`citizen`: the portal acts for this IIN; `regions`: a case worker's region prefixes."""
        caller = Caller(id=caller_id or f"test-{kind}", kind=kind, scopes=frozenset(scopes), bank_code=bank_code,
                        citizen_iin=citizen, regions=frozenset(regions))
        return {"x-qamqor-internal-token": mint_internal_token(private, caller, "test-request")}

    return make


@pytest.fixture(scope="session")
def service_env(postgres: Postgres, broker: Broker, internal_keys, db_prefix: str) -> Callable[[str], dict[str, str]]:
    """Environment for one service under test: its own database, the test broker, the key."""
    _, public_file = internal_keys

    def env(name: str) -> dict[str, str]:
        prefix = f"QAMQOR_{name.upper()}_"
        return {
            prefix + "DATABASE_URL": postgres.url(f"{db_prefix}_{name}"),
            prefix + "KAFKA_BOOTSTRAP": broker.bootstrap,
            prefix + "INTERNAL_PUBLIC_KEY_FILE": str(public_file),
            prefix + "ENVIRONMENT": "test",
            prefix + "CONSUMER_BACKOFF_SECONDS": "0.05",
            # Each test starts its service on a fresh database but the session's one broker, whose
            # topics hold the earlier tests' events: rewinding a newly assigned partition (against
            # a broker that lost writes, shared.consumer) would hand them to this test. The
            # failure suite and the end-to-end platform run their own broker and keep the rewind.
            prefix + "CONSUMER_REWIND_ON_ASSIGN": "0",
        }

    return env


@pytest.fixture(scope="session")
def running_service(service_env) -> Callable[[str], "AsyncIterator[httpx.AsyncClient]"]:
    """`async with running_service("intake") as client:` — a fresh database migrated to head,
    the app's lifespan running (relay and consumers on the real broker), requests over ASGI."""
    from shared.db import drop_database, ensure_database, migrate

    @asynccontextmanager
    async def run(name: str, **extra_env: str) -> AsyncIterator[httpx.AsyncClient]:
        env = service_env(name) | {k: v for k, v in extra_env.items()}
        old = {k: os.environ.get(k) for k in env}
        os.environ.update(env)
        try:
            url = env[f"QAMQOR_{name.upper()}_DATABASE_URL"]
            await drop_database(url)
            await ensure_database(url)
            module = importlib.import_module(f"services.{name}.main")
            await asyncio.to_thread(migrate, url, module.MIGRATIONS_DIR)
            app = module.create_app()
            async with app.router.lifespan_context(app):
                transport = httpx.ASGITransport(app=app)
                async with httpx.AsyncClient(transport=transport, base_url=f"http://{name}") as client:
                    client.app = app  # type: ignore[attr-defined]
                    yield client
        finally:
            for k, v in old.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v

    return run


@pytest.fixture(scope="session")
def sandbox_url() -> str:
    """The sandbox of external systems, served over real HTTP from a background thread."""
    import threading

    import uvicorn

    from sandbox.main import create_app

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    from qamqor_cli.infra import wait_for_port

    wait_for_port("127.0.0.1", port)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(5)
