"""Every service is built by `create_service_app`: the same error handling, request ids,
internal-token authentication, health/readiness/metrics, outbox relay and consumer runner.
A service only declares its routers, its event handlers and its start-up hooks."""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Annotated, Any

import jwt
from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.types import ASGIApp, Receive, Scope, Send

from shared.db import make_engine, make_sessionmaker
from shared.access import DataSubjectsMiddleware
from shared.errors import Forbidden, install_error_handlers, problem_response
from shared.inputs import InputHygieneMiddleware
from shared.identity import INTERNAL_TOKEN_HEADER, Caller, InternalTokenVerifier
from shared.kafka import broker_reachable, ensure_topics, make_producer
from shared.consumer import ConsumerRunner, Handler
from shared.observability import RequestContextMiddleware, configure_logging, metrics_endpoint
from shared.relay import OutboxRelay
from shared.settings import ServiceSettings
from shared.tracing import TracingMiddleware, configure_tracing

log = logging.getLogger("qamqor.service")

PUBLIC_PATHS = frozenset({"/health", "/ready", "/metrics", "/docs", "/docs/oauth2-redirect", "/openapi.json"})


@dataclass
class ServiceSpec:
    name: str
    settings: ServiceSettings
    routers: list[APIRouter]
    # Event type -> handler, built once the app exists (handlers may use its resources).
    handlers: Callable[[FastAPI], dict[str, Handler]] = lambda app: {}
    subscribe: tuple[str, ...] = ()
    # Extra resources (HTTP clients to external systems, caches): entered at start-up, their
    # values put on app.state under the given name.
    resources: dict[str, Callable[[FastAPI], Any]] = field(default_factory=dict)
    # Background loops a service needs beyond relay and consumer, supervised like them.
    tasks: dict[str, Callable[[FastAPI], Awaitable[None]]] = field(default_factory=dict)
    description: str = ""


class InternalAuthMiddleware:
    """Refuses every non-public request that lacks a valid gateway-signed internal token."""

    def __init__(self, app: ASGIApp, verifier: InternalTokenVerifier | None) -> None:
        self.app = app
        self.verifier = verifier

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in PUBLIC_PATHS:
            await self.app(scope, receive, send)
            return
        token = None
        for name, value in scope.get("headers", ()):
            if name == INTERNAL_TOKEN_HEADER.encode():
                token = value.decode("latin-1")
                break
        caller = None
        if token and self.verifier is not None:
            try:
                caller = self.verifier.verify(token)
            except jwt.InvalidTokenError:
                caller = None
        if caller is None:
            response = problem_response(
                status=401, slug="unauthorized", title="Authentication required",
                detail="Services are reached only through the gateway.", instance=scope["path"],
                headers={"WWW-Authenticate": 'Bearer realm="qamqor"'},
            )
            await response(scope, receive, send)
            return
        scope.setdefault("state", {})["caller"] = caller
        await self.app(scope, receive, send)


async def _supervise(name: str, body: Callable[[], Awaitable[None]]) -> None:
    """Run a background loop for the life of the process, restarting it after a failure (for
    example while the broker is down)."""
    delay = 0.5
    while True:
        try:
            await body()
            return
        except asyncio.CancelledError:
            raise
        except Exception:  # noqa: BLE001
            log.warning("%s stopped with an error; restarting in %.1fs", name, delay, exc_info=True)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 10.0)


async def _cancel_all(tasks: list[asyncio.Task], *, rounds: int = 5, grace: float = 2.0) -> None:
    """Cancel the background loops and wait for them to end. A library below a loop may take one
    cancellation for its own (a database driver or the Kafka client cleaning up after an
    interrupted call) and carry on: such a loop is cancelled again, a few times, rather than
    holding the process's shutdown for ever."""
    pending = {task for task in tasks if not task.done()}
    for _ in range(rounds):
        if not pending:
            return
        for task in pending:
            task.cancel()
        _, pending = await asyncio.wait(pending, timeout=grace)
        if pending:
            log.warning("%d background loop(s) still running after cancellation; cancelling again", len(pending))
    if pending:
        log.error("%d background loop(s) would not stop; leaving them", len(pending))


async def _consume(app: FastAPI, spec: ServiceSpec) -> None:
    settings = spec.settings
    await ensure_topics(settings.kafka_bootstrap, settings.kafka_partitions, spec.subscribe)
    runner = ConsumerRunner(
        service=spec.name, bootstrap=settings.kafka_bootstrap, topics=spec.subscribe,
        handlers=spec.handlers(app), sessionmaker=app.state.sessionmaker,
        max_attempts=settings.consumer_max_attempts, backoff_seconds=settings.consumer_backoff_seconds,
        batch_size=settings.consumer_batch_size, lanes=settings.consumer_lanes,
        rewind_on_assign=settings.consumer_rewind_on_assign, stall_seconds=settings.consumer_stall_seconds,
        instance_id=settings.consumer_instance_id or f"{spec.name}@{socket.gethostname()}",
    )
    try:
        await runner.start()
        app.state.consumer_running = True
        await runner.run()
    finally:
        app.state.consumer_running = False
        await runner.stop()


