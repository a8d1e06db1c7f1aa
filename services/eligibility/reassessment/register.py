"""The register of current assignments (issue 12): what eligibility wrote when it approved a family
(the single path) or extended it (a reassessment run), read back as the bulk path's columns.

Tables (migration 0007, models `Assignment`, `AssignmentMember`):

- `assignments`: one row per family per quarter decided, primary key (`family_id`,
  `period_quarter`) — a family cannot be decided twice for a quarter. `family_id` is the id of the
  application that founded the assignment and stays the same across extensions.
- `assignment_members`: the family's members (primary key (`family_id`, `position`)), the
  composition the family was last decided with.

`stream_register(conn, quarter, chunk_size)` reads the families whose assignment covers `quarter`
in chunks (keyset on `family_id`, two plain SELECTs per chunk, no JSON) as `RegisterChunk`s:
numpy columns of the families and their members, ready to become the bulk path's `FamilyColumns`
once the incomes of the assessment quarter are added (`RegisterChunk.to_columns`).
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

import numpy as np

from services.eligibility.reassessment.extract import Incomes, incomes_by_family
from services.eligibility.reassessment.bulk import (
    INCOME_TYPE_CODES,
    NO_DAY,
    RELATION_CODES,
    SEX_CODES,
    FamilyColumns,
    day_number,
)

__all__ = ["RegisterChunk", "stream_register", "composition_of", "assignment_values", "member_values",
           "add_assignment", "raw_connection", "follow_contract", "end_assignments", "extension_decision", "ASSIGNMENT_COLUMNS", "MEMBER_COLUMNS"]

ASSIGNMENT_COLUMNS = (
    "family_id", "period_quarter", "application_id", "decision_id", "run_id", "extension", "decided_at",
    "application_date", "region_kato", "settlement", "eligible", "kind", "poverty_line", "per_capita_income",
    "reasons", "rules_version", "months", "tsa", "child_supplement", "total", "quarter_total", "member_count",
    "composition", "contract_state", "state", "ended_reason",
)
MEMBER_COLUMNS = ("family_id", "position", "iin", "birth_date", "sex", "relation", "employed",
                  "full_time_student", "disability_group", "carer")


def composition_of(members: Iterable[Any]) -> str:
    """A fingerprint of who the family is: each member's IIN, birth date, sex and relation, in IIN
    order (32 hex digits). A birth, a death, a marriage or a divorce changes it; a change of a
    member's employment or studies does not."""
    parts = sorted(f"{m.iin}|{m.birth_date.isoformat()}|{m.sex}|{m.relation}" for m in members)
    return hashlib.sha256(";".join(parts).encode()).hexdigest()[:32]


def assignment_values(*, family_id: UUID, period_quarter: str, application_id: UUID, decision_id: UUID,
                      run_id: UUID | None, extension: bool, decided_at: datetime, application_date: date,
                      region_kato: str, settlement: str, eligible: bool, kind: str | None, poverty_line: int,
                      per_capita_income: Decimal, reasons: int, rules_version: str, months: Sequence[str],
                      tsa: Sequence[int], child_supplement: Sequence[int], total: Sequence[int], member_count: int,
                      composition: str, contract_state: str = "none", state: str = "active",
                      ended_reason: str | None = None) -> tuple:
    """One `assignments` row as a tuple in ASSIGNMENT_COLUMNS order (for COPY or executemany)."""
    return (family_id, period_quarter, application_id, decision_id, run_id, extension, decided_at,
            application_date, region_kato, settlement, eligible, kind, int(poverty_line), per_capita_income,
            int(reasons), rules_version, list(months), [int(x) for x in tsa], [int(x) for x in child_supplement],
            [int(x) for x in total], sum(int(x) for x in total), member_count, composition, contract_state, state,
            ended_reason)


def member_values(family_id: UUID, members: Iterable[Any]) -> list[tuple]:
    """`assignment_members` rows (MEMBER_COLUMNS order) of members carrying the FamilyMember facts."""
    return [(family_id, position, m.iin, m.birth_date, m.sex, m.relation, m.employed, m.full_time_student,
             m.disability_group, m.carer) for position, m in enumerate(members)]


