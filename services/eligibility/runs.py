"""One reassessment run (issue 12, points 2–3; docs/reassessment.md): every family whose
assignment covers the ending quarter is decided again for the next one, without an application.

A run is a row of `reassessment_runs` (one per quarter: a unique index) and a loop of chunks. Each
chunk is ONE transaction that

1. locks the run's row and reads its cursor (`after_family_id`, the last family of the last chunk
   committed);
2. reads the next `chunk_size` families of the register after it (`register.stream_register`);
3. asks the income registry's bulk extract for their members' incomes of the assessment quarter
   (the ending quarter) and the ban history (`contract_terminations`) for their IINs;
4. lists for a case worker the families whose composition changed (a member now in another
   family of the register) — they are not decided;
5. decides the others with the columnar bulk path (`decide_columns`, extension: the income types
   of `disregarded_on_extension_income_types` left out), as of the first day of the new quarter;
   a conditional family is extended only with its social contract in force (`signed`: carried
   over), otherwise it is listed for a case worker (`contract_needed`);
6. writes every decided family's new assignment row (eligible or not: the decision) with COPY,
   one slim `eligibility.extended` event per family into the outbox with COPY, and the run's
   progress and totals — all committed together.

So a run killed at any point resumes after the last committed chunk, and the primary key
(family_id, period_quarter) of `assignments` makes deciding a family twice for a quarter
impossible whatever happens. One process executes a run at a time: it holds a PostgreSQL
advisory lock on the run's quarter for as long as it works on it.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Protocol
from uuid import UUID

import numpy as np
import orjson

from services.eligibility.domain.decision import REASON_BIT, REASON_CODES
from services.eligibility.domain.parameters import MissingParameter
from services.eligibility.domain.rules import RULES_VERSION
from services.eligibility.reassessment.bulk import (
    NO_DAY,
    BulkDecisions,
    day_number,
    decide_columns,
    month_first_day,
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
EXTENSION_EVENT = "eligibility.extended"
# The codes that refuse a family (the others describe it).
REFUSING = ("INCOME_NOT_BELOW_POVERTY_LINE", "BAN_ACTIVE", "FALSE_INFORMATION", "EXPENSE_PURCHASE",
            "EXPENSE_LOANS", "EXPENSE_SPENDING", "EXPENSE_DEPOSITS", "CONSENT_NOT_GIVEN")
# Why a family is listed for a case worker rather than extended.
MEMBER_IN_ANOTHER_FAMILY = "member_in_another_family"
CONTRACT_NEEDED = "contract_needed"


class RunStopped(Exception):
    """Raised by a fault hook (tests): the run stops as a killed process would."""


# ---------------------------------------------------------------------------- the income extract

@dataclass(frozen=True, slots=True)
class Incomes:
    """Income records as parallel arrays: IIN, month index (year*12+m-1), type code, tiyn."""

    iin: np.ndarray
    month: np.ndarray
    type: np.ndarray
    amount: np.ndarray


class IncomeExtract(Protocol):
    async def incomes(self, quarter: Quarter, iins: Sequence[str]) -> Incomes: ...


def parse_extract(lines: Sequence[str]) -> Incomes:
    """The extract's CSV (`iin,month,type,amount`, header first) → arrays. Unknown income types are
    an error (the registry and Qamqor share one vocabulary)."""
    from services.eligibility.reassessment.register import income_columns

    rows = [line.split(",") for line in lines if line]
    if rows and rows[0] == ["iin", "month", "type", "amount"]:
        rows = rows[1:]
    iins, months, types, amounts = (list(column) for column in zip(*rows)) if rows else ([], [], [], [])
    return Incomes(*income_columns(iins, months, types, amounts))


class HttpIncomeExtract:
    """`POST {registry}/registry/v1/incomes/extract` {quarter, iins} → streamed CSV, in batches of
    at most `batch` IINs."""

    def __init__(self, client: Any, *, batch: int = 100_000) -> None:
        self._client, self._batch = client, batch

    async def incomes(self, quarter: Quarter, iins: Sequence[str]) -> Incomes:
        lines: list[str] = []
        for start in range(0, len(iins), self._batch):
            body = {"quarter": str(quarter), "iins": list(iins[start:start + self._batch])}
            async with self._client.stream("POST", "/registry/v1/incomes/extract", json=body) as response:
                if response.status_code != 200:
                    await response.aread()
                    raise ExtractFailed(f"the income registry's extract answered {response.status_code}")
                async for line in response.aiter_lines():
                    lines.append(line)
        header = "iin,month,type,amount"
        return parse_extract([line for line in lines if line and line != header])


class ExtractFailed(Exception):
    pass


# ------------------------------------------------------------------------------------- the runs

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
                return await self._execute(run_id, Quarter.parse(run["quarter"]))
            finally:
                await raw_lock.execute("SELECT pg_advisory_unlock($1)", key)

    async def _execute(self, run_id: UUID, quarter: Quarter) -> str:
        ending = ending_quarter(quarter)
        async with self.engine.begin() as conn:
            raw = await raw_connection(conn)
            phase = await raw.fetchval("SELECT phase FROM reassessment_runs WHERE id = $1", run_id)
            if phase == "counting":
                total = await raw.fetchval("SELECT count(*) FROM assignments WHERE period_quarter = $1 "
                                           "AND state = 'active' AND eligible", str(ending))
                await raw.execute("UPDATE reassessment_runs SET families_total = $2, phase = 'deciding', "
                                  "updated_at = $3 WHERE id = $1", run_id, total, utcnow())
        while True:
            try:
                done, chunks = await self._one_chunk(run_id, quarter)
            except (MissingParameter, ExtractFailed, OSError) as error:
                await self._fail(run_id, error)
                return FAILED
            except Exception as error:  # noqa: BLE001 - any other failure stops the run, visibly
                if isinstance(error, (RunStopped, asyncio.CancelledError)):
                    raise
                log.exception("reassessment run failed")
                await self._fail(run_id, error)
                return FAILED
            if done:
                return COMPLETED
            if self.after_chunk is not None:
                result = self.after_chunk(chunks)
                if result is not None:
                    await result

    async def _fail(self, run_id: UUID, error: BaseException) -> None:
        message = str(error.again() if isinstance(error, MissingParameter) else error) or type(error).__name__
        async with self.engine.begin() as conn:
            raw = await raw_connection(conn)
            await raw.execute("UPDATE reassessment_runs SET status = 'failed', error = $2, updated_at = $3 "
                              "WHERE id = $1", run_id, message[:500], utcnow())
        log.warning("reassessment run %s failed: %s", run_id, message[:200])

    async def _one_chunk(self, run_id: UUID, quarter: Quarter) -> tuple[bool, int]:
        ending = ending_quarter(quarter)
        async with self.engine.begin() as conn:
            raw = await raw_connection(conn)
            run = await raw.fetchrow("SELECT * FROM reassessment_runs WHERE id = $1 FOR UPDATE", run_id)
            if run["status"] != RUNNING:
                return True, run["chunks_done"]
            chunk = None
            async for chunk in stream_register(raw, str(ending), self.chunk_size, after_family_id=run["after_family_id"]):
                break
            now = utcnow()
            if chunk is None:
                await raw.execute("UPDATE reassessment_runs SET status = 'completed', phase = 'done', "
                                  "updated_at = $2, finished_at = $2 WHERE id = $1", run_id, now)
                return True, run["chunks_done"]
            outcome = await decide_chunk(raw, chunk, quarter=quarter, params=await self.parameters.current(),
                                         extract=self.extract)
            await write_chunk(raw, outcome, run_id=run_id, quarter=quarter, now=now)
            totals = merge_totals(dict(_json(run["totals"])), outcome.totals())
            await raw.execute(
                "UPDATE reassessment_runs SET after_family_id = $2, families_done = families_done + $3, "
                "chunks_done = chunks_done + 1, totals = $4::jsonb, updated_at = $5 WHERE id = $1",
                run_id, chunk.last_family_id, chunk.families, orjson.dumps(totals).decode(), now)
            return False, run["chunks_done"] + 1


def _json(value: Any) -> Any:
    return orjson.loads(value) if isinstance(value, (str, bytes)) else (value or {})


# ------------------------------------------------------------------------------ deciding a chunk

@dataclass(frozen=True, slots=True)
class ChunkOutcome:
    chunk: RegisterChunk
    decided: np.ndarray  # indexes (into the chunk) of the families decided
    decisions: BulkDecisions | None  # of the families decided, in `decided` order
    review: dict[int, str]  # family index → why a case worker looks at it
    carried_over: np.ndarray  # bool per decided family: a conditional family's contract in force

    def totals(self) -> dict[str, Any]:
        totals: dict[str, Any] = {"extended": 0, "ended": {}, "review": dict(Counter(self.review.values())),
                                  "amounts_by_region": {}}
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
    return into


_MOVED_SQL = """
SELECT DISTINCT m.family_id
FROM assignment_members m
JOIN assignment_members o ON o.iin = m.iin AND o.family_id <> m.family_id
JOIN assignments a ON a.family_id = o.family_id AND a.state = 'active' AND a.eligible AND a.period_quarter >= $2
WHERE m.family_id = ANY($1::uuid[])
"""
_BANS_SQL = """
SELECT iin, max(terminated_on) FROM contract_terminations
WHERE iin = ANY($1::text[]) AND terminated_on <= $2 GROUP BY iin
"""


async def decide_chunk(raw: Any, chunk: RegisterChunk, *, quarter: Quarter, params: Any,
                       extract: IncomeExtract) -> ChunkOutcome:
    """Decide one chunk (nothing written): see the module docstring, steps 3–5."""
    ending = ending_quarter(quarter)
    day = day_number(quarter.first_day)
    review: dict[int, str] = {}
    index_of = {fid: i for i, fid in enumerate(chunk.family_id)}
    for row in await raw.fetch(_MOVED_SQL, chunk.family_id, str(ending)):
        review[index_of[row[0]]] = MEMBER_IN_ANOTHER_FAMILY
    keep = np.ones(chunk.families, np.bool_)
    if review:
        keep[list(review)] = False
    decided = np.flatnonzero(keep)
    if not len(decided):
        return ChunkOutcome(chunk, decided, None, review, np.zeros(0, np.bool_))
    sub = _subset(chunk, decided) if len(decided) < chunk.families else chunk
    iins = sub.iin.tolist()
    incomes = await extract.incomes(ending, iins)
    terminated = np.full(sub.families, NO_DAY, np.int32)
    bans = {row[0]: day_number(row[1]) for row in await raw.fetch(_BANS_SQL, iins, quarter.first_day)}
    if bans:
        for iin, family in zip(iins, sub.member_family.tolist()):
            if iin in bans:
                terminated[family] = max(int(terminated[family]), bans[iin])
    columns = sub.to_columns(application_day=day, extension=True, income_iin=incomes.iin,
                             income_month=incomes.month, income_type=incomes.type, income_amount=incomes.amount,
                             contract_terminated_day=terminated)
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
    return ChunkOutcome(chunk, decided, decisions, review, carried)


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

_REASON_LISTS: dict[int, list[str]] = {}


def _reasons(mask: int) -> list[str]:
    found = _REASON_LISTS.get(mask)
    if found is None:
        found = _REASON_LISTS[mask] = [code for code in REASON_CODES if mask & REASON_BIT[code]]
    return found


_KINDS = ("unconditional", "conditional")


async def write_chunk(raw: Any, outcome: ChunkOutcome, *, run_id: UUID, quarter: Quarter, now: datetime) -> int:
    """The chunk's decisions as new assignment rows and `eligibility.extended` events (COPY into a
    temporary table, then one INSERT … ON CONFLICT DO NOTHING: a family already decided for the
    quarter keeps its one decision and gets no second event), and its review rows. How many
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
    period = str(quarter)
    application_date = quarter.first_day
    rows: list[tuple] = []
    events: list[tuple] = []
    decided = outcome.decided.tolist()
    tsa = d.tsa.T.tolist()
    supplement = d.child_supplement.T.tolist()
    first_month = d.first_month.tolist()
    months_paid = d.months.tolist()
    eligible = d.eligible.tolist()
    kinds = d.kind.tolist()
    lines = d.poverty_line.tolist()
    per_capita = d.per_capita_income.tolist()
    masks = d.reasons.tolist()
    carried = outcome.carried_over.tolist()
    region = chunk.region_kato.tolist()
    settlement = chunk.settlement.tolist()
    composition = chunk.composition.tolist()
    sizes = np.bincount(chunk.member_family, minlength=chunk.families).tolist()
    topic = TOPICS["eligibility"]
    for k, i in enumerate(decided):
        ok = eligible[k]
        n = months_paid[k] if ok else 0
        labels = [month_label(month_first_day(first_month[k] + j)) for j in range(n)]
        t = tsa[k][:n]
        s = supplement[k][:n]
        totals = [a + b for a, b in zip(t, s)]
        decision_id = uuid7()
        kind = _KINDS[kinds[k]]
        reasons = _reasons(masks[k])
        rows.append((chunk.family_id[i], period, chunk.application_id[i], decision_id, run_id, True, now,
                     application_date, region[i], settlement[i], ok, kind, lines[k],
                     Decimal(per_capita[k]) / 100, masks[k], RULES_VERSION, labels, t, s, totals, sum(totals),
                     sizes[i], composition[i], "signed" if carried[k] else "none",
                     "active" if ok else "ended", None if ok else "not_eligible"))
        application_id = str(chunk.application_id[i])
        data = {"application_id": application_id, "decision_id": str(decision_id), "run_id": str(run_id),
                "period_quarter": period, "eligible": ok, "kind": kind, "region_kato": region[i],
                "settlement": settlement[i],
                "monthly": [{"month": m, "tsa": a, "child_supplement": b, "total": a + b}
                            for m, a, b in zip(labels, t, s)],
                "reasons": reasons, "contract_carried_over": bool(carried[k])}
        events.append((chunk.family_id[i], application_id, data))
    await raw.execute("CREATE TEMP TABLE IF NOT EXISTS reassessment_batch (LIKE assignments INCLUDING DEFAULTS) "
                      "ON COMMIT DELETE ROWS")
    await raw.copy_records_to_table("reassessment_batch", records=rows, columns=list(ASSIGNMENT_COLUMNS))
    columns = ", ".join(ASSIGNMENT_COLUMNS)
    inserted = {r[0] for r in await raw.fetch(
        f"INSERT INTO assignments ({columns}) SELECT {columns} FROM reassessment_batch "
        "ON CONFLICT (family_id, period_quarter) DO NOTHING RETURNING family_id")}
    await raw.execute("TRUNCATE reassessment_batch")
    stamp = now.isoformat().replace("+00:00", "Z")
    # The events are written as JSON directly (a million pydantic models would cost the run tens
    # of seconds); the contract is checked on the chunk's first one, and a unit test checks that
    # they are what `EligibilityExtended` writes.
    EligibilityExtended.model_validate(events[0][2])
    outbox = []
    for family_id, key, data in events:
        if family_id not in inserted:
            continue
        event_id = uuid7()
        envelope = {"id": str(event_id), "type": EXTENSION_EVENT, "version": 1, "source": "eligibility", "key": key,
                    "occurred_at": stamp, "correlation_id": str(run_id), "causation_id": None, "data": data}
        outbox.append((event_id, topic, key, EXTENSION_EVENT, orjson.dumps(envelope).decode(), "{}"))
    if outbox:
        await raw.copy_records_to_table("outbox", records=outbox,
                                        columns=["event_id", "topic", "key", "event_type", "envelope", "headers"])
        await raw.execute(f"SELECT pg_notify('{OUTBOX_CHANNEL}', '')")
    return len(inserted)


__all__ = ["Executor", "HttpIncomeExtract", "IncomeExtract", "Incomes", "parse_extract", "start", "get",
           "unfinished", "reviews", "decide_chunk", "write_chunk", "merge_totals", "RunStopped",
           "RUNNING", "FAILED", "COMPLETED", "REFUSING", "date"]