def create_service_app(spec: ServiceSpec) -> FastAPI:
    settings = spec.settings
    configure_logging(spec.name, settings.log_level)
    tracing = configure_tracing(spec.name, settings)
    serves, works = settings.role != "worker", settings.role != "api"

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = make_engine(settings.database_url)
        app.state.engine = engine
        app.state.sessionmaker = sessionmaker = make_sessionmaker(engine)
        app.state.settings = settings
        tasks: list[asyncio.Task] = []
        cleanups: list[Callable[[], Awaitable[None]]] = []
        for resource_name, factory in spec.resources.items():
            resource = factory(app)
            value = resource
            if hasattr(resource, "__aenter__"):
                value = await resource.__aenter__()
                cleanups.append(lambda r=resource: r.__aexit__(None, None, None))
            setattr(app.state, resource_name, value)

        app.state.relay = None
        app.state.consumer_running = not (works and spec.subscribe)
        if works:  # an "api" process leaves these to its "worker" (LISTEN/NOTIFY wakes that relay)
            relay = OutboxRelay(
                service=spec.name, database_url=settings.database_url, sessionmaker=sessionmaker,
                producer_factory=lambda: make_producer(settings.kafka_bootstrap, f"qamqor-{spec.name}-relay"),
                bootstrap=settings.kafka_bootstrap)
            app.state.relay = relay
            tasks.append(asyncio.create_task(_supervise("outbox relay", relay.run)))
            if spec.subscribe:
                tasks.append(asyncio.create_task(_supervise("consumer", lambda: _consume(app, spec))))
            for task_name, task in spec.tasks.items():
                tasks.append(asyncio.create_task(_supervise(task_name, lambda t=task: t(app))))
        try:
            yield
        finally:
            await _cancel_all(tasks)
            for cleanup in reversed(cleanups):
                await cleanup()
            await engine.dispose()

    app = FastAPI(title=f"Qamqor {spec.name}", description=spec.description, lifespan=lifespan,
                  version="0.1.0")
    install_error_handlers(app)
    app.add_middleware(DataSubjectsMiddleware)
    app.add_middleware(InputHygieneMiddleware)
    public_key = settings.internal_public_key()
    app.add_middleware(InternalAuthMiddleware, verifier=InternalTokenVerifier(public_key) if public_key else None)
    if tracing:  # off: not even a pass-through layer
        app.add_middleware(TracingMiddleware, service=spec.name)
    app.add_middleware(RequestContextMiddleware, service=spec.name)

    @app.get("/health", include_in_schema=False)
    async def health(request: Request) -> JSONResponse:
        """Liveness: the process works. A relay that has not published for `relay_stall_seconds`
        while rows wait is not working (an orchestrator restarts the process)."""
        relay: OutboxRelay | None = getattr(request.app.state, "relay", None)
        stalled = relay.stalled_for() if relay is not None else 0.0
        alive = stalled <= settings.relay_stall_seconds
        return JSONResponse({"status": "ok" if alive else "stalled", "service": spec.name, "role": settings.role,
                             "relay_stalled_seconds": round(stalled, 1)}, status_code=200 if alive else 503)

    @app.get("/ready", include_in_schema=False)
    async def ready(request: Request) -> JSONResponse:
        checks: dict[str, bool] = {}
        try:
            async with request.app.state.engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
            checks["database"] = True
        except Exception:  # noqa: BLE001
            checks["database"] = False
        # Informative only: without the broker a service still takes requests — what they change
        # waits in the outbox — so its absence does not take the service out of the load balancer.
        checks["broker"] = await broker_reachable(settings.kafka_bootstrap)
        checks["consumer"] = bool(getattr(request.app.state, "consumer_running", False))
        ok = checks["database"]
        return JSONResponse({"status": "ready" if ok else "not_ready", "checks": checks},
                            status_code=200 if ok else 503)

    app.add_route("/metrics", metrics_endpoint, include_in_schema=False)
    for router in spec.routers if serves else ():
        app.include_router(router)
    return app


# ---- dependencies every router uses -------------------------------------------------------

async def _session(request: Request) -> AsyncIterator[AsyncSession]:
    """The request's unit of work: commits when the endpoint returns, rolls back if it raises,
    so services never call commit()."""
    async with request.app.state.sessionmaker() as session:
        async with session.begin():
            yield session


# Dependencies are coroutines, even those that never wait: FastAPI runs a plain function in its
# thread pool, a hand-off to a worker thread and back on every request (about a fifth of a busy
# service's CPU in the pipeline profile, bench/pipeline).
async def _caller(request: Request) -> Caller:
    return request.state.caller


# scope="function": the commit happens when the endpoint returns, before the response is sent,
# so a caller that got 201 can read what it wrote (the default scope commits after sending).
SessionDep = Annotated[AsyncSession, Depends(_session, scope="function")]
CallerDep = Annotated[Caller, Depends(_caller)]


class RequireScope:
    """Defence in depth: the service checks the route's scope itself, from the caller in the
    gateway-signed internal token, so a mistake in the gateway's route table alone cannot expose
    data. Declared on the route (`dependencies=[Depends(RequireScope("contracts:sign"))]`), it runs
    before any other dependency, so a refused caller never opens a database session."""

    def __init__(self, scope: str) -> None:
        self.scope = scope

    async def __call__(self, request: Request) -> None:  # a coroutine: no thread-pool hop (see _caller)
        caller: Caller | None = getattr(request.state, "caller", None)
        if caller is None or not caller.has(self.scope):
            raise Forbidden(f"This route needs the scope {self.scope}.")

    def __repr__(self) -> str:
        return f"RequireScope({self.scope!r})"


def required_scopes(route: Any) -> set[str]:
    """The scopes a FastAPI route declares with RequireScope (the route-table contract test
    compares them with the gateway's table)."""
    return {dep.call.scope for dep in getattr(route, "dependant", None).dependencies
            if isinstance(dep.call, RequireScope)} if hasattr(route, "dependant") else set()
