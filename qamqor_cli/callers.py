"""`qamqor callers …` and `qamqor keys …`: manage gateway callers and token signing keys
directly in the gateway database (QAMQOR_GATEWAY_DATABASE_URL). Running gateways see every
change at once (pg_notify). Secrets are printed once, as JSON, and never stored in clear."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import typer
from sqlalchemy.ext.asyncio import AsyncSession

from gateway import repository
from gateway.crypto import SecretHasher
from gateway.callers import create_caller, list_callers, load_master_key, rotate_secret, set_enabled, set_regions
from gateway.tokens import rotate_signing_key
from gateway.settings import GatewaySettings
from shared.db import make_engine, make_sessionmaker
from shared.errors import QamqorError

callers_app = typer.Typer(help="Gateway callers: create, list, rotate a secret, disable.", no_args_is_help=True)
keys_app = typer.Typer(help="Access-token signing keys: list and rotate.", no_args_is_help=True)

T = TypeVar("T")


def _run(work: Callable[[AsyncSession, GatewaySettings], Awaitable[T]]) -> T:
    settings = GatewaySettings()

    async def go() -> T:
        engine = make_engine(settings.database_url, pool_size=1)
        try:
            async with make_sessionmaker(engine)() as session, session.begin():
                return await work(session, settings)
        finally:
            await engine.dispose()

    try:
        return asyncio.run(go())
    except QamqorError as exc:
        detail = {"error": exc.slug, "detail": exc.detail}
        if exc.errors:
            detail["errors"] = exc.errors
        typer.echo(json.dumps(detail, ensure_ascii=False), err=True)
        raise typer.Exit(1) from None


def _hasher(settings: GatewaySettings) -> SecretHasher:
    return SecretHasher(time_cost=settings.argon2_time_cost, memory_kib=settings.argon2_memory_kib,
                        parallelism=settings.argon2_parallelism)


def _print(value: Any) -> None:
    typer.echo(json.dumps(value, indent=2, ensure_ascii=False, default=str))


@callers_app.command("create")
def create(
    caller_id: str = typer.Option(..., "--id", help="e.g. portal-egov"),
    kind: str = typer.Option(..., "--kind", help="portal, fdc, bank, sms_gateway, ops, case_worker or admin"),
    scopes: str | None = typer.Option(None, "--scopes", help="comma-separated; default: the kind's scopes"),
    bank_code: str | None = typer.Option(None, "--bank-code", help="banks only: the BIC, e.g. HSBKKZKX"),
    regions: str | None = typer.Option(None, "--regions",
                                       help="case workers only: comma-separated region prefixes, e.g. 61,79"),
) -> None:
    """Register a caller and print its secret (and a bank's signing secret) once."""
    scope_list = _list(scopes)

    async def work(session: AsyncSession, settings: GatewaySettings) -> dict[str, Any]:
        master_key = await load_master_key(settings=settings, session=session)
        issued = await create_caller(session=session, hasher=_hasher(settings), master_key=master_key,
                                     caller_id=caller_id, kind=kind, scopes=scope_list, bank_code=bank_code,
                                     regions=_list(regions))
        return issued.as_dict()

    _print(_run(work))


def _list(value: str | None) -> list[str] | None:
    return [item.strip() for item in value.split(",") if item.strip()] if value is not None else None


@callers_app.command("set-regions")
def set_regions_(
    caller_id: str = typer.Argument(..., help="the case worker's caller id"),
    regions: str = typer.Option(..., "--regions", help="comma-separated region prefixes, e.g. 61,79 (replaces)"),
) -> None:
    """Set the regions a case worker's caller serves; every gateway applies it at once."""

    async def work(session: AsyncSession, _: GatewaySettings) -> dict[str, Any]:
        return await set_regions(session=session, caller_id=caller_id, regions=_list(regions) or [])

    _print(_run(work))


@callers_app.command("list")
def list_() -> None:
    """All callers (no secrets)."""

    async def work(session: AsyncSession, _: GatewaySettings) -> list[dict[str, Any]]:
        return await list_callers(session=session)

    _print(_run(work))


@callers_app.command("rotate-secret")
def rotate(caller_id: str = typer.Argument(..., help="the caller's id")) -> None:
    """New secret (and a bank's new signing secret), printed once; older tokens stop working."""

    async def work(session: AsyncSession, settings: GatewaySettings) -> dict[str, Any]:
        master_key = await load_master_key(settings=settings, session=session)
        issued = await rotate_secret(session=session, hasher=_hasher(settings), master_key=master_key,
                                     caller_id=caller_id)
        return issued.as_dict()

    _print(_run(work))


@callers_app.command("disable")
def disable(caller_id: str = typer.Argument(..., help="the caller's id")) -> None:
    """Disable a caller: its tokens stop working at once on every gateway instance."""

    async def work(session: AsyncSession, _: GatewaySettings) -> dict[str, Any]:
        return await set_enabled(session=session, caller_id=caller_id, enabled=False)

    _print(_run(work))


@callers_app.command("enable")
def enable(caller_id: str = typer.Argument(..., help="the caller's id")) -> None:
    """Enable a disabled caller again."""

    async def work(session: AsyncSession, _: GatewaySettings) -> dict[str, Any]:
        return await set_enabled(session=session, caller_id=caller_id, enabled=True)

    _print(_run(work))


@keys_app.command("rotate")
def rotate_key() -> None:
    """A new token signing key; tokens signed by the previous one stay valid until they expire."""

    async def work(session: AsyncSession, settings: GatewaySettings) -> dict[str, Any]:
        master_key = await load_master_key(settings=settings, session=session)
        kid = await rotate_signing_key(session=session, master_key=master_key,
                                       token_lifetime_seconds=settings.token_lifetime_seconds,
                                       leeway_seconds=settings.token_leeway_seconds)
        return {"kid": kid}

    _print(_run(work))


@keys_app.command("list")
def list_keys() -> None:
    """Signing keys still in the JWKS, newest first."""

    async def work(session: AsyncSession, _: GatewaySettings) -> list[dict[str, Any]]:
        now = await repository.database_now(session)
        return [{"kid": k.kid, "algorithm": k.algorithm, "created_at": k.created_at, "retired_at": k.retired_at,
                 "verify_until": k.verify_until} for k in await repository.signing_keys(session, now=now)]

    _print(_run(work))


if __name__ == "__main__":  # pragma: no cover
    callers_app(sys.argv[1:])
