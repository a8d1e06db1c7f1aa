"""Eligibility's register of current assignments, seeded (issue 12, point 5): `qamqor seed`.

The register's tables are the reassessment's (migration 0007, `services/eligibility/reassessment/
register.py`): `assignments` (one row per family per quarter) and `assignment_members`. A seeded
family is a recipient of the current quarter (the quarter before the run's): its assignment is a
real decision of the bulk path (`decide_columns`, the rules of `decide`) on the first day of the
current quarter, with the incomes of the quarter before it (the seeded incomes of the run's
assessment quarter, a month earlier per row and a fifth lower — incomes drift, so some families
are ended by the next run). Only families that decision finds eligible enter the register: the
generator makes more than asked and keeps the first `families` eligible ones.

Written with binary COPY; rows whose text columns differ in length (kind, contract state, sex,
relation) and nullable ones (disability group) are written in groups of equal widths. Seeded rows
carry `rules_version` SEED_RULES_VERSION: a new seed deletes the previous seed's rows, and only those.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from dataclasses import fields, replace
from datetime import UTC, datetime

import asyncpg
import numpy as np

from qamqor_cli.seed_data import SeedData, copy_columns, generate
from services.eligibility.domain import ParameterSet
from services.eligibility.domain.model import RELATIONS
from services.eligibility.reassessment import NO_DAY, FamilyColumns, day_number, decide_columns
from shared.calendar import Quarter
from shared.db import asyncpg_dsn

SEED_RULES_VERSION = "seed"  # + the rules' version: "seed:tsa-2025.2"
RURAL_SHARE = 0.55  # TSA recipients live mostly in villages
SEXES = ("male", "female")


def take_families(cols: FamilyColumns, keep: np.ndarray) -> FamilyColumns:
    """The families `keep` (sorted indexes) with their members and incomes, renumbered 0..len-1."""
    n = cols.families
    new_index = np.full(n, -1, np.int32)
    new_index[keep] = np.arange(len(keep), dtype=np.int32)
    m = new_index[cols.member_family] >= 0
    i = new_index[cols.income_family] >= 0
    values = {}
    for f in fields(FamilyColumns):
        value = getattr(cols, f.name)
        if f.name == "regions":
            values[f.name] = value
        elif f.name.startswith("income_"):
            values[f.name] = value[i]
        elif f.name in ("member_family", "birth_day", "sex", "relation", "employed", "full_time_student",
                        "disability_group", "carer"):
            values[f.name] = value[m]
        else:
            values[f.name] = value[keep]
    values["member_family"] = new_index[cols.member_family[m]]
    values["income_family"] = new_index[cols.income_family[i]]
    return FamilyColumns(**values)


def current_decision_columns(cols: FamilyColumns, current: Quarter) -> FamilyColumns:
    """The families as they were decided for the current quarter: on its first day, not an
    extension, no bank aggregates or bans, incomes a quarter earlier and a fifth lower."""
    f = cols.families
    no = np.zeros(f, np.bool_)
    return replace(
        cols, application_day=np.full(f, day_number(current.first_day), np.int32), extension=no,
        has_expenses=no, consent=no, home_or_car_purchase=no, false_information=no,
        ban_until_day=np.full(f, NO_DAY, np.int32), contract_terminated_day=np.full(f, NO_DAY, np.int32),
        income_month=cols.income_month - 3, income_amount=cols.income_amount * 4 // 5 // 100 * 100)


def generate_recipients(families: int, params: ParameterSet, run_quarter: Quarter, *, seed: int = 0,
                        workers: int = 2):  # noqa: ANN201
    """(SeedData, decisions) of `families` families eligible in the current quarter."""
    current = run_quarter.previous()
    factor = 1.6
    while True:
        data = generate(max(16, int(families * factor)), params, run_quarter, seed=seed, workers=workers)
        decisions = decide_columns(current_decision_columns(data.columns, current), params, workers=workers)
        eligible = np.flatnonzero(decisions.eligible & (decisions.months == 3))
        if len(eligible) >= families:
            break
        factor *= 1.5
    keep = eligible[:families]
    cols = take_families(data.columns, keep)
    kept = np.zeros(data.columns.families, np.bool_)
    kept[keep] = True
    member_keep = kept[data.columns.member_family]
    income_keep = kept[data.columns.income_family]
    data = SeedData(columns=cols, run_quarter=run_quarter, member_iin=data.member_iin[member_keep],
                    income_iin=data.income_iin[income_keep])
    picked = {f.name: getattr(decisions, f.name)[..., keep] for f in fields(decisions)}
    return data, type(decisions)(**picked)


def _ordered_ids(count: int, salt: int, stamp_ms: int) -> np.ndarray:
    """`count` UUIDv7-shaped ids (16-byte values) in ascending order: a millisecond stamp, then a
    counter — the register's keyset order is the families' order."""
    ids = np.empty(count, dtype=[("hi", ">u8"), ("lo", ">u8")])
    ids["hi"] = (np.uint64(stamp_ms) << np.uint64(16)) | np.uint64(0x7000 | (salt & 0xFFF))
    ids["lo"] = np.uint64(0x8000_0000_0000_0000) | (np.uint64(salt & 0xFFFFF) << np.uint64(40)) | np.arange(
        count, dtype=np.uint64)
    return ids.view("V16")


def compositions(cols: FamilyColumns, member_iin: np.ndarray) -> np.ndarray:
    """`register.composition_of` of each family, as S32: sha256 of its members'
    "iin|birth date|sex|relation", in IIN order, joined by ';'."""
    iin_text = np.char.zfill(member_iin.astype("S12"), 12) if len(member_iin) else np.zeros(0, "S12")
    birth = cols.birth_day.astype("datetime64[D]").astype("S10")
    sex = np.array([s.encode() for s in SEXES])[cols.sex]
    relation = np.array([r.encode() for r in RELATIONS])[cols.relation]
    order = np.lexsort((member_iin, cols.member_family))
    parts = [b"|".join(p) for p in zip(iin_text[order].tolist(), birth[order].tolist(), sex[order].tolist(),
                                        relation[order].tolist())]
    bounds = np.searchsorted(cols.member_family[order], np.arange(cols.families + 1, dtype=np.int32)).tolist()
    sha = hashlib.sha256
    return np.array([sha(b";".join(parts[a:b])).hexdigest()[:32].encode() for a, b in zip(bounds[:-1], bounds[1:])],
                    dtype="S32")


async def _delete_previous_seed(conn: asyncpg.Connection) -> list:
    """Deletes the previous seed's families from the register; returns their ids."""
    deleted = [r["family_id"] for r in await conn.fetch(
        "DELETE FROM assignments WHERE rules_version LIKE $1 RETURNING family_id", SEED_RULES_VERSION + ":%")]
    if deleted:
        await conn.execute("DELETE FROM assignment_members m WHERE NOT EXISTS "
                           "(SELECT 1 FROM assignments a WHERE a.family_id = m.family_id)")
    return deleted