async def raw_connection(session_or_conn: Any, *, begin: bool = True) -> Any:
    """The asyncpg connection under an AsyncSession or AsyncConnection (or the asyncpg one itself),
    inside the caller's transaction: SQLAlchemy begins a transaction lazily, at its first
    statement, so with `begin` one is sent through SQLAlchemy first — otherwise what is written on
    the asyncpg connection would commit statement by statement."""
    if hasattr(session_or_conn, "fetch"):
        return session_or_conn
    # duck-typed (an AsyncSession has `sync_session`): this package imports no database framework
    connection = await session_or_conn.connection() if hasattr(session_or_conn, "sync_session") else session_or_conn
    if begin:
        await connection.exec_driver_sql("SELECT 1")
    raw = await connection.get_raw_connection()
    return raw.driver_connection


_INSERT_ASSIGNMENT = (f"INSERT INTO assignments ({', '.join(ASSIGNMENT_COLUMNS)}) VALUES "
                      f"({', '.join(f'${i + 1}' for i in range(len(ASSIGNMENT_COLUMNS)))}) "
                      "ON CONFLICT (family_id, period_quarter) DO NOTHING RETURNING family_id")
_INSERT_MEMBER = (f"INSERT INTO assignment_members ({', '.join(MEMBER_COLUMNS)}) VALUES "
                  f"({', '.join(f'${i + 1}' for i in range(len(MEMBER_COLUMNS)))}) "
                  "ON CONFLICT (family_id, position) DO NOTHING")


async def add_assignment(session_or_conn: Any, row: tuple, members: list[tuple]) -> bool:
    """Write one family's assignment (and its members, if not there yet) in the caller's
    transaction; False when the family already had an assignment for that quarter."""
    conn = await raw_connection(session_or_conn)
    inserted = await conn.fetchval(_INSERT_ASSIGNMENT, *row)
    if inserted is None:
        return False
    await conn.executemany(_INSERT_MEMBER, members)
    return True


# Contract states a later report may not undo: a late `drafted` after `signed`, say.
_CONTRACT_ORDER = {"none": 0, "drafting": 1, "drafted": 2, "signed": 3, "lapsed": 4, "terminated": 4, "completed": 4}


async def follow_contract(session_or_conn: Any, application_id: UUID, state: str) -> None:
    """Contracts reported `state` for the application's contract: its register rows follow, forward only."""
    conn = await raw_connection(session_or_conn)
    earlier = [s for s, rank in _CONTRACT_ORDER.items() if rank < _CONTRACT_ORDER[state]]
    await conn.execute("UPDATE assignments SET contract_state = $2 WHERE application_id = $1 "
                       "AND contract_state = ANY($3::text[])", application_id, state, earlier)
    if state == "lapsed":  # never signed: the application ended, the family is no recipient
        await end_assignments(conn, application_id, reason="contract_lapsed")


async def end_assignments(session_or_conn: Any, application_id: UUID, *, reason: str) -> None:
    """The application's assignments end (a withdrawal): a reassessment run passes them by."""
    conn = await raw_connection(session_or_conn)
    await conn.execute("UPDATE assignments SET state = 'ended', ended_reason = $2 WHERE application_id = $1 "
                       "AND state = 'active'", application_id, reason)


async def extension_decision(session_or_conn: Any, decision_id: UUID) -> tuple[dict, list[dict]] | None:
    """A reassessment run's decision (its assignment row) and the family's members; None when no
    run made a decision with that id."""
    conn = await raw_connection(session_or_conn)
    row = await conn.fetchrow("SELECT * FROM assignments WHERE decision_id = $1 AND run_id IS NOT NULL", decision_id)
    if row is None:
        return None
    members = await conn.fetch("SELECT iin, birth_date, sex, relation, employed, full_time_student, disability_group, "
                               "carer FROM assignment_members WHERE family_id = $1 ORDER BY position", row["family_id"])
    return dict(row), [dict(m) for m in members]


# ------------------------------------------------------------------------------------ streaming

