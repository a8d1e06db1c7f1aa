"""What a service answers when something goes wrong that no handler expected (shared/errors.py):
a database that cannot be reached right now is 503 with Retry-After — the client tries again —
and anything else is 500; both problem+json, and the connection stays usable."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.exc import DBAPIError

from shared.errors import PROBLEM_JSON, install_error_handlers


class _AsyncpgError(Exception):
    """What SQLAlchemy's asyncpg adapter raises: the server's SQLSTATE on the exception."""

    def __init__(self, sqlstate: str | None) -> None:
        super().__init__("the database system is starting up")
        self.sqlstate = sqlstate


def _raising(exc: Exception) -> FastAPI:
    app = FastAPI()
    install_error_handlers(app)

    @app.post("/applications")
    async def create() -> dict:
        raise exc

    return app


async def _post(exc: Exception) -> httpx.Response:
    transport = httpx.ASGITransport(app=_raising(exc))
    async with httpx.AsyncClient(transport=transport, base_url="http://service") as client:
        return await client.post("/applications")


def _db_error(sqlstate: str | None, invalidated: bool = False) -> DBAPIError:
    return DBAPIError("INSERT INTO applications VALUES ($1)", ("550211400017",), _AsyncpgError(sqlstate),
                      connection_invalidated=invalidated)


@pytest.mark.parametrize("exc", [
    ConnectionRefusedError(111, "Connection refused"),  # the server is down
    _db_error("57P03"),  # starting up, or recovering after a crash
    _db_error("57P01"),  # shut down by an administrator while the request ran
    _db_error("08006"),  # the connection failed
    _db_error(None, invalidated=True),  # the connection dropped in the middle of a statement
], ids=["refused", "starting-up", "admin-shutdown", "connection-failure", "dropped"])
async def test_a_database_that_cannot_be_reached_now_is_503_with_retry_after(exc: Exception, caplog) -> None:
    answer = await _post(exc)
    assert answer.status_code == 503
    assert answer.headers["content-type"] == PROBLEM_JSON and answer.headers["retry-after"] == "1"
    assert answer.json()["type"].endswith("/temporarily-unavailable")
    # Only the class and SQLSTATE are logged, never the statement or its values.
    assert "550211400017" not in caplog.text and "INSERT" not in caplog.text


@pytest.mark.parametrize("exc", [ValueError("a bug"), _db_error("23505")], ids=["bug", "unique-violation"])
async def test_anything_else_is_500(exc: Exception) -> None:
    answer = await _post(exc)
    assert answer.status_code == 500 and answer.headers["content-type"] == PROBLEM_JSON
    assert answer.json()["type"].endswith("/internal-error")
