"""One error type for the whole platform, rendered as RFC 9457 problem+json by one handler."""

from __future__ import annotations

import logging
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.iin import mask_iins_in

PROBLEM_JSON = "application/problem+json"
PROBLEM_BASE = "https://qamqor.gov.kz/problems/"


class QamqorError(Exception):
    """A failure a caller can act on. `slug` names the problem type; `errors` lists field errors."""

    status: int = 400
    slug: str = "bad-request"
    title: str = "Bad request"

    def __init__(
        self,
        detail: str,
        *,
        errors: list[dict[str, Any]] | None = None,
        status: int | None = None,
        slug: str | None = None,
        title: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.errors = errors or []
        if status is not None:
            self.status = status
        if slug is not None:
            self.slug = slug
        if title is not None:
            self.title = title
        self.headers = headers or {}


class NotFound(QamqorError):
    status, slug, title = 404, "not-found", "Not found"


class Conflict(QamqorError):
    status, slug, title = 409, "conflict", "Conflict"


class InvalidInput(QamqorError):
    status, slug, title = 422, "validation-error", "Invalid input"


class Unauthorized(QamqorError):
    status, slug, title = 401, "unauthorized", "Authentication required"


class Forbidden(QamqorError):
    status, slug, title = 403, "forbidden", "Forbidden"


def field_error(path: str, message: str) -> dict[str, str]:
    return {"field": path, "message": mask_iins_in(message)}


def problem_response(
    *,
    status: int,
    slug: str,
    title: str,
    detail: str,
    instance: str | None = None,
    errors: list[dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    body: dict[str, Any] = {
        "type": PROBLEM_BASE + slug,
        "title": title,
        "status": status,
        "detail": mask_iins_in(detail),
    }
    if instance:
        body["instance"] = mask_iins_in(instance)  # a path may carry an IIN
    if errors:
        body["errors"] = errors
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """A JSON answer for a body that is already JSON-ready (skips FastAPI's generic encoder,
    which costs more than a rules decision on a large explanation)."""
    return Response(orjson.dumps(body), status_code=status, media_type="application/json", headers=headers)


def _loc_to_path(loc: tuple[Any, ...] | list[Any]) -> str:
    parts = list(loc)
    if parts and parts[0] in ("body", "query", "path", "header"):
        source = parts.pop(0)
        if not parts:
            return source
        if source != "body":
            parts.insert(0, source)
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


# SQLSTATEs that say the database is away for now, not that the request is wrong: class 08
# (connection exception), and 57P01-57P03 (shut down by an administrator or a crash, starting up
# or recovering).
_UNAVAILABLE_SQLSTATES = frozenset({"57P01", "57P02", "57P03"})


def temporarily_unavailable(exc: BaseException) -> bool:
    """The service's database (or another system it must reach) cannot be reached right now: a
    refused or dropped connection, a server restarting or recovering, a connection pool with none
    free. Trying again later is the remedy — an answer of 503, not of 500."""
    from sqlalchemy.exc import DBAPIError, TimeoutError as PoolTimeout

    if isinstance(exc, (ConnectionError, PoolTimeout)):
        return True
    if isinstance(exc, DBAPIError):
        state = getattr(exc.orig, "sqlstate", None) or ""
        return exc.connection_invalidated or state.startswith("08") or state in _UNAVAILABLE_SQLSTATES
    return False


def _unavailable(path: str) -> JSONResponse:
    return problem_response(
        status=503,
        slug="temporarily-unavailable",
        title="Temporarily unavailable",
        detail="The service cannot reach its database right now; try again shortly (a POST with the same "
               "Idempotency-Key is safe to repeat).",
        instance=path,
        headers={"Retry-After": "1"},
    )


def _failed(scope_path: str, method: str, exc: Exception) -> JSONResponse:
    """The answer to an exception nothing handled: 503 when the database is away, else 500. For a
    503 only the exception's class and SQLSTATE are logged: that is all an operator needs, and a
    driver's message may quote values."""
    log = logging.getLogger("qamqor.errors")
    if temporarily_unavailable(exc):
        state = getattr(getattr(exc, "orig", None), "sqlstate", None)
        log.warning("database unavailable on %s %s (%s%s); answered 503", method, mask_iins_in(scope_path),
                    type(exc).__name__, f" {state}" if state else "")
        return _unavailable(scope_path)
    log.exception("unhandled error on %s %s", method, mask_iins_in(scope_path))
    return _internal_error(scope_path)


def _internal_error(path: str) -> JSONResponse:
    return problem_response(
        status=500,
        slug="internal-error",
        title="Internal error",
        detail="An unexpected error occurred; it has been logged with the request id.",
        instance=path,
    )


class UnexpectedErrorMiddleware:
    """An unexpected exception in a route becomes a 500 problem (a 503 when the database cannot be
    reached right now, `temporarily_unavailable`), and the connection stays usable.
    Starlette's own handler answers 500 too but then re-raises, and the server closes the
    connection after the answer: a client's keep-alive pool cannot see that coming, so the next
    request it sends on that connection — another caller's — fails. Here the error is logged
    (the log formatter masks IINs) and answered, and the request ends normally."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def note_start(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, note_start)
        except Exception as exc:
            if started:
                logging.getLogger("qamqor.errors").exception(
                    "unhandled error on %s %s", scope["method"], mask_iins_in(scope["path"]))
                raise  # part of an answer is out: only closing the connection can tell the client
            await _failed(scope["path"], scope["method"], exc)(scope, receive, send)


def install_error_handlers(app: FastAPI) -> None:
    # Added first, so it sits inside every other middleware, right around the routes.
    app.add_middleware(UnexpectedErrorMiddleware)

    @app.exception_handler(QamqorError)
    async def _qamqor(request: Request, exc: QamqorError) -> JSONResponse:
        return problem_response(
            status=exc.status,
            slug=exc.slug,
            title=exc.title,
            detail=exc.detail,
            instance=request.url.path,
            errors=exc.errors,
            headers=exc.headers,
        )

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        malformed = next((e for e in exc.errors() if e.get("type") == "json_invalid"), None)
        if malformed is not None:
            # Not a field's value but the body's syntax: 400, with where the parser stopped.
            loc = malformed.get("loc", ())
            position = loc[1] if len(loc) > 1 and isinstance(loc[1], int) else None
            reason = (malformed.get("ctx") or {}).get("error", "not valid JSON")
            where = f" at position {position}" if position is not None else ""
            return problem_response(
                status=400, slug="malformed-json", title="Malformed JSON",
                detail=f"The request body is not valid JSON: {reason}{where}.", instance=request.url.path,
                errors=[{"field": "body", "message": f"{reason}{where}", "position": position}],
            )
        errors = [field_error(_loc_to_path(e.get("loc", ())), str(e.get("msg", ""))) for e in exc.errors()]
        return problem_response(
            status=422,
            slug="validation-error",
            title="Invalid input",
            detail=f"The request has {len(errors)} invalid field(s).",
            instance=request.url.path,
            errors=errors,
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        titles = {404: "Not found", 405: "Method not allowed", 401: "Authentication required"}
        return problem_response(
            status=exc.status_code,
            slug={404: "not-found", 405: "method-not-allowed"}.get(exc.status_code, "http-error"),
            title=titles.get(exc.status_code, "HTTP error"),
            detail=str(exc.detail),
            instance=request.url.path,
            headers=getattr(exc, "headers", None),
        )

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        # Reached only by an error in a middleware outside UnexpectedErrorMiddleware.
        return _failed(request.url.path, request.method, exc)
