"""The gateway process: `uvicorn gateway.main:app` (or `create_app(settings)` in tests).

Layers, outermost first: request id and metrics (shared) → the ops dashboard (/dashboard only:
its page, files and cookie session; its data request goes on through the front door) → the
front door (authentication, authorisation, limits, audit, forwarding) → the gateway's own FastAPI
routes."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import asyncpg
from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.responses import HTMLResponse, JSONResponse
from sqlalchemy import exc as sa_exc, text
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Receive, Scope, Send
from swagger_ui_bundle import swagger_ui_path

from gateway.api import callers, oauth
from gateway.dashboard import Dashboard
from gateway.frontdoor import FrontDoor, Gateway
from gateway.openapi import MergedOpenApi
from gateway.proxy import Upstreams, make_session
from gateway.routes import DOCS_ASSETS_PREFIX
from gateway.settings import GatewaySettings
from shared.events import asyncapi
from shared.db import make_engine, make_sessionmaker
from shared.errors import install_error_handlers, problem_response
from shared.inputs import InputHygieneMiddleware
from shared.observability import RequestContextMiddleware, configure_logging, metrics_endpoint
from shared.tracing import TracingMiddleware, configure_tracing

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
log = logging.getLogger("qamqor.gateway")


async def _housekeeping(gw: Gateway) -> None:
    while True:
        await asyncio.sleep(60)
        try:
            await gw.purge_nonces()
        except Exception:  # noqa: BLE001
            log.warning("nonce purge failed", exc_info=True)


class ApiInputHygiene:
    """The services' input hygiene (control characters in path and query → 422, a body that is
    not JSON → 415) for the gateway's own /v1 API; /oauth/token takes a form and checks it itself."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.checked = InputHygieneMiddleware(app)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith("/v1/"):
            await self.checked(scope, receive, send)
        else:
            await self.app(scope, receive, send)


def _store_unavailable(request: Request, _: Exception) -> JSONResponse:
    """The gateway's own database is down: nothing was changed, the request may be repeated."""
    log.warning("gateway database unavailable on %s", request.url.path)
    return problem_response(status=503, slug="service-unavailable", title="Service unavailable",
                            detail="The gateway's store cannot be reached; try again shortly.",
                            instance=request.url.path, headers={"Retry-After": "1"})


def create_app(settings: GatewaySettings | None = None) -> FastAPI:
    settings = settings or GatewaySettings()
    configure_logging("gateway", settings.log_level)
    tracing = configure_tracing("gateway", settings)
    engine = make_engine(settings.database_url, pool_size=10)
    gw = Gateway(settings, engine=engine, sessionmaker=make_sessionmaker(engine))

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        session = make_session(settings)
        app.state.openapi = MergedOpenApi(app.openapi, session, settings.service_urls(),
                                          cache_seconds=settings.openapi_cache_seconds)
        housekeeping: asyncio.Task | None = None
        try:
            await gw.start(Upstreams(settings, session))
            housekeeping = asyncio.create_task(_housekeeping(gw))
            yield
        finally:
            if housekeeping is not None:
                housekeeping.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await housekeeping
            await gw.stop()
            await session.close()
            await engine.dispose()

    app = FastAPI(title="Qamqor gateway", version="0.1.0", lifespan=lifespan, docs_url=None, redoc_url=None,
                  openapi_url=None)
    app.state.gateway = gw
    app.state.settings = settings
    install_error_handlers(app)
    for unavailable in (OSError, asyncio.TimeoutError, sa_exc.OperationalError, sa_exc.InterfaceError,
                        asyncpg.PostgresConnectionError, asyncpg.CannotConnectNowError):
        app.add_exception_handler(unavailable, _store_unavailable)
    app.include_router(oauth)
    app.include_router(callers)

    @app.get("/health", include_in_schema=False)
    async def health() -> dict[str, str]:
        return {"status": "ok", "service": "gateway"}

    @app.get("/ready", include_in_schema=False)
    async def ready() -> JSONResponse:
        checks = {"database": False, "signing_key": getattr(gw, "keyring", None) is not None
                  and gw.keyring.signing_kid is not None,
                  "caller_notifications": getattr(gw, "directory", None) is not None and gw.directory.listening}
        try:
            async with engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
            checks["database"] = True
        except Exception:  # noqa: BLE001
            pass
        ok = checks["database"] and checks["signing_key"]
        return JSONResponse({"status": "ready" if ok else "not_ready", "checks": checks},
                            status_code=200 if ok else 503)

    @app.get("/openapi.json", include_in_schema=False)
    async def openapi(request: Request) -> JSONResponse:
        return JSONResponse(await request.app.state.openapi.document())

    # The events the services exchange (AsyncAPI 3.0, built from the contracts; docs/events.md).
    @app.get("/asyncapi.json", include_in_schema=False)
    async def asyncapi_document() -> JSONResponse:
        return JSONResponse(_asyncapi_document())

    # Swagger UI from the swagger-ui-bundle package, served here: /docs works with no internet.
    @app.get("/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url="/openapi.json", title="Qamqor API", oauth2_redirect_url="/docs/oauth2-redirect",
            swagger_js_url=DOCS_ASSETS_PREFIX + "swagger-ui-bundle.js",
            swagger_css_url=DOCS_ASSETS_PREFIX + "swagger-ui.css",
            swagger_favicon_url=DOCS_ASSETS_PREFIX + "favicon-32x32.png",
            # No badge fetched from the public validator.
            swagger_ui_parameters={"validatorUrl": None})

    @app.get("/docs/oauth2-redirect", include_in_schema=False)
    async def docs_redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()

    app.mount(DOCS_ASSETS_PREFIX.rstrip("/"), StaticFiles(directory=swagger_ui_path), name="docs-assets")
    app.add_route("/metrics", metrics_endpoint, include_in_schema=False)
    app.add_middleware(ApiInputHygiene)
    app.add_middleware(FrontDoor, gateway=gw)
    app.add_middleware(Dashboard, gateway=gw)  # /dashboard: its cookie session in front of the front door
    if tracing:  # the platform's edge: a new trace per request, a caller's traceparent only linked
        app.add_middleware(TracingMiddleware, service="gateway", continue_trace=False)
    app.add_middleware(RequestContextMiddleware, service="gateway")
    return app


@functools.cache
def _asyncapi_document() -> dict:
    return asyncapi.build()


def __getattr__(name: str) -> FastAPI:
    # `uvicorn gateway.main:app` builds the app on first access, not at import (tests import
    # this module with their own settings).
    if name == "app":
        return create_app()
    raise AttributeError(name)