# The seeded families' bank accounts (valid IBANs of two paying banks): payments pays them.
SEED_ACCOUNTS = (("KZ20601KZT5004100100", "HSBKKZKX"), ("KZ18722S000012345678", "CASPKZKA"))


async def seed_payments(url: str, *, previous: list, family_id: np.ndarray, decision_id: np.ndarray,
                        kind: np.ndarray, months: list[str], tsa: np.ndarray, supplement: np.ndarray,
                        total: np.ndarray, region_text: np.ndarray, rural: np.ndarray, member_family: np.ndarray,
                        member_iin: np.ndarray, period_quarter: str) -> int:
    """Payments' assignments of the seeded families (their current quarter's months already
    planned elsewhere is not pretended: only the assignment, so that an extension plans the next
    quarter's months, once each). The previous seed's assignments (`previous`) are deleted."""
    import uuid

    f = len(family_id)
    iins = np.char.zfill(member_iin.astype("S12"), 12).astype(str)
    starts = np.searchsorted(member_family, np.arange(f + 1, dtype=np.int32))
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        async with conn.transaction():
            if previous:
                await conn.execute("DELETE FROM assignments WHERE application_id = ANY($1::uuid[])", previous)
            records = []
            for i in range(f):
                iban, bank = SEED_ACCOUNTS[i % len(SEED_ACCOUNTS)]
                monthly = json.dumps([{"month": m, "tsa": int(tsa[i, j]), "child_supplement": int(supplement[i, j]),
                                       "total": int(total[i, j])} for j, m in enumerate(months)])
                records.append((uuid.UUID(bytes=decision_id[i].tobytes()), uuid.UUID(bytes=family_id[i].tobytes()),
                                "conditional" if kind[i] == 1 else "unconditional", "scheduled", period_quarter,
                                monthly, region_text[i].decode(), "rural" if rural[i] else "urban", iban, bank,
                                list(iins[starts[i]:starts[i + 1]])))
            await conn.copy_records_to_table(
                "assignments", records=records,
                columns=["decision_id", "application_id", "kind", "status", "period_quarter", "monthly",
                         "region_kato", "settlement", "bank_iban", "bank_code", "member_iins"])
    finally:
        await conn.close()
    return f