@dataclass(frozen=True, slots=True)
class RegisterChunk:
    """A chunk of the register: F families (ordered by family_id) and their M members (grouped by
    family, in position order). Strings are numpy unicode arrays; ids are Python UUID lists."""

    # families (F)
    family_id: list[UUID]
    application_id: list[UUID]
    decision_id: list[UUID]
    region_kato: np.ndarray  # <U9
    settlement: np.ndarray  # <U5
    kind: np.ndarray  # <U13 ('' when not eligible)
    contract_state: np.ndarray  # <U10: none | drafting | drafted | signed | completed | lapsed | terminated
    composition: np.ndarray  # <U32
    application_day: np.ndarray  # int32 days since 1970-01-01 (the decided quarter's application date)
    quarter_total: np.ndarray  # int64 tenge
    # members (M)
    member_family: np.ndarray  # int32 index into the families of this chunk
    iin: np.ndarray  # <U12
    birth_day: np.ndarray  # int32
    sex: np.ndarray  # int8 (SEX_CODES)
    relation: np.ndarray  # int8 (RELATION_CODES)
    employed: np.ndarray  # bool
    full_time_student: np.ndarray  # bool
    disability_group: np.ndarray  # int8, 0 = none
    carer: np.ndarray  # bool

    @property
    def families(self) -> int:
        return len(self.family_id)

    @property
    def last_family_id(self) -> UUID:
        return self.family_id[-1]

    def to_columns(self, *, application_day: int | None = None, extension: bool = True,
                   income_iin: np.ndarray | None = None, income_month: np.ndarray | None = None,
                   income_type: np.ndarray | None = None, income_amount: np.ndarray | None = None,
                   contract_terminated_day: np.ndarray | None = None) -> FamilyColumns:
        """The bulk path's input for these families: decided as of `application_day` (days since
        1970-01-01; default: the day each was decided on), as extensions, with the incomes given
        as parallel arrays (IIN, month index year*12+m-1, INCOME_TYPE_CODES, tiyn) — incomes of
        IINs that are not members are dropped. No bank aggregates (`has_expenses` False)."""
        f = self.families
        regions, region = np.unique(self.region_kato, return_inverse=True)
        if income_iin is not None and len(income_iin):
            income_family, income_month, income_type, income_amount = incomes_by_family(
                Incomes(_iin_numbers(income_iin), income_month, income_type, income_amount),
                _iin_numbers(self.iin), self.member_family)
        else:
            income_family = np.zeros(0, np.int32)
            income_month = np.zeros(0, np.int32)
            income_type = np.zeros(0, np.int8)
            income_amount = np.zeros(0, np.int64)
        day = (np.full(f, application_day, np.int32) if application_day is not None
               else self.application_day.astype(np.int32))
        zeros = np.zeros(f, np.int64)
        no = np.zeros(f, np.bool_)
        return FamilyColumns(
            regions=tuple(str(r) for r in regions), region=region.astype(np.int16), application_day=day,
            extension=np.full(f, extension, np.bool_), has_expenses=no, consent=no, home_or_car_purchase=no,
            non_mortgage_loans=zeros, account_spending=zeros, deposits=zeros,
            ban_until_day=np.full(f, NO_DAY, np.int32),
            contract_terminated_day=(np.full(f, NO_DAY, np.int32) if contract_terminated_day is None
                                     else np.asarray(contract_terminated_day, np.int32)),
            false_information=no,
            member_family=self.member_family, birth_day=self.birth_day, sex=self.sex, relation=self.relation,
            employed=self.employed, full_time_student=self.full_time_student,
            disability_group=self.disability_group, carer=self.carer,
            income_family=income_family, income_month=income_month, income_type=income_type,
            income_amount=income_amount,
        )


# Each chunk is read as one row of arrays per query (asyncpg decodes an int or text array in C; a
# row per member costs a Python record each). The subqueries give the order; it is checked.
_FAMILIES_SQL = """
SELECT array_agg(family_id), array_agg(application_id), array_agg(decision_id), array_agg(region_kato),
       array_agg(settlement), array_agg(kind), array_agg(contract_state), array_agg(composition),
       array_agg(day), array_agg(quarter_total)
FROM (SELECT family_id, application_id, decision_id, region_kato, settlement, coalesce(kind, '') AS kind,
             contract_state, composition, application_date - DATE '1970-01-01' AS day, quarter_total
      FROM assignments
      WHERE period_quarter = $1 AND state = ANY($2::text[]) AND eligible AND ($3::uuid IS NULL OR family_id > $3)
      ORDER BY family_id
      LIMIT $4) chunk
"""
_MEMBERS_SQL = """
SELECT array_agg(family), array_agg(position), array_agg(iin), array_agg(day), array_agg(sex), array_agg(relation),
       array_agg(employed), array_agg(full_time_student), array_agg(disability_group), array_agg(carer)
FROM (SELECT f.n::int - 1 AS family, m.position::int AS position, m.iin, m.birth_date - DATE '1970-01-01' AS day,
             (m.sex = 'female')::int AS sex, array_position($2::text[], m.relation::text) - 1 AS relation,
             m.employed, m.full_time_student, coalesce(m.disability_group, 0)::int AS disability_group, m.carer
      FROM unnest($1::uuid[]) WITH ORDINALITY AS f(id, n)
      JOIN assignment_members m ON m.family_id = f.id
      ORDER BY f.n, m.position) members
"""
_RELATIONS = sorted(RELATION_CODES, key=RELATION_CODES.get)
assert SEX_CODES == {"male": 0, "female": 1}, "the members' query codes sex as (sex = 'female')"


