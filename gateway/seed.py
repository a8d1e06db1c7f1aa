"""Demo callers for `make run`: one of every kind, three of them banks — one for each bank the
sandbox plays (sandbox/population.py PLAYED_BANKS), so each can sign its cash-flow callbacks; the
case worker serves Turkestan region and Shymkent (the demo families live in Turkestan region)."""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from gateway import repository
from gateway.crypto import MasterKey, SecretHasher
from gateway.callers import (
    CallerRecord, IssuedCredentials, create_caller, load_master_key, rotate_secret, set_regions,
)
from gateway.routes import DEFAULT_SCOPES
from gateway.settings import GatewaySettings
from shared.db import make_engine, make_sessionmaker

DEMO_CALLERS: tuple[dict[str, Any], ...] = (
    {"id": "demo-portal", "kind": "portal"},
    {"id": "demo-fdc", "kind": "fdc"},
    {"id": "demo-bank-halyk", "kind": "bank", "bank_code": "HSBKKZKX"},
    {"id": "demo-bank-centercredit", "kind": "bank", "bank_code": "KCJBKZKX"},
    {"id": "demo-bank-kaspi", "kind": "bank", "bank_code": "CASPKZKA"},
    {"id": "demo-sms-gateway", "kind": "sms_gateway"},
    {"id": "demo-ops", "kind": "ops"},
    {"id": "demo-case-worker", "kind": "case_worker", "regions": ["61", "79"]},
    {"id": "demo-admin", "kind": "admin"},
)


def _entry(issued: IssuedCredentials) -> dict[str, Any]:
    caller = issued.caller
    out: dict[str, Any] = {"id": caller["id"], "kind": caller["kind"], "scopes": caller["scopes"],
                           "secret": issued.secret}
    if caller.get("bank_code"):
        out["bank_code"] = caller["bank_code"]
    if caller.get("regions"):
        out["regions"] = caller["regions"]
    if issued.signing_secret is not None:
        out["signing_secret"] = issued.signing_secret
    return out


async def _ensure(session: AsyncSession, demo: dict[str, Any], known: dict[str, Any] | None, *,
                  hasher: SecretHasher, master_key: MasterKey) -> dict[str, Any]:
    row = await repository.get_caller(session, demo["id"], for_update=True)
    if row is None:
        return _entry(await create_caller(session=session, hasher=hasher, master_key=master_key, caller_id=demo["id"],
                                          kind=demo["kind"], bank_code=demo.get("bank_code"),
                                          regions=demo.get("regions")))
    if sorted(row.regions or ()) != sorted(demo.get("regions") or ()):  # a state dir from before regions
        await set_regions(session=session, caller_id=row.id, regions=demo.get("regions") or [])
    if sorted(row.scopes) != sorted(DEFAULT_SCOPES[row.kind]):  # the demo callers follow the kinds' scopes
        row.scopes = sorted(DEFAULT_SCOPES[row.kind])
        await session.flush()
        await repository.notify_caller_changed(session, row.id)
    secret = (known or {}).get("secret")
    signing = CallerRecord.from_row(row, master_key).signing_secret
    # Kept only if the secret still verifies and a bank's signing secret can still be unsealed.
    usable = row.kind != "bank" or signing is not None
    if usable and secret and await asyncio.to_thread(hasher.verify, row.secret_hash, secret):
        out: dict[str, Any] = {"id": row.id, "kind": row.kind, "scopes": sorted(row.scopes), "secret": secret}
        if row.bank_code:
            out["bank_code"] = row.bank_code
        if row.regions:
            out["regions"] = sorted(row.regions)
        if signing is not None:
            out["signing_secret"] = signing.decode()
        return out
    return _entry(await rotate_secret(session=session, hasher=hasher, master_key=master_key, caller_id=row.id))


async def seed_demo_callers(database_url: str, existing: list[dict] | None,
                            settings: GatewaySettings | None = None) -> list[dict]:
    """Ensure the demo callers exist in the (migrated) gateway database and return their
    credentials. A caller whose secret in `existing` still verifies keeps it; any other is
    rotated, so the returned list always works."""
    settings = settings or GatewaySettings()
    hasher = SecretHasher(time_cost=settings.argon2_time_cost, memory_kib=settings.argon2_memory_kib,
                          parallelism=settings.argon2_parallelism)
    known = {entry.get("id"): entry for entry in existing or [] if isinstance(entry, dict)}
    engine = make_engine(database_url, pool_size=2)
    try:
        sessionmaker = make_sessionmaker(engine)
        async with sessionmaker() as session, session.begin():
            master_key = await load_master_key(settings=settings, session=session)
        out = []
        for demo in DEMO_CALLERS:
            async with sessionmaker() as session, session.begin():
                out.append(await _ensure(session, demo, known.get(demo["id"]), hasher=hasher, master_key=master_key))
        return out
    finally:
        await engine.dispose()
