"""Policy simulation (issue 12, point 4): the register's current recipients decided twice for a
quarter by the bulk path — with today's parameters (baseline) and with the administrator's
overrides (reform) — without writing anything.

1. The register (`assignments` + `assignment_members` of the quarter before the simulated one,
   active and eligible: the families a reassessment run would extend) is read with two binary
   `COPY … TO STDOUT` queries straight into numpy columns (fixed-width rows: no Python object
   per value), and their members' incomes of the assessment quarter come from the income
   registry's bulk extract (`POST /registry/v1/incomes/extract`, 100,000 IINs a request, a few
   in flight). The result is cached, keyed by the register's version (count and last decision
   time of the quarter's assignments) and for CACHE_SECONDS: a second simulation of the same
   quarter decides straight away.
2. `decide_columns` (services/eligibility/reassessment/bulk.py, the rules of `decide`) decides
   every family as an extension on the quarter's first day, with each parameter set.
3. The answer: families eligible and the quarter's cost (TSA + child supplement, tenge) for
   each, by region and by family size, and the families that gain and lose eligibility.

Nothing is written: the simulation reads the register in a READ ONLY transaction.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import numpy as np

from services.eligibility.domain import ParameterSet
from services.eligibility.domain.model import FieldError, RELATIONS
from services.eligibility.domain.parameters import InvalidParameter, ParameterValue, new_parameter_value
from services.eligibility.reassessment.extract import (
    BATCH,
    ExtractFailed,
    HttpIncomeExtract,
    IncomeExtract,
    Incomes,
    incomes_by_family,
)
from services.eligibility.reassessment import (
    NO_DAY,
    BulkDecisions,
    FamilyColumns,
    day_number,
    decide_columns,
)
from shared.binary_copy import HEADER as COPY_HEADER
from shared.binary_copy import copy_out, row_dtype
from shared.binary_copy import rows as binary_rows
from shared.calendar import Quarter

CACHE_SECONDS = 600.0
EXTRACT_IN_FLIGHT = 3  # extract requests at once
DETAIL_LIMIT = 10_000  # families listed per direction when the detail is asked for


# The extract failed (not answering, not 200, or not the contract's CSV): the reassessment run's
# exception.
RegistryUnavailable = ExtractFailed


# ------------------------------------------------------------------------------------ register

@dataclass(frozen=True, slots=True)
class Register:
    """The current recipients as the bulk path's columns, decided as extensions on the first day
    of `quarter`, with their incomes of the assessment quarter."""

    quarter: Quarter
    version: tuple
    columns: FamilyColumns
    family_id: np.ndarray  # V16 per family
    applicant_iin: np.ndarray  # S12 per family (the member at position 0)
    size: np.ndarray  # int16 members per family
    loaded_in: float  # seconds


def _literal_array(values: Sequence[str]) -> str:
    return "ARRAY[" + ",".join("'" + v.replace("'", "''") + "'" for v in values) + "]::text[]"


_MEMBER_FIELDS = [("family_id", "V16"), ("iin", "S12"), ("birth", ">i4"), ("sex", ">i2"), ("relation", ">i2"),
                  ("employed", "u1"), ("student", "u1"), ("disability", ">i2"), ("carer", "u1")]


class _StreamedRows:
    """A binary COPY of fixed-width rows with an `iin` field, read as it arrives: every `batch`
    whole rows, their IINs are handed to `ask` as a task (the income registry's extract), so the
    registry works while PostgreSQL still sends the rest."""

    def __init__(self, fields: list[tuple[str, str]], ask: Callable[[list[str]], Awaitable[Incomes]],
                 batch: int = BATCH) -> None:
        self.dtype = row_dtype(fields)
        self.ask, self.batch = ask, batch
        self.buffer = bytearray()
        self.done = 0  # rows whose IINs were handed over
        self.tasks: list[asyncio.Task] = []

    def _whole_rows(self) -> int:
        return max(0, (len(self.buffer) - COPY_HEADER) // self.dtype.itemsize)  # the 2-byte trailer is less than a row

    def _hand_over(self, upto: int) -> None:
        start = COPY_HEADER + self.done * self.dtype.itemsize
        part = np.frombuffer(bytes(self.buffer[start:start + (upto - self.done) * self.dtype.itemsize]), self.dtype)
        self.tasks.append(asyncio.ensure_future(self.ask([i.decode() for i in part["iin"].tolist()])))
        self.done = upto

    async def write(self, data: bytes) -> None:
        self.buffer += data
        while self._whole_rows() - self.done >= self.batch:
            self._hand_over(self.done + self.batch)

    def rows(self) -> np.ndarray:
        """Every row (the COPY has ended); the last IINs are handed over."""
        whole = self._whole_rows()
        if whole > self.done:
            self._hand_over(whole)
        return np.frombuffer(memoryview(self.buffer)[COPY_HEADER:COPY_HEADER + whole * self.dtype.itemsize], self.dtype)

    def asked(self) -> list[asyncio.Task]:
        return self.tasks

    def cancel(self) -> None:
        for task in self.tasks:
            task.cancel()


async def register_version(conn: Any, current: Quarter) -> tuple:
    row = await conn.fetchrow(
        "SELECT count(*) FILTER (WHERE state = 'active' AND eligible) AS active, count(*) AS rows, "
        "max(decided_at) AS last FROM assignments WHERE period_quarter = $1", str(current))
    return (row["active"], row["rows"], row["last"])


async def load_register(conn: Any, quarter: Quarter, source: IncomeExtract, version: tuple,
                        clock: Callable[[], float] = time.perf_counter) -> Register:
    """Read the current recipients (assignments of the quarter before `quarter`) and their
    members with binary COPY, and their incomes of the assessment quarter from `source`."""
    started = clock()
    current = quarter.previous()
    where = (f"a.period_quarter = '{current}' AND a.state = 'active' AND a.eligible")
    regions = [r["region_kato"] for r in await conn.fetch(
        "SELECT DISTINCT region_kato FROM assignments a WHERE a.period_quarter = $1 AND a.state = 'active' "
        "AND a.eligible ORDER BY 1", str(current))]
    region_array = _literal_array(regions)
    families = binary_rows(await copy_out(conn, (
        f"SELECT a.family_id, (array_position({region_array}, a.region_kato::text) - 1)::int2 "
        f"FROM assignments a WHERE {where} ORDER BY a.family_id")),
        [("family_id", "V16"), ("region", ">i2")])
    # the members' IINs are asked of the registry while PostgreSQL still sends the next members
    limit = asyncio.Semaphore(EXTRACT_IN_FLIGHT)

    async def ask(iins: list[str]) -> Incomes:
        async with limit:
            return await source.incomes(current, iins)

    streamed = _StreamedRows(_MEMBER_FIELDS, ask)
    try:
        await conn.copy_from_query(
            "SELECT m.family_id, m.iin::text, m.birth_date, (m.sex = 'female')::int::int2, "
            f"(array_position({_literal_array(RELATIONS)}, m.relation::text) - 1)::int2, m.employed, "
            "m.full_time_student, coalesce(m.disability_group, 0)::int2, m.carer "
            f"FROM assignment_members m JOIN assignments a ON a.family_id = m.family_id WHERE {where} "
            "ORDER BY m.family_id, m.position", output=streamed.write, format="binary")
        members = streamed.rows()
        incomes = Incomes.concatenate(await asyncio.gather(*streamed.asked()))
    finally:
        streamed.cancel()
    f, m = len(families), len(members)
    family_id = np.ascontiguousarray(families["family_id"])
    member_family_id = np.ascontiguousarray(members["family_id"])
    # both are ordered by family_id: a member's family is the run of equal ids it falls in
    family_words = family_id.view(np.uint64).reshape(-1, 2)
    member_words = member_family_id.view(np.uint64).reshape(-1, 2)
    starts = np.ones(m, np.bool_)
    if m:
        starts[1:] = (member_words[1:] != member_words[:-1]).any(axis=1)
    member_family = (np.cumsum(starts) - 1).astype(np.int32)
    if int(starts.sum()) != f or (m and not (member_words[starts] == family_words).all()):
        raise RuntimeError("the register changed while it was read")
    size = np.bincount(member_family, minlength=f).astype(np.int16)
    iin = np.ascontiguousarray(members["iin"])
    # each income → its member's family (IINs are unique in the register's quarter)
    income_family, income_month, income_type, income_amount = incomes_by_family(
        incomes, iin.astype(np.int64), member_family)
    day = day_number(quarter.first_day)
    no = np.zeros(f, np.bool_)
    zeros = np.zeros(f, np.int64)
    columns = FamilyColumns(
        regions=tuple(regions), region=families["region"].astype(np.int16), application_day=np.full(f, day, np.int32),
        extension=np.ones(f, np.bool_), has_expenses=no, consent=no, home_or_car_purchase=no,
        non_mortgage_loans=zeros, account_spending=zeros, deposits=zeros, ban_until_day=np.full(f, NO_DAY, np.int32),
        contract_terminated_day=np.full(f, NO_DAY, np.int32), false_information=no,
        member_family=member_family, birth_day=(members["birth"].astype(np.int64) + day_number(date(2000, 1, 1))).astype(np.int32),
        sex=members["sex"].astype(np.int8), relation=members["relation"].astype(np.int8),
        employed=members["employed"].astype(np.bool_), full_time_student=members["student"].astype(np.bool_),
        disability_group=members["disability"].astype(np.int8), carer=members["carer"].astype(np.bool_),
        income_family=income_family, income_month=income_month, income_type=income_type, income_amount=income_amount,
    )
    first_member = np.flatnonzero(starts)
    return Register(quarter=quarter, version=version, columns=columns, family_id=family_id,
                    applicant_iin=iin[first_member], size=size, loaded_in=clock() - started)


class RegisterCache:
    """The last registers loaded, by quarter: reused while the register's version is unchanged and
    for at most `seconds` (the registry's incomes may change)."""

    def __init__(self, seconds: float = CACHE_SECONDS, clock: Callable[[], float] = time.monotonic) -> None:
        self.seconds = seconds
        self.clock = clock
        self._entries: dict[str, tuple[float, Register]] = {}
        self._lock = asyncio.Lock()

    async def get(self, conn: Any, quarter: Quarter, source: IncomeExtract, *,
                  reuse_expired: bool = False) -> tuple[Register, bool]:
        """(register, whether it came from the cache); `reuse_expired`: an entry past its time
        is good enough (reading ahead reads only what changed)."""
        async with self._lock:
            version = await register_version(conn, quarter.previous())
            entry = self._entries.get(str(quarter))
            if entry is not None and entry[1].version == version and (
                    reuse_expired or self.clock() - entry[0] < self.seconds):
                return entry[1], True
            register = await load_register(conn, quarter, source, version)
            self._entries = {str(quarter): (self.clock(), register)}  # one quarter kept: memory
            return register, False


# --------------------------------------------------------------------------------- overrides

@dataclass(frozen=True, slots=True)
class Override:
    name: str
    value: Any
    valid_from: date
    valid_to: date | None = None
    region_kato: str | None = None


def reform_parameters(baseline: ParameterSet, overrides: Sequence[Override], now: datetime | None = None) -> ParameterSet:
    """The baseline with the overrides recorded after every value of it (so each wins where it
    applies). InvalidParameter names `overrides[i].<field>` for each override at fault."""
    recorded = (now or datetime.now(UTC)) + timedelta(microseconds=1)
    latest = max((v.recorded_at for v in baseline.values), default=recorded)
    recorded = max(recorded, latest + timedelta(microseconds=1))
    values: list[ParameterValue] = []
    problems: list[FieldError] = []
    for i, o in enumerate(overrides):
        try:
            values.append(new_parameter_value(name=o.name, region_kato=o.region_kato, valid_from=o.valid_from,
                                              valid_to=o.valid_to, value=o.value, recorded_at=recorded))
        except InvalidParameter as invalid:
            problems += [FieldError(f"overrides[{i}].{e.path}", e.message) for e in invalid.errors]
    if problems:
        raise InvalidParameter(problems)
    return ParameterSet(list(baseline.values) + values, as_of=None)


# --------------------------------------------------------------------------------- simulating

SIZE_BUCKETS = 10  # family sizes 1..9, then "10+"


def _bucket(size: np.ndarray) -> np.ndarray:
    return np.minimum(size, SIZE_BUCKETS).astype(np.int64) - 1


def _totals(d: BulkDecisions) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    tsa = d.tsa.sum(axis=0)
    supplement = d.child_supplement.sum(axis=0)
    return tsa, supplement, tsa + supplement


def _sums(groups: np.ndarray, count: int, weights: np.ndarray) -> list[int]:
    # float64 sums of whole tenge are exact below 2**53 (9e15 tenge)
    return [int(round(x)) for x in np.bincount(groups, weights=weights.astype(np.float64), minlength=count)]


def summarise(register: Register, d: BulkDecisions) -> dict[str, Any]:
    tsa, supplement, total = _totals(d)
    eligible = d.eligible
    cols = register.columns
    region_count = np.bincount(cols.region, weights=eligible, minlength=len(cols.regions)).astype(np.int64)
    region_cost = _sums(cols.region, len(cols.regions), total)
    bucket = _bucket(register.size)
    size_count = np.bincount(bucket, weights=eligible, minlength=SIZE_BUCKETS).astype(np.int64)
    size_cost = _sums(bucket, SIZE_BUCKETS, total)
    return {
        "families_eligible": int(eligible.sum()),
        "families_not_eligible": int((~eligible).sum()),
        "cost": {"tsa": int(tsa.sum()), "child_supplement": int(supplement.sum()), "total": int(total.sum())},
        "by_region": [{"region_kato": r, "families_eligible": int(region_count[i]), "cost": region_cost[i]}
                      for i, r in enumerate(cols.regions)],
        "by_family_size": [{"members": str(k + 1) if k + 1 < SIZE_BUCKETS else f"{SIZE_BUCKETS}+",
                            "families_eligible": int(size_count[k]), "cost": size_cost[k]}
                           for k in range(SIZE_BUCKETS)],
    }


@dataclass(frozen=True, slots=True)
class Outcome:
    baseline: BulkDecisions
    reform: BulkDecisions
    seconds: float


def simulate(register: Register, baseline: ParameterSet, reform: ParameterSet, *, workers: int = 2,
             clock: Callable[[], float] = time.perf_counter) -> Outcome:
    """Decide the register twice (raises MissingParameter like `decide`)."""
    started = clock()
    before = decide_columns(register.columns, baseline, workers=workers)
    after = decide_columns(register.columns, reform, workers=workers)
    return Outcome(before, after, clock() - started)


def report(register: Register, outcome: Outcome, *, detail: bool) -> dict[str, Any]:
    before, after = outcome.baseline.eligible, outcome.reform.eligible
    gain, lose = ~before & after, before & ~after
    body: dict[str, Any] = {
        "quarter": str(register.quarter),
        "families": register.columns.families,
        "baseline": summarise(register, outcome.baseline),
        "reform": summarise(register, outcome.reform),
        "families_gaining": int(gain.sum()),
        "families_losing": int(lose.sum()),
    }
    if detail:
        body["detail"] = {name: [{"family_id": _uuid_text(register.family_id[i]),
                                  "applicant_iin": register.applicant_iin[i].decode()}
                                 for i in np.flatnonzero(flags)[:DETAIL_LIMIT].tolist()]
                          for name, flags in (("gaining", gain), ("losing", lose))}
        body["detail"]["limit"] = DETAIL_LIMIT
    return body


def _uuid_text(value: np.void) -> str:
    from uuid import UUID

    return str(UUID(bytes=bytes(value)))


__all__ = ["Register", "RegisterCache", "Override", "reform_parameters", "simulate", "report", "load_register",
           "HttpIncomeExtract", "IncomeExtract", "RegistryUnavailable"]
