"""Callers: who may call the gateway. Created with an argon2id-hashed secret (shown once),
rotated, disabled; every change commits together with a pg_notify, so every gateway instance
sees it at once. A bank's signing secret is sealed with the master key (HMAC needs the secret
itself, so it cannot be hashed). A case worker's caller carries the regions it serves (two-digit
KATO prefixes); the services show it only those regions' families."""

from __future__ import annotations

import asyncio
import logging
import os
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from sqlalchemy.ext.asyncio import AsyncSession

from gateway import repository
from gateway.crypto import MasterKey, SecretHasher, new_client_secret, new_signing_secret
from gateway.models import CallerRow
from gateway.routes import DEFAULT_SCOPES, SCOPES
from gateway.settings import GatewaySettings
from shared.errors import Conflict, InvalidInput, NotFound, field_error
from shared.identity import CALLER_KINDS, Caller
from shared.regions import REGIONS

log = logging.getLogger("qamqor.gateway")

CALLER_ID_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{1,63}$")
BANK_CODE_RE = re.compile(r"^[A-Z]{6}[A-Z0-9]{2}(?:[A-Z0-9]{3})?$")  # SWIFT BIC


def _signing_label(caller_id: str) -> str:
    return f"bank-signing-secret:{caller_id}"


async def load_master_key(*, settings: GatewaySettings, session: AsyncSession) -> MasterKey:
    """The key that seals secrets at rest: the configured file (required in production), else —
    development and test only — a key kept in the gateway database, shared by every process
    that uses it."""
    if settings.master_key_file is not None:
        return MasterKey.load(Path(settings.master_key_file), create=False)
    if settings.environment == "production":
        raise RuntimeError("master_key_file must be set in production")
    return MasterKey(await repository.dev_master_key(session, candidate=os.urandom(32)))


@dataclass(frozen=True, slots=True)
class CallerRecord:
    """What every gateway instance keeps in memory about a caller."""

    id: str
    kind: str
    scopes: frozenset[str]
    enabled: bool
    bank_code: str | None
    credential_version: int
    secret_hash: str
    signing_secret: bytes | None
    regions: frozenset[str] = frozenset()

    @staticmethod
    def from_row(row: CallerRow, master_key: MasterKey) -> "CallerRecord":
        signing = None
        if row.signing_secret_sealed:
            try:
                signing = master_key.open(row.signing_secret_sealed, _signing_label(row.id))
            except InvalidTag:
                # Sealed under another master key: this caller's signed requests are refused
                # (401) until its secret is rotated; every other caller keeps working.
                log.error("signing secret of %s cannot be unsealed with this master key", row.id)
        return CallerRecord(row.id, row.kind, frozenset(row.scopes), row.enabled, row.bank_code,
                            row.credential_version, row.secret_hash, signing, frozenset(row.regions or ()))

    def identity(self, scopes: frozenset[str], citizen_iin: str | None = None) -> Caller:
        """Who the services see: this caller, with the scopes of its token, acting for the citizen
        its token was exchanged for (a portal), serving its regions (a case worker)."""
        return Caller(id=self.id, kind=self.kind, scopes=scopes, bank_code=self.bank_code, citizen_iin=citizen_iin,
                      regions=self.regions)


@dataclass(frozen=True)
class IssuedCredentials:
    """Secrets exist in clear only here, once; the database keeps a hash (and a sealed copy of
    the bank signing secret, which HMAC needs)."""

    caller: dict[str, Any]
    secret: str
    signing_secret: str | None

    def as_dict(self) -> dict[str, Any]:
        out = dict(self.caller, secret=self.secret)
        if self.signing_secret is not None:
            out["signing_secret"] = self.signing_secret
        return out


def caller_view(row: CallerRow) -> dict[str, Any]:
    return {
        "id": row.id,
        "kind": row.kind,
        "scopes": sorted(row.scopes),
        "enabled": row.enabled,
        "bank_code": row.bank_code,
        "regions": sorted(row.regions or ()),
        "credential_version": row.credential_version,
        "created_at": row.created_at.isoformat() if row.created_at else None,
        "disabled_at": row.disabled_at.isoformat() if row.disabled_at else None,
    }


def region_errors(kind: str, regions: list[str] | None) -> list[dict[str, str]]:
    """Only a case worker serves regions; each is a two-digit region prefix of the KATO."""
    if regions is None:
        return []
    if kind != "case_worker":
        return [field_error("regions", "only a case_worker caller serves regions")] if regions else []
    unknown = sorted({r for r in regions if r not in REGIONS})
    if unknown:
        return [field_error("regions", f"not a region prefix: {', '.join(unknown)}; one of {', '.join(REGIONS)}")]
    return []