async def stream_register(session_or_conn: Any, period_quarter: str, chunk_size: int = 50_000, *,
                          after_family_id: UUID | None = None,
                          states: Sequence[str] = ("active",)) -> AsyncIterator[RegisterChunk]:
    """The eligible families whose assignment covers `period_quarter` (in `states`), in chunks of
    at most `chunk_size` ordered by family_id, starting after `after_family_id` (resuming).

    Reads in the caller's transaction (an AsyncSession, an AsyncConnection or an asyncpg
    connection); each chunk is two SELECTs over indexes."""
    conn = await raw_connection(session_or_conn)
    after = after_family_id
    while True:
        row = await conn.fetchrow(_FAMILIES_SQL, period_quarter, list(states), after, chunk_size)
        if row is None or row[0] is None:
            return
        chunk = await _chunk(conn, row)
        yield chunk
        if chunk.families < chunk_size:
            return
        after = chunk.last_family_id


async def _chunk(conn: Any, families: Any) -> RegisterChunk:
    family_id = list(families[0])
    members = await conn.fetchrow(_MEMBERS_SQL, family_id, _RELATIONS)
    columns = [np.asarray(members[k] or [], dtype=t) for k, t in enumerate(
        (np.int32, np.int16, "<U12", np.int32, np.int8, np.int8, np.bool_, np.bool_, np.int8, np.bool_))]
    order_key = columns[0].astype(np.int64) * 1024 + columns[1]
    if len(order_key) > 1 and bool(np.any(order_key[1:] < order_key[:-1])):
        order = np.argsort(order_key, kind="stable")
        columns = [c[order] for c in columns]
    if (columns[5] < 0).any():
        raise ValueError("a member's relation is not one of RELATIONS")
    ids = families[0]
    if any(a >= b for a, b in zip(ids, ids[1:])):
        raise ValueError("the register's chunk is not in family order")
    return RegisterChunk(
        family_id=family_id,
        application_id=list(families[1]),
        decision_id=list(families[2]),
        region_kato=np.array(families[3], dtype="<U9"),
        settlement=np.array(families[4], dtype="<U5"),
        kind=np.array(families[5], dtype="<U13"),
        contract_state=np.array(families[6], dtype="<U10"),
        composition=np.array(families[7], dtype="<U32"),
        application_day=np.array(families[8], dtype=np.int32),
        quarter_total=np.array(families[9], dtype=np.int64),
        member_family=columns[0], iin=columns[2], birth_day=columns[3], sex=columns[4], relation=columns[5],
        employed=columns[6], full_time_student=columns[7], disability_group=columns[8], carer=columns[9],
    )


def income_columns(iins: Sequence[str], months: Sequence[str], types: Sequence[str],
                   amounts: Sequence[str | Decimal]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Income records as parsed from the bulk extract (IIN, 'YYYY-MM', type, tenge with 2 places)
    → the arrays `RegisterChunk.to_columns` takes (IIN, month index, type code, tiyn)."""
    n = len(iins)
    month = np.fromiter((int(s[:4]) * 12 + int(s[5:7]) - 1 for s in months), np.int32, n)
    code = np.fromiter((INCOME_TYPE_CODES[t] for t in types), np.int8, n)
    tiyn = np.fromiter((_tiyn(a) for a in amounts), np.int64, n)
    return np.array(iins, dtype="<U12"), month, code, tiyn


def _tiyn(amount: str | Decimal) -> int:
    text = str(amount)
    whole, _, cents = text.partition(".")
    negative = whole.startswith("-")
    value = abs(int(whole)) * 100 + int((cents + "00")[:2] or 0)
    return -value if negative else value


def _iin_numbers(iins: np.ndarray) -> np.ndarray:
    """IINs (12-digit text, bytes or already numbers) as int64: compared as numbers, sorted fast."""
    return iins if iins.dtype.kind in "iu" else iins.astype(np.int64)


__all__ += ["income_columns", "day_number"]
