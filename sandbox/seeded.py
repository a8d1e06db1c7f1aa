"""The sandbox's store of seeded incomes (issue 12, point 5): a PostgreSQL database of its own.

`qamqor seed` writes the incomes of a synthetic register of recipients here with COPY
(`qamqor_cli/seed.py`); both the per-person route (`GET /registry/v1/incomes`) and the bulk
extract (`POST /registry/v1/incomes/extract`) read it first. A person is *seeded* when the
store names them (`seeded_persons`); for a seeded person and a month the store covers
(`seed_coverage`) the store's rows are the registry's answer (none: no income that month);
for every other person or month the answer is the pure synthetic function
(`sandbox.population.synthetic_incomes`), as before.

Why a database and not a faster generator: a recipient's incomes must be the ones the register
was generated with (incomes around the family's poverty line), which a function of the IIN
alone cannot know.

Why a snapshot in memory: an extract of 5.5 M people is 55 requests of 100,000 IINs; 100,000
index probes (or a scan) per request in PostgreSQL take about a second each, a binary search
over sorted numpy columns a few milliseconds. So the sandbox reads the store once (two binary
COPYs, about 120 MB for a million families) into columns sorted by IIN, and again only when
the seed's stamp (`seed_coverage.seeded_at`) changes. The bulk extract looks at the stamp (one
single-row query) at every request, so a run started the moment a seed ends is answered the
seed's figures; the per-person route — a dozen calls per application under load, each one a
round trip to PostgreSQL before this — reuses a stamp looked at in the last STAMP_SECONDS (a seed
is seen there within a second).

Tables (UNLOGGED: sandbox data, rebuilt by the next seed):
- `seeded_persons(iin bigint)`;
- `seeded_incomes(iin bigint, month int, type smallint, amount bigint)` — month is year*12 + m-1,
  type an index into `shared.vocabulary.INCOME_TYPES`, amount in tiyn;
- `seed_coverage(first_month int, last_month int, seeded_at timestamptz)` — the months the
  store answers for, and when it was seeded.

The sandbox finds its database in `QAMQOR_SANDBOX_DATABASE_URL`; with none set (or the database
or its tables absent) every answer is synthetic.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

import asyncpg
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from shared.binary_copy import copy_rows
from shared.db import asyncpg_dsn
from shared.vocabulary import INCOME_TYPES

_TYPE_NAMES = pa.array(list(INCOME_TYPES))

log = logging.getLogger("qamqor.sandbox.seeded")

SCHEMA = (
    "CREATE UNLOGGED TABLE IF NOT EXISTS seeded_persons (iin bigint NOT NULL)",
    "CREATE UNLOGGED TABLE IF NOT EXISTS seeded_incomes (iin bigint NOT NULL, month integer NOT NULL, "
    "type smallint NOT NULL, amount bigint NOT NULL)",
    "CREATE UNLOGGED TABLE IF NOT EXISTS seed_coverage (first_month integer NOT NULL, last_month integer NOT NULL, "
    "seeded_at timestamptz NOT NULL DEFAULT clock_timestamp())",
)
CLEAR = ("TRUNCATE seeded_persons, seeded_incomes, seed_coverage",)
RETRY_SECONDS = 5.0  # a missing database or table is looked for again after this long
STAMP_SECONDS = 1.0  # how long the per-person route trusts the stamp it last looked at


def month_index(day: date) -> int:
    return day.year * 12 + day.month - 1


def tiyn_text(amount: int) -> str:
    return f"{amount // 100}.{amount % 100:02d}"


async def create_schema(conn: asyncpg.Connection) -> None:
    for statement in SCHEMA:
        await conn.execute(statement)


@dataclass(frozen=True, slots=True)
class Snapshot:
    stamp: tuple
    first_month: int
    last_month: int
    persons: np.ndarray  # int64 IINs, sorted
    iin: np.ndarray  # int64, sorted (then month, type, amount)
    month: np.ndarray  # int32
    type: np.ndarray  # int16
    amount: np.ndarray  # int64 tiyn

    def seeded(self, iins: np.ndarray) -> np.ndarray:
        at = np.minimum(np.searchsorted(self.persons, iins), max(len(self.persons) - 1, 0))
        return (self.persons[at] == iins) if len(self.persons) else np.zeros(len(iins), np.bool_)

    def rows(self, iins: np.ndarray, first: int, last: int) -> np.ndarray:
        """Indexes of the income rows of `iins` in months first..last, grouped by IIN."""
        starts = np.searchsorted(self.iin, iins, side="left")
        ends = np.searchsorted(self.iin, iins, side="right")
        counts = ends - starts
        if not counts.sum():
            return np.zeros(0, np.int64)
        index = np.repeat(starts - np.cumsum(np.r_[0, counts[:-1]]), counts) + np.arange(counts.sum())
        months = self.month[index]
        return index[(months >= first) & (months <= last)]


def csv_lines(iin: np.ndarray, month: np.ndarray, kind: np.ndarray, amount: np.ndarray, labels: list[str]) -> bytes:
    """CSV lines `iin,month,type,amount` (no header) of parallel columns — `month` an index into
    `labels`, `kind` into INCOME_TYPES, `amount` in tiyn — formatted column by column by Arrow
    (C++): five million lines in seconds, where one f-string a line took half a minute."""
    if not len(iin):
        return b""
    whole = pa.array(np.abs(amount) // 100)
    tenge = pc.cast(whole, pa.string())
    tenge = pc.if_else(pa.array(amount < 0), pc.binary_join_element_wise("-", tenge, ""), tenge)
    cents = pc.utf8_lpad(pc.cast(pa.array(np.abs(amount) % 100), pa.string()), 2, "0")
    table = pa.table({
        "iin": pc.utf8_lpad(pc.cast(pa.array(iin), pa.string()), 12, "0"),
        "month": pa.DictionaryArray.from_arrays(pa.array(month.astype(np.int32)), pa.array(labels)),
        "type": pa.DictionaryArray.from_arrays(pa.array(kind.astype(np.int32)), _TYPE_NAMES),
        "amount": pc.binary_join_element_wise(tenge, cents, "."),
    })
    sink = pa.BufferOutputStream()
    pacsv.write_csv(table, sink, pacsv.WriteOptions(include_header=False, quoting_style="none"))
    return sink.getvalue().to_pybytes()


class SeededStore:
    """Read access to the seeded incomes; every method answers 'nothing seeded' when the store is
    absent (no URL, no database, no tables)."""

    def __init__(self, database_url: str | None, clock: Callable[[], float] = time.monotonic):
        self.url = database_url
        self.dsn = asyncpg_dsn(database_url) if database_url else None
        self._pool: asyncpg.Pool | None = None
        self._absent_until = 0.0
        self._clock = clock
        self._snapshot: Snapshot | None = None
        self._stamp_until = 0.0  # the stamp last looked at holds (for `fresh=False`) until then
        self._lock = asyncio.Lock()

    async def prepare(self) -> None:
        """At start-up: the store's database and (empty) tables made if missing, so that a seed
        written later is seen at the next request (a missing store is only looked for again
        every RETRY_SECONDS: a run started right after the seed would be answered synthetic
        incomes). A database that cannot be reached now is looked for later, as before."""
        if self.dsn is None:
            return
        from shared.db import ensure_database

        try:
            await ensure_database(self.url)  # type: ignore[arg-type]
            conn = await asyncpg.connect(self.dsn)
            try:
                await create_schema(conn)
            finally:
                await conn.close()
        except (OSError, asyncpg.PostgresError) as error:
            log.warning("the seeded store cannot be prepared now (%s); looked for at each request",
                        type(error).__name__)

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()
            self._pool = None

    async def snapshot(self, *, fresh: bool = True) -> Snapshot | None:
        """The store as of its latest seed (read again when the seed's stamp changed); None when
        nothing is seeded or the store is absent. `fresh=False`: the stamp looked at in the last
        STAMP_SECONDS is trusted (no query)."""
        if self.dsn is None or self._clock() < self._absent_until:
            return None
        if not fresh and self._clock() < self._stamp_until:
            return self._snapshot
        try:
            if self._pool is None:
                self._pool = await asyncpg.create_pool(self.dsn, min_size=0, max_size=2)
            async with self._pool.acquire() as conn:
                looked_at = self._clock()
                row = await conn.fetchrow("SELECT min(first_month) AS a, max(last_month) AS b, "
                                          "max(seeded_at) AS at, count(*) AS n FROM seed_coverage")
                if row is None or row["a"] is None:
                    self._snapshot = None
                    self._stamp_until = looked_at + STAMP_SECONDS
                    return None
                stamp = (row["a"], row["b"], row["at"], row["n"])
                if self._snapshot is None or self._snapshot.stamp != stamp:
                    async with self._lock:
                        if self._snapshot is None or self._snapshot.stamp != stamp:
                            self._snapshot = await self._load(conn, stamp)
                self._stamp_until = looked_at + STAMP_SECONDS
                return self._snapshot
        except (asyncpg.InvalidCatalogNameError, asyncpg.UndefinedTableError, OSError) as error:
            log.debug("no seeded store (%s); answering synthetic incomes", type(error).__name__)
            self._absent_until = self._clock() + RETRY_SECONDS
            self._snapshot = None
            self._stamp_until = 0.0
            if self._pool is not None and isinstance(error, asyncpg.InvalidCatalogNameError | OSError):
                await self._pool.close()
                self._pool = None
            return None

    async def _load(self, conn: asyncpg.Connection, stamp: tuple) -> Snapshot:
        started = time.perf_counter()
        persons = copy_rows(conn, "SELECT iin FROM seeded_persons", [("iin", ">i8")])
        persons = np.sort((await persons)["iin"].astype(np.int64))
        rows = await copy_rows(conn, "SELECT iin, month, type, amount FROM seeded_incomes",
                                [("iin", ">i8"), ("month", ">i4"), ("type", ">i2"), ("amount", ">i8")])
        iin, month = rows["iin"].astype(np.int64), rows["month"].astype(np.int32)
        kind, amount = rows["type"].astype(np.int16), rows["amount"].astype(np.int64)
        order = np.lexsort((amount, kind, month, iin))
        log.info("seeded store read: %d persons, %d income rows in %.1fs", len(persons), len(order),
                 time.perf_counter() - started)
        return Snapshot(stamp=stamp, first_month=stamp[0], last_month=stamp[1], persons=persons, iin=iin[order],
                        month=month[order], type=kind[order], amount=amount[order])

    async def person(self, iin: str, months: list[date]) -> dict[date, list[dict[str, str]]] | None:
        """The seeded incomes of `iin` for the months of `months` the store covers (a month
        covered and without rows maps to []); None when the person is not seeded. A seed is seen
        here within STAMP_SECONDS."""
        snap = await self.snapshot(fresh=False)
        if snap is None or not months:
            return None
        key = np.array([int(iin)], np.int64)
        if not snap.seeded(key)[0]:
            return None
        wanted = {month_index(m): m for m in months if snap.first_month <= month_index(m) <= snap.last_month}
        answer: dict[date, list[dict[str, str]]] = {m: [] for m in wanted.values()}
        for r in snap.rows(key, snap.first_month, snap.last_month).tolist():
            month = int(snap.month[r])
            if month in wanted:
                answer[wanted[month]].append({"type": INCOME_TYPES[int(snap.type[r])],
                                              "amount": tiyn_text(int(snap.amount[r]))})
        return answer

    async def extract(self, keys: np.ndarray, first: date, last: date) -> tuple[bytes, np.ndarray] | None:
        """CSV lines (no header) of the seeded incomes of the IINs `keys` (int64, sorted: the
        binary searches walk the columns in order) in months first..last (which the store must
        cover entirely), grouped by IIN in IIN order, and which of `keys` are seeded (the caller
        answers the others); None when the months are not covered."""
        snap = await self.snapshot()
        if snap is None or not (snap.first_month <= month_index(first) and month_index(last) <= snap.last_month):
            return None
        seeded = snap.seeded(keys)
        rows = snap.rows(keys[seeded], month_index(first), month_index(last))
        labels = [f"{m // 12:04d}-{m % 12 + 1:02d}" for m in range(month_index(first), month_index(last) + 1)]
        return (csv_lines(snap.iin[rows], snap.month[rows] - month_index(first), snap.type[rows], snap.amount[rows],
                          labels), seeded)

