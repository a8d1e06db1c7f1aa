"""One reassessment run (issue 12, points 2–3; docs/reassessment.md): every family whose
assignment covers the ending quarter is decided again for the next one, without an application.

A run is a row of `reassessment_runs` (one per quarter: a unique index) and a loop of chunks. Each
chunk is first prepared on a connection of its own, writing nothing (`Executor._prepare`,
`decide_chunk`) while the chunk before it is written:

1. read the next `chunk_size` families of the register after the last one (`stream_register`);
2. list for a case worker the families whose composition changed (a member also in another
   family of the register) — they are not decided;
3. ask the income registry's bulk extract for the members' incomes of the assessment quarter (the
   ending quarter), and read the ban history (`contract_terminations`);
4. decide the others with the columnar bulk path (`decide_columns`, extension: the income types
   of `disregarded_on_extension_income_types` left out), as of the first day of the new quarter;
   a conditional family is extended only with its social contract in force (`signed`: carried
   over), otherwise it is listed for a case worker (`contract_needed`).

Then ONE transaction (`Executor._write`, `write_chunk`) locks the run's row, checks its cursor
(`after_family_id`, the last family of the last committed chunk) is the one the chunk follows,
writes every decided family's new assignment row (eligible or not: the decision) with COPY, one
slim `eligibility.extended` event per family into the outbox with COPY, the review rows, and the
run's cursor, progress and totals — all committed together.

So a run killed at any point resumes after the last committed chunk, and the primary key
(family_id, period_quarter) of `assignments` makes deciding a family twice for a quarter
impossible whatever happens. One process executes a run at a time: it holds a PostgreSQL
advisory lock on the run's quarter for as long as it works on it.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
import os
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any
from uuid import UUID

import numpy as np
import orjson

from services.eligibility.domain.decision import REASON_BIT, REASON_CODES
from services.eligibility.domain.parameters import MissingParameter
from services.eligibility.domain.rules import (
    LARGE_FAMILY_PER_CHILD_PARAMETER,
    LARGE_FAMILY_RATE_PARAMETERS,
    RULES_VERSION,
    assignment_months,
)
from services.eligibility.reassessment.bulk import (
    MAX_MONTHS,
    NO_DAY,
    BulkDecisions,
    day_number,
    decide_columns,
    month_first_day,
)
from services.eligibility.reassessment.extract import (
    ExtractFailed,
    HttpIncomeExtract,
    IncomeExtract,
    Incomes,
    parse_extract,
    post_extract,
)
from services.eligibility.reassessment.register import (
    ASSIGNMENT_COLUMNS,
    RegisterChunk,
    raw_connection,
    stream_register,
)
from shared.calendar import Quarter, month_label, utcnow
from shared.events.contracts import TOPICS, EligibilityExtended
from shared.ids import uuid7
from shared.outbox import OUTBOX_CHANNEL
from shared.regions import region_level_kato

log = logging.getLogger("qamqor.eligibility.reassessment")

RUNNING, FAILED, COMPLETED = "running", "failed", "completed"
STOPPED = "stopped"  # what execute() says when the run left `running` under it
EXTENSION_EVENT = "eligibility.extended"
# The codes that refuse a family (the others describe it).
REFUSING = ("INCOME_NOT_BELOW_POVERTY_LINE", "BAN_ACTIVE", "FALSE_INFORMATION", "EXPENSE_PURCHASE",
            "EXPENSE_LOANS", "EXPENSE_SPENDING", "EXPENSE_DEPOSITS", "CONSENT_NOT_GIVEN")
# Why a family is listed for a case worker rather than extended.
MEMBER_IN_ANOTHER_FAMILY = "member_in_another_family"
CONTRACT_NEEDED = "contract_needed"


class RunStopped(Exception):
    """Raised by a fault hook (tests): the run stops as a killed process would."""


# ------------------------------------------------------------------------------------- the runs

# What the rules read for every family of a run of quarter Q (decided on D, its first day): on D,
# the shares, thresholds and policy values (`day_policy`, `_combo_policy`); on the first day of
# Q-1, the statistics; on the first day of each month paid, the MCI (rules.md, "Which date each
# value is read at"). `ban_months` is read on a termination's day, which the run cannot know ahead.
_ON_DECISION_DAY = ("poverty_line_subsistence_share", "counted_income_types", "adult_age",
                    "retirement_age_male", "retirement_age_female", "child_supplement_min_age",
                    "child_supplement_max_age", "student_child_age_limit",
                    "disregarded_on_extension_income_types", "consent_required", "deposit_limit_mci", "mci",
                    "child_supplement_mci", *LARGE_FAMILY_RATE_PARAMETERS.values(),
                    LARGE_FAMILY_PER_CHILD_PARAMETER)


def missing_parameters(params: Any, quarter: Quarter, regions: Sequence[str]) -> list[MissingParameter]:
    """Every parameter value a run of `quarter` would need for a family of one of `regions` and
    that `params` lacks (one per name, region and day; none when the run can decide everyone).
    Checked before a run starts, so that a missing value refuses the run whole rather than failing
    it at the first chunk that needs it (with the chunks before it written)."""
    day = quarter.first_day
    statistics_day = ending_quarter(quarter).first_day
    missing: list[MissingParameter] = []
    for region in sorted(set(regions)):
        wanted = [(name, day) for name in _ON_DECISION_DAY]
        wanted += [("mci", month) for month in assignment_months(day) if month != day]
        wanted.append(("subsistence_minimum", statistics_day))
        if params.find("poverty_line_median_share", day, region) is not None:
            wanted.append(("median_income", statistics_day))
        missing += [MissingParameter(name, region, on) for name, on in wanted if params.find(name, on, region) is None]
    return missing


async def parameters_missing_for(conn: Any, quarter: Quarter, params: Any) -> list[MissingParameter]:
    """The values a run of `quarter` that would start (or resume) now lacks, for the regions of the
    families it would decide; none for a run that is running or completed (nothing to start)."""
    conn = await raw_connection(conn)
    status = await conn.fetchval("SELECT status FROM reassessment_runs WHERE quarter = $1", str(quarter))
    if status not in (None, FAILED):
        return []
    regions = [row[0] for row in await conn.fetch(
        "SELECT DISTINCT region_kato FROM assignments WHERE period_quarter = $1 AND state = 'active' AND eligible",
        str(ending_quarter(quarter)))]
    return missing_parameters(params, quarter, regions)


def ending_quarter(quarter: Quarter) -> Quarter:
    return quarter.previous()


def _lock_key(quarter: str) -> int:
    # a stable 63-bit key per quarter for pg_advisory_lock
    year, number = quarter.split("-Q")
    return 0x52_45_41_00_0000_0000 + int(year) * 10 + int(number)


async def start(conn: Any, *, quarter: str, caller_id: str, now: datetime) -> tuple[dict, bool]:
    """The run of `quarter`: a new one (True) or the one that exists (False; a failed one is set
    running again, so that it resumes)."""
    conn = await raw_connection(conn)
    row = await conn.fetchrow(
        "INSERT INTO reassessment_runs (id, quarter, status, phase, started_by, started_at, updated_at) "
        "VALUES ($1, $2, 'running', 'counting', $3, $4, $4) ON CONFLICT (quarter) DO NOTHING RETURNING *",
        uuid7(), quarter, caller_id[:100], now)
    if row is not None:
        return dict(row), True
    row = await conn.fetchrow("UPDATE reassessment_runs SET status = 'running', error = NULL, updated_at = $2 "
                              "WHERE quarter = $1 AND status = 'failed' RETURNING *", quarter, now)
    if row is None:
        row = await conn.fetchrow("SELECT * FROM reassessment_runs WHERE quarter = $1", quarter)
    return dict(row), False


async def get(conn: Any, run_id: UUID) -> dict | None:
    conn = await raw_connection(conn)
    row = await conn.fetchrow("SELECT * FROM reassessment_runs WHERE id = $1", run_id)
    return None if row is None else dict(row)


async def unfinished(conn: Any) -> list[dict]:
    conn = await raw_connection(conn)
    return [dict(r) for r in await conn.fetch("SELECT * FROM reassessment_runs WHERE status = 'running'")]


async def reviews(conn: Any, run_id: UUID, *, regions: Sequence[str] | None, limit: int, offset: int) -> list[dict]:
    conn = await raw_connection(conn)
    rows = await conn.fetch(
        "SELECT family_id, application_id, region_kato, reason, listed_at FROM reassessment_reviews "
        "WHERE run_id = $1 AND ($2::text[] IS NULL OR substr(region_kato, 1, 2) = ANY($2::text[])) "
        "ORDER BY listed_at, family_id LIMIT $3 OFFSET $4", run_id,
        None if regions is None else [r[:2] for r in regions], limit, offset)
    return [dict(r) for r in rows]


@dataclass
class Executor:
    """Works through one run, chunk by chunk (module docstring). `after_chunk` is a hook called
    after each committed chunk with the number of chunks done (tests inject a fault there)."""

    engine: Any  # AsyncEngine
    parameters: Any  # ParameterCache
    extract: IncomeExtract
    chunk_size: int = 50_000
    after_chunk: Callable[[int], Awaitable[None] | None] | None = None
    _shared: np.ndarray | None = None  # IINs in more than one family, read once per execution

    async def execute(self, run_id: UUID) -> str | None:
        """Run it to its end; the status it ended in, or None when another process holds it."""
        async with self.engine.connect() as lock_conn:
            raw_lock = await raw_connection(lock_conn, begin=False)
            run = await raw_lock.fetchrow("SELECT quarter, status FROM reassessment_runs WHERE id = $1", run_id)
            if run is None or run["status"] != RUNNING:
                return None if run is None else run["status"]
            key = _lock_key(run["quarter"])
            if not await raw_lock.fetchval("SELECT pg_try_advisory_lock($1)", key):
                return None
            try:
                self._shared = None
                return await self._execute(run_id, Quarter.parse(run["quarter"]))
            finally:
                await raw_lock.execute("SELECT pg_advisory_unlock($1)", key)

    async def _execute(self, run_id: UUID, quarter: Quarter) -> str:
        ending = ending_quarter(quarter)
        async with self.engine.begin() as conn:
            raw = await raw_connection(conn)
            run = await raw.fetchrow("SELECT phase, after_family_id FROM reassessment_runs WHERE id = $1", run_id)
            if run["phase"] == "counting":
                total = await raw.fetchval("SELECT count(*) FROM assignments WHERE period_quarter = $1 "
                                           "AND state = 'active' AND eligible", str(ending))
                await raw.execute("UPDATE reassessment_runs SET families_total = $2, phase = 'deciding', "
                                  "updated_at = $3 WHERE id = $1", run_id, total, utcnow())
        after = run["after_family_id"]
        # Pipelined: the next chunk is read, checked, extracted and decided (outside the run's
        # transaction, touching nothing) while this one is written; only the write commits.
        prepared = asyncio.create_task(self._prepare(quarter, after))
        try:
            while True:
                try:
                    outcome = await prepared
                    if outcome is None:
                        return await self._complete(run_id)
                    prepared = asyncio.create_task(self._prepare(quarter, outcome.chunk.last_family_id))
                    chunks = await self._write(run_id, quarter, outcome, after)
                except (MissingParameter, ExtractFailed, OSError) as error:
                    await self._fail(run_id, error)
                    return FAILED
                except Exception as error:  # noqa: BLE001 - any other failure stops the run, visibly
                    if isinstance(error, (RunStopped, asyncio.CancelledError)):
                        raise
                    log.exception("reassessment run failed")
                    await self._fail(run_id, error)
                    return FAILED
                if chunks is None:  # stopped meanwhile (not running any more)
                    return STOPPED
                after = outcome.chunk.last_family_id
                if self.after_chunk is not None:
                    result = self.after_chunk(chunks)
                    if result is not None:
                        await result
        finally:
            if not prepared.done():
                prepared.cancel()
            with contextlib.suppress(BaseException):
                await prepared

    async def _fail(self, run_id: UUID, error: BaseException) -> None:
        message = str(error.again() if isinstance(error, MissingParameter) else error) or type(error).__name__
        async with self.engine.begin() as conn:
            raw = await raw_connection(conn)
            await raw.execute("UPDATE reassessment_runs SET status = 'failed', error = $2, updated_at = $3 "
                              "WHERE id = $1", run_id, message[:500], utcnow())
        log.warning("reassessment run %s failed: %s", run_id, message[:200])

    async def _prepare(self, quarter: Quarter, after: UUID | None) -> ChunkOutcome | None:
        """The chunk after `after`, decided (nothing written); None when no family is left."""
        started = time.perf_counter()
        async with self.engine.connect() as conn:
            raw = await raw_connection(conn)
            chunk = None
            async for chunk in stream_register(raw, str(ending_quarter(quarter)), self.chunk_size,
                                               after_family_id=after):
                break
            if chunk is None:
                return None
            read = time.perf_counter()
            if self._shared is None:
                self._shared = await shared_iins(raw)
            outcome = await decide_chunk(raw, chunk, quarter=quarter, params=await self.parameters.current(),
                                         extract=self.extract, shared=self._shared)
        outcome.seconds["read"] = read - started
        return outcome

    async def _write(self, run_id: UUID, quarter: Quarter, outcome: ChunkOutcome, after: UUID | None) -> int | None:
        """One transaction: the chunk's rows and events, the run's cursor, counters and totals; how
        many chunks are done (None: the run is not running any more)."""
        async with self.engine.begin() as conn:
            raw = await raw_connection(conn)
            run = await raw.fetchrow("SELECT * FROM reassessment_runs WHERE id = $1 FOR UPDATE", run_id)
            if run["status"] != RUNNING:
                return None
            if run["after_family_id"] != after:  # the advisory lock makes this impossible
                raise RuntimeError("the run's cursor moved under its executor")
            now = utcnow()
            started = time.perf_counter()
            await write_chunk(raw, outcome, run_id=run_id, quarter=quarter, now=now)
            outcome.seconds["write"] = time.perf_counter() - started
            totals = merge_totals(dict(_json(run["totals"])), outcome.totals())
            await raw.execute(
                "UPDATE reassessment_runs SET after_family_id = $2, families_done = families_done + $3, "
                "chunks_done = chunks_done + 1, totals = $4::jsonb, updated_at = $5 WHERE id = $1",
                run_id, outcome.chunk.last_family_id, outcome.chunk.families, orjson.dumps(totals).decode(), now)
            return run["chunks_done"] + 1

    async def _complete(self, run_id: UUID) -> str:
        async with self.engine.begin() as conn:
            raw = await raw_connection(conn)
            status = await raw.fetchval(
                "UPDATE reassessment_runs SET status = 'completed', phase = 'done', updated_at = $2, finished_at = $2 "
                "WHERE id = $1 AND status = 'running' RETURNING status", run_id, utcnow())
        return status or STOPPED


def _json(value: Any) -> Any:
    return orjson.loads(value) if isinstance(value, (str, bytes)) else (value or {})


# ------------------------------------------------------------------------------ deciding a chunk

@dataclass(frozen=True, slots=True)
class ChunkOutcome:
    chunk: RegisterChunk
    decided: np.ndarray  # indexes (into the chunk) of the families decided
    decisions: BulkDecisions | None  # of the families decided, in `decided` order
    review: dict[int, str]  # family index → why a case worker looks at it
    carried_over: np.ndarray  # bool per decided family: a contract in force, carried over
    # seconds spent per phase: read, checks, extract, decide, write
    seconds: dict[str, float] = field(default_factory=dict)

    def totals(self) -> dict[str, Any]:
        totals: dict[str, Any] = {"extended": 0, "ended": {}, "review": dict(Counter(self.review.values())),
                                  "amounts_by_region": {}, "seconds": dict(self.seconds)}
        if self.decisions is None:
            return totals
        d = self.decisions
        eligible = d.eligible
        totals["extended"] = int(eligible.sum())
        ended: Counter[str] = Counter()
        for mask in d.reasons[~eligible].tolist():
            for code in REFUSING:
                if mask & REASON_BIT[code]:
                    ended[code] += 1
        totals["ended"] = dict(ended)
        amounts = (d.tsa + d.child_supplement).sum(axis=0)
        regions = self.chunk.region_kato[self.decided]
        by_region: dict[str, dict[str, int]] = {}
        for region, amount, ok in zip(regions.tolist(), amounts.tolist(), eligible.tolist()):
            if not ok:
                continue
            entry = by_region.setdefault(region_level_kato(region), {"families": 0, "amount": 0})
            entry["families"] += 1
            entry["amount"] += int(amount)
        totals["amounts_by_region"] = by_region
        return totals


def merge_totals(into: dict[str, Any], more: dict[str, Any]) -> dict[str, Any]:
    into["extended"] = into.get("extended", 0) + more["extended"]
    for key in ("ended", "review"):
        merged = dict(into.get(key, {}))
        for code, n in more[key].items():
            merged[code] = merged.get(code, 0) + n
        into[key] = merged
    regions = {k: dict(v) for k, v in into.get("amounts_by_region", {}).items()}
    for region, entry in more["amounts_by_region"].items():
        kept = regions.setdefault(region, {"families": 0, "amount": 0})
        kept["families"] += entry["families"]
        kept["amount"] += entry["amount"]
    into["amounts_by_region"] = regions
    seconds = dict(into.get("seconds", {}))
    for phase, spent in more.get("seconds", {}).items():
        seconds[phase] = round(seconds.get(phase, 0.0) + spent, 3)
    into["seconds"] = seconds
    return into


_MOVED_SQL = """
SELECT DISTINCT m.family_id
FROM assignment_members m
JOIN assignment_members o ON o.iin = m.iin AND o.family_id <> m.family_id
JOIN assignments a ON a.family_id = o.family_id AND a.state = 'active' AND a.eligible AND a.period_quarter >= $2
WHERE m.family_id = ANY($1::uuid[])
"""
# Every member's latest termination, read whole for each chunk (terminations are few: a family
# terminated while the run goes on is barred in the chunks after it).
_BANS_SQL = """
SELECT iin, max(terminated_on) - DATE '1970-01-01' FROM contract_terminations
WHERE terminated_on <= $1 GROUP BY iin
"""


_SHARED_IINS_SQL = "SELECT iin FROM assignment_members GROUP BY iin HAVING count(*) > 1"


async def shared_iins(raw: Any) -> np.ndarray:
    """The IINs that are members of more than one family of the register (one scan, once per run)."""
    return np.array(sorted(row[0] for row in await raw.fetch(_SHARED_IINS_SQL)), dtype="<U12")


async def decide_chunk(raw: Any, chunk: RegisterChunk, *, quarter: Quarter, params: Any,
                       extract: IncomeExtract, shared: np.ndarray | None = None) -> ChunkOutcome:
    """Decide one chunk (nothing written): see the module docstring, steps 3–5."""
    ending = ending_quarter(quarter)
    day = day_number(quarter.first_day)
    clock = time.perf_counter()
    seconds: dict[str, float] = {}

    def lap(phase: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        seconds[phase] = seconds.get(phase, 0.0) + now - clock
        clock = now

    review: dict[int, str] = {}
    # only families with a member in another family need the query (`shared`: such IINs, when known)
    suspects = chunk.family_id if shared is None else [
        chunk.family_id[f] for f in np.unique(chunk.member_family[np.isin(chunk.iin, shared)]).tolist()]
    if suspects:
        index_of = {fid: i for i, fid in enumerate(chunk.family_id)}
        for row in await raw.fetch(_MOVED_SQL, suspects, str(ending)):
            review[index_of[row[0]]] = MEMBER_IN_ANOTHER_FAMILY
    keep = np.ones(chunk.families, np.bool_)
    if review:
        keep[list(review)] = False
    decided = np.flatnonzero(keep)
    lap("checks")
    if not len(decided):
        return ChunkOutcome(chunk, decided, None, review, np.zeros(0, np.bool_), seconds)
    sub = _subset(chunk, decided) if len(decided) < chunk.families else chunk
    iins = sub.iin.tolist()
    incomes = await extract.incomes(ending, iins)
    lap("extract")
    terminated = np.full(sub.families, NO_DAY, np.int32)
    bans = {row[0]: row[1] for row in await raw.fetch(_BANS_SQL, quarter.first_day)}
    if bans:
        barred = np.isin(sub.iin, np.array(list(bans), dtype="<U12"))
        for iin, family in zip(sub.iin[barred].tolist(), sub.member_family[barred].tolist()):
            terminated[family] = max(int(terminated[family]), bans[iin])
    columns = sub.to_columns(application_day=day, extension=True, income_iin=incomes.iin,
                             income_month=incomes.month, income_type=incomes.type, income_amount=incomes.amount,
                             contract_terminated_day=terminated)
    lap("checks")
    decisions = decide_columns(columns, params, workers=2)
    conditional = decisions.kind == 1
    signed = sub.contract_state == "signed"
    # a contract in force runs on with the family, whatever its kind now (so it does not end the
    # application by completing with the old quarter)
    carried = decisions.eligible & signed
    needs_contract = decisions.eligible & conditional & ~signed
    if needs_contract.any():
        for k in np.flatnonzero(needs_contract).tolist():
            review[int(decided[k])] = CONTRACT_NEEDED
        keep_decided = ~needs_contract
        decided = decided[keep_decided]
        decisions = _take(decisions, keep_decided)
        carried = carried[keep_decided]
    lap("decide")
    return ChunkOutcome(chunk, decided, decisions, review, carried, seconds)


def _subset(chunk: RegisterChunk, families: np.ndarray) -> RegisterChunk:
    chosen = np.zeros(chunk.families, np.bool_)
    chosen[families] = True
    members = chosen[chunk.member_family]
    renumber = np.cumsum(chosen) - 1
    pick = families.tolist()
    return RegisterChunk(
        family_id=[chunk.family_id[i] for i in pick], application_id=[chunk.application_id[i] for i in pick],
        decision_id=[chunk.decision_id[i] for i in pick], region_kato=chunk.region_kato[families],
        settlement=chunk.settlement[families], kind=chunk.kind[families],
        contract_state=chunk.contract_state[families], composition=chunk.composition[families],
        application_day=chunk.application_day[families], quarter_total=chunk.quarter_total[families],
        member_family=renumber[chunk.member_family[members]].astype(np.int32), iin=chunk.iin[members],
        birth_day=chunk.birth_day[members], sex=chunk.sex[members], relation=chunk.relation[members],
        employed=chunk.employed[members], full_time_student=chunk.full_time_student[members],
        disability_group=chunk.disability_group[members], carer=chunk.carer[members],
    )


def _take(d: BulkDecisions, keep: np.ndarray) -> BulkDecisions:
    return BulkDecisions(eligible=d.eligible[keep], kind=d.kind[keep], poverty_line=d.poverty_line[keep],
                         per_capita_income=d.per_capita_income[keep], first_month=d.first_month[keep],
                         months=d.months[keep], tsa=d.tsa[:, keep], child_supplement=d.child_supplement[:, keep],
                         large_family_allowance=d.large_family_allowance[:, keep], reasons=d.reasons[keep])


# ------------------------------------------------------------------------------- writing a chunk

_REASON_JSON: dict[int, str] = {}


def _reasons_json(mask: int) -> str:
    found = _REASON_JSON.get(mask)
    if found is None:
        found = _REASON_JSON[mask] = orjson.dumps([code for code in REASON_CODES if mask & REASON_BIT[code]]).decode()
    return found


_KINDS = ("unconditional", "conditional")


def uuid7_batch(n: int) -> list[str]:
    """`n` UUIDv7 at once, as text (RFC 9562: 48-bit unix milliseconds, a 12-bit counter, 62 random
    bits), in increasing order — `shared.ids.uuid7` costs microseconds each, a million of them
    seconds. asyncpg takes the text for a uuid column."""
    if n == 0:
        return []
    step = np.arange(n, dtype=np.uint64)
    millis = np.uint64(time.time_ns() // 1_000_000) + step // np.uint64(4096)
    high = (millis << np.uint64(16)) | np.uint64(0x7000) | (step % np.uint64(4096))
    low = (np.frombuffer(os.urandom(8 * n), dtype=np.uint64) & np.uint64(0x3FFF_FFFF_FFFF_FFFF)) \
        | np.uint64(0x8000_0000_0000_0000)
    packed = np.empty((n, 2), dtype=">u8")
    packed[:, 0], packed[:, 1] = high, low
    text = packed.tobytes().hex()
    return [f"{text[i:i + 8]}-{text[i + 8:i + 12]}-{text[i + 12:i + 16]}-{text[i + 16:i + 20]}-{text[i + 20:i + 32]}"
            for i in range(0, 32 * n, 32)]


# The envelope of `eligibility.extended` as JSON text (shared.events.Envelope's fields, the data
# the contract's); the unit tests check it against Envelope.wrap(EligibilityExtended(...)).
_ENVELOPE = ('{"id":"%s","type":"eligibility.extended","version":1,"source":"eligibility","key":"%s",'
             '"occurred_at":"%s","correlation_id":"%s","causation_id":null,"data":{"application_id":"%s",'
             '"decision_id":"%s","run_id":"%s","period_quarter":"%s","eligible":%s,"kind":"%s",'
             '"region_kato":"%s","settlement":"%s","monthly":[%s],"reasons":%s,"contract_carried_over":%s}}')
_MONTH = '{"month":"%s","tsa":%d,"child_supplement":%d,"total":%d}'
# An assignment row in COPY's text format (ASSIGNMENT_COLUMNS; no value holds a tab, a newline or
# a backslash): a million rows formatted here cost a fraction of what asyncpg's encoding of a
# million tuples of arrays does (the run's largest cost, measured with py-spy).
_ASSIGNMENT_ROW = "%s\t%s\t%s\t%s\t%s\tt\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t%s\t%d\t%s\t{%s}\t{%s}\t{%s}\t{%s}\t%d\t%d\t%s\t%s\t%s\t%s\n"


async def write_chunk(raw: Any, outcome: ChunkOutcome, *, run_id: UUID, quarter: Quarter, now: datetime) -> int:
    """The chunk's decisions as new assignment rows and `eligibility.extended` events, each with
    one COPY, and its review rows. The run's row lock and cursor make each family's chunk written
    once; were a family decided for the quarter already, the primary key refuses the COPY and the
    chunk's transaction rolls back (the run fails, visibly) — never a second decision. How many
    families were written."""
    chunk = outcome.chunk
    if len(outcome.review):
        await raw.executemany(
            "INSERT INTO reassessment_reviews (run_id, family_id, application_id, region_kato, reason, listed_at) "
            "VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
            [(run_id, chunk.family_id[i], chunk.application_id[i], str(chunk.region_kato[i]), reason, now)
             for i, reason in sorted(outcome.review.items())])
    d = outcome.decisions
    if d is None or not len(outcome.decided):
        return 0
    count = len(outcome.decided)
    period = str(quarter)
    application_date = quarter.first_day
    decided = outcome.decided.tolist()
    eligible_array = d.eligible
    paid = np.where(eligible_array, d.months, 0).astype(np.int64)
    in_period = np.arange(MAX_MONTHS)[:, None] < paid[None, :]
    totals_array = (d.tsa + d.child_supplement) * in_period
    quarter_total = totals_array.sum(axis=0).tolist()
    tsa = d.tsa.T.tolist()
    supplement = d.child_supplement.T.tolist()
    totals = totals_array.T.tolist()
    first_month = d.first_month.tolist()
    months_paid = paid.tolist()
    eligible = eligible_array.tolist()
    kinds = d.kind.tolist()
    lines = d.poverty_line.tolist()
    per_capita = d.per_capita_income.tolist()
    masks = d.reasons.tolist()
    carried = outcome.carried_over.tolist()
    region = chunk.region_kato.tolist()
    settlement = chunk.settlement.tolist()
    composition = chunk.composition.tolist()
    sizes = np.bincount(chunk.member_family, minlength=chunk.families).tolist()
    decision_ids = uuid7_batch(count)
    event_ids = uuid7_batch(count)
    labels_of: dict[tuple[int, int], list[str]] = {}
    stamp = now.isoformat().replace("+00:00", "Z")
    run_text = str(run_id)
    topic = TOPICS["eligibility"]
    day = application_date.isoformat()
    rows: list[str] = []
    outbox: list[tuple] = []
    for k, i in enumerate(decided):
        ok = eligible[k]
        n = months_paid[k]
        labels = labels_of.get((first_month[k], n))
        if labels is None:
            labels = labels_of[(first_month[k], n)] = [month_label(month_first_day(first_month[k] + j)) for j in range(n)]
        t, s, total = tsa[k][:n], supplement[k][:n], totals[k][:n]
        kind = _KINDS[kinds[k]]
        cents = per_capita[k]
        application_id = chunk.application_id[i]
        rows.append(_ASSIGNMENT_ROW % (
            chunk.family_id[i], period, application_id, decision_ids[k], run_text, stamp, day, region[i],
            settlement[i], "t" if ok else "f", kind, lines[k], f"{cents // 100}.{cents % 100:02d}", masks[k],
            RULES_VERSION, ",".join(labels), ",".join(map(str, t)), ",".join(map(str, s)), ",".join(map(str, total)),
            quarter_total[k], sizes[i], composition[i], "signed" if carried[k] else "none",
            "active" if ok else "ended", "\\N" if ok else "not_eligible"))
        key = str(application_id)
        monthly = ",".join([_MONTH % m for m in zip(labels, t, s, total)])
        outbox.append((event_ids[k], topic, key, EXTENSION_EVENT, _ENVELOPE % (
            event_ids[k], key, stamp, run_text, key, decision_ids[k], run_text, period, "true" if ok else "false",
            kind, region[i], settlement[i], monthly, _reasons_json(masks[k]), "true" if carried[k] else "false"),
            "{}"))
    # The events are written as JSON text (a million pydantic models would cost the run tens of
    # seconds): the contract is checked on the chunk's first one.
    EligibilityExtended.model_validate(orjson.loads(outbox[0][4])["data"])
    await raw.copy_to_table("assignments", source=io.BytesIO("".join(rows).encode()), columns=list(ASSIGNMENT_COLUMNS),
                            format="text")
    await raw.copy_records_to_table("outbox", records=outbox,
                                    columns=["event_id", "topic", "key", "event_type", "envelope", "headers"])
    await raw.execute(f"SELECT pg_notify('{OUTBOX_CHANNEL}', '')")
    return count


__all__ = ["Executor", "ExtractFailed", "HttpIncomeExtract", "IncomeExtract", "Incomes", "parse_extract", "post_extract", "start", "get",
           "unfinished", "reviews", "missing_parameters", "parameters_missing_for", "decide_chunk", "write_chunk", "merge_totals", "RunStopped",
           "RUNNING", "FAILED", "COMPLETED", "REFUSING", "date"]