def validate_new_caller(caller_id: str, kind: str, scopes: list[str] | None, bank_code: str | None,
                        regions: list[str] | None = None) -> frozenset[str]:
    errors = []
    if not CALLER_ID_RE.match(caller_id or ""):
        errors.append(field_error("id", "2–64 characters: lowercase letters, digits, '.', '_' or '-'"))
    if kind not in CALLER_KINDS:
        errors.append(field_error("kind", f"must be one of {', '.join(CALLER_KINDS)}"))
    granted = frozenset(scopes) if scopes is not None else DEFAULT_SCOPES.get(kind, frozenset())
    unknown = sorted(s for s in granted if s not in SCOPES)
    if unknown:
        errors.append(field_error("scopes", f"unknown scope(s): {', '.join(unknown)}"))
    if scopes is not None and not granted:
        errors.append(field_error("scopes", "at least one scope"))
    if kind == "bank":
        if not bank_code or not BANK_CODE_RE.match(bank_code):
            errors.append(field_error("bank_code", "a bank needs its BIC, e.g. HSBKKZKX"))
    elif bank_code is not None:
        errors.append(field_error("bank_code", "only a bank caller has a bank code"))
    errors += region_errors(kind, regions)
    if errors:
        raise InvalidInput("The caller is not valid.", errors=errors)
    return granted


async def create_caller(
    *, session: AsyncSession, hasher: SecretHasher, master_key: MasterKey, caller_id: str, kind: str,
    scopes: list[str] | None = None, bank_code: str | None = None, regions: list[str] | None = None,
) -> IssuedCredentials:
    granted = validate_new_caller(caller_id, kind, scopes, bank_code, regions)
    if await repository.get_caller(session, caller_id) is not None:
        raise Conflict(f"A caller with id {caller_id!r} already exists.")
    secret = new_client_secret()
    signing = new_signing_secret() if kind == "bank" else None
    row = CallerRow(
        id=caller_id, kind=kind, scopes=sorted(granted), enabled=True, bank_code=bank_code,
        regions=sorted(set(regions or ())), credential_version=1, secret_hash=await asyncio.to_thread(hasher.hash, secret),
        signing_secret_sealed=master_key.seal(signing.encode(), _signing_label(caller_id)) if signing else None,
    )
    repository.add_caller(session, row)
    await session.flush()
    await session.refresh(row)
    await repository.notify_caller_changed(session, caller_id)
    return IssuedCredentials(caller_view(row), secret, signing)


async def _existing(session: AsyncSession, caller_id: str) -> CallerRow:
    row = await repository.get_caller(session, caller_id, for_update=True)
    if row is None:
        raise NotFound(f"No caller with id {caller_id!r}.")
    return row


async def rotate_secret(
    *, session: AsyncSession, hasher: SecretHasher, master_key: MasterKey, caller_id: str,
) -> IssuedCredentials:
    """New client secret (and, for a bank, a new signing secret). Tokens issued before the
    rotation stop working: a rotation is what one does after a leak."""
    row = await _existing(session, caller_id)
    secret = new_client_secret()
    signing = new_signing_secret() if row.kind == "bank" else None
    row.secret_hash = await asyncio.to_thread(hasher.hash, secret)
    row.credential_version += 1
    if signing is not None:
        row.signing_secret_sealed = master_key.seal(signing.encode(), _signing_label(row.id))
    row.updated_at = datetime.now(timezone.utc)
    await session.flush()
    await repository.notify_caller_changed(session, caller_id)
    return IssuedCredentials(caller_view(row), secret, signing)


async def set_enabled(*, session: AsyncSession, caller_id: str, enabled: bool) -> dict[str, Any]:
    row = await _existing(session, caller_id)
    if row.enabled != enabled:
        row.enabled = enabled
        row.disabled_at = None if enabled else datetime.now(timezone.utc)
        row.updated_at = datetime.now(timezone.utc)
        await session.flush()
        await repository.notify_caller_changed(session, caller_id)
    return caller_view(row)


async def set_regions(*, session: AsyncSession, caller_id: str, regions: list[str]) -> dict[str, Any]:
    """Replace a case worker's regions; every gateway instance applies the change at once (the
    services see it in the next internal token)."""
    row = await _existing(session, caller_id)
    errors = region_errors(row.kind, regions)
    if errors:
        raise InvalidInput("The regions are not valid.", errors=errors)
    wanted = sorted(set(regions))
    if list(row.regions or ()) != wanted:
        row.regions = wanted
        row.updated_at = datetime.now(timezone.utc)
        await session.flush()
        await repository.notify_caller_changed(session, caller_id)
    return caller_view(row)


async def get_caller(*, session: AsyncSession, caller_id: str) -> dict[str, Any]:
    row = await repository.get_caller(session, caller_id)
    if row is None:
        raise NotFound(f"No caller with id {caller_id!r}.")
    return caller_view(row)


async def list_callers(*, session: AsyncSession) -> list[dict[str, Any]]:
    return [caller_view(row) for row in await repository.list_callers(session)]