async def seed_register(url: str, data: SeedData, decisions, *, echo=print,  # noqa: ANN001
                        payments_url: str | None = None) -> None:
    """COPY the families of `data` (decided as `decisions`) into the register, and (with
    `payments_url`) their assignments into payments, so that an extension pays them."""
    from services.eligibility.domain.rules import RULES_VERSION

    cols = data.columns
    f = cols.families
    current = data.run_quarter.previous()
    now = datetime.now(UTC)
    stamp_ms = int(now.timestamp() * 1000)
    salt = int.from_bytes(hashlib.sha256(str(stamp_ms).encode()).digest()[:4], "big")
    family_id = _ordered_ids(f, salt, stamp_ms)
    decision_id = _ordered_ids(f, salt + 1, stamp_ms)
    kind = decisions.kind.astype(np.int64)  # 1 conditional
    rng = np.random.default_rng(salt)
    if f and (decisions.first_month != decisions.first_month[0]).any():
        raise ValueError("every seeded family is paid from the same month")
    months = np.array([[f"{(decisions.first_month[0] + j) // 12:04d}-{(decisions.first_month[0] + j) % 12 + 1:02d}"
                        for j in range(3)]], "S7") if f else np.zeros((0, 3), "S7")
    tsa = decisions.tsa.T.astype(np.int32)
    supplement = decisions.child_supplement.T.astype(np.int32)
    total = tsa + supplement
    members = np.bincount(cols.member_family, minlength=f).astype(np.int16)
    rural = rng.random(f) < RURAL_SHARE
    region_text = np.array([r.encode() for r in cols.regions], "S9")[cols.region]
    assignment = {
        "family_id": ("uuid", family_id), "period_quarter": ("char7", str(current).encode()),
        "application_id": ("uuid", family_id), "decision_id": ("uuid", decision_id), "run_id": ("null", None),
        "extension": ("bool", np.bool_(False)),
        "decided_at": ("timestamptz", np.int64(int(now.timestamp() * 1_000_000))),
        "application_date": ("date", np.int32(day_number(current.first_day))),
        "region_kato": ("char9", region_text), "settlement": ("char5", None), "eligible": ("bool", np.bool_(True)),
        "kind": (None, None), "poverty_line": ("int4", decisions.poverty_line.astype(np.int32)),
        "per_capita_income": ("numeric2", decisions.per_capita_income),
        "reasons": ("int4", decisions.reasons), "rules_version": (f"char{len(SEED_RULES_VERSION) + 1 + len(RULES_VERSION)}",
                                                                 f"{SEED_RULES_VERSION}:{RULES_VERSION}".encode()),
        "months": ("array3:varchar7", np.broadcast_to(months, (f, 3)) if f else months),
        "tsa": ("array3:int4", tsa), "child_supplement": ("array3:int4", supplement), "total": ("array3:int4", total),
        "quarter_total": ("int8", total.sum(axis=1).astype(np.int64)), "member_count": ("int2", members),
        # hashed on a thread: the event loop meanwhile streams the sandbox's COPY (seed.py runs both)
        "composition": ("char32", await asyncio.to_thread(compositions, cols, data.member_iin)),
        "contract_state": (None, None), "state": ("char6", b"active"), "ended_reason": ("null", None),
    }
    # members: position within the family, in the order generated (applicant first)
    member_start = np.searchsorted(cols.member_family, np.arange(f, dtype=np.int32))
    position = (np.arange(len(cols.member_family)) - member_start[cols.member_family]).astype(np.int16)
    member = {
        "family_id": ("uuid", family_id[cols.member_family]), "position": ("int2", position),
        "iin": ("char12", np.char.zfill(data.member_iin.astype("S12"), 12)),
        "birth_date": ("date", cols.birth_day), "sex": (None, None), "relation": (None, None),
        "employed": ("bool", cols.employed), "full_time_student": ("bool", cols.full_time_student),
        "disability_group": (None, None), "carer": ("bool", cols.carer),
    }
    conn = await asyncpg.connect(asyncpg_dsn(url))
    other = await asyncpg.connect(asyncpg_dsn(url))
    try:
        deleted = await _delete_previous_seed(conn)
        if deleted:
            echo(f"deleted the previous seed's {len(deleted):,} families from the register")

        async def families() -> None:
            async with conn.transaction():
                for is_conditional in (0, 1):
                    rows = np.flatnonzero(kind == is_conditional)
                    spec = dict(assignment)
                    label = "conditional" if is_conditional else "unconditional"
                    spec["kind"] = (f"char{len(label)}", label.encode())
                    state = "signed" if is_conditional else "none"
                    spec["contract_state"] = (f"char{len(state)}", state.encode())
                    for is_rural in (False, True):
                        group = rows[rural[rows] == is_rural]
                        spec["settlement"] = ("char5", b"rural" if is_rural else b"urban")
                        if len(group):
                            await copy_columns(conn, "assignments", spec, rows_index=group)

        async def family_members() -> None:
            async with other.transaction():
                group_key = (cols.sex.astype(np.int64) * 64 + cols.relation.astype(np.int64)) * 8 + cols.disability_group
                for key in np.unique(group_key).tolist():
                    rows = np.flatnonzero(group_key == key)
                    sex, relation, disability = SEXES[key // 512], RELATIONS[key // 8 % 64], key % 8
                    spec = dict(member)
                    spec["sex"] = (f"char{len(sex)}", sex.encode())
                    spec["relation"] = (f"char{len(relation)}", relation.encode())
                    spec["disability_group"] = ("int2", np.int16(disability)) if disability else ("null", None)
                    await copy_columns(other, "assignment_members", spec, rows_index=rows)

        async def payments() -> None:
            if payments_url is not None:
                await seed_payments(
                    payments_url, previous=deleted, family_id=family_id, decision_id=decision_id, kind=kind,
                    months=[m.decode() for m in months[0]] if f else [], tsa=tsa, supplement=supplement, total=total,
                    region_text=region_text, rural=rural, member_family=cols.member_family,
                    member_iin=data.member_iin, period_quarter=str(current))

        await asyncio.gather(families(), family_members(), payments())
        await asyncio.gather(conn.execute("ANALYZE assignments"), other.execute("ANALYZE assignment_members"))
    finally:
        await conn.close()
        await other.close()


__all__ = ["seed_register", "generate_recipients", "take_families", "compositions"]
