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
alone cannot know; and the extract of 5.5 M people is then one indexed join streamed by
PostgreSQL itself as CSV (`COPY … TO STDOUT`), not Python formatting.

Tables (UNLOGGED: sandbox data, rebuilt by the next seed):
- `seeded_persons(iin bigint)` — unique index;
- `seeded_incomes(iin bigint, month int, type smallint, amount bigint)` — month is year*12 + m-1,
  type an index into `shared.vocabulary.INCOME_TYPES`, amount in tiyn; index on (iin, month);
- `seed_coverage(first_month int, last_month int)` — the months the store answers for.

The sandbox finds its database in `QAMQOR_SANDBOX_DATABASE_URL`; with none set (or the database
or its tables absent) every answer is synthetic.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from datetime import date

import asyncpg

from shared.db import asyncpg_dsn
from shared.vocabulary import INCOME_TYPES

log = logging.getLogger("qamqor.sandbox.seeded")

SCHEMA = (
    "CREATE UNLOGGED TABLE IF NOT EXISTS seeded_persons (iin bigint NOT NULL)",
    "CREATE UNLOGGED TABLE IF NOT EXISTS seeded_incomes (iin bigint NOT NULL, month integer NOT NULL, "
    "type smallint NOT NULL, amount bigint NOT NULL)",
    "CREATE UNLOGGED TABLE IF NOT EXISTS seed_coverage (first_month integer NOT NULL, last_month integer NOT NULL)",
)
INDEXES = (
    "CREATE UNIQUE INDEX IF NOT EXISTS seeded_persons_iin ON seeded_persons (iin)",
    "CREATE INDEX IF NOT EXISTS seeded_incomes_iin_month ON seeded_incomes (iin, month)",
)
DROP = ("DROP INDEX IF EXISTS seeded_persons_iin", "DROP INDEX IF EXISTS seeded_incomes_iin_month",
        "TRUNCATE seeded_persons, seeded_incomes, seed_coverage")

# IIN text, 'YYYY-MM', type, amount with 2 places — what the extract streams, formatted by PostgreSQL.
_CSV_SELECT = (
    "SELECT lpad(i.iin::text, 12, '0'), lpad((i.month / 12)::text, 4, '0') || '-' || lpad((i.month % 12 + 1)::text, 2, '0'), "
    "($4::text[])[i.type + 1], (i.amount / 100)::text || '.' || lpad((i.amount % 100)::text, 2, '0') "
    "FROM seeded_incomes i JOIN unnest($1::bigint[]) AS q(iin) ON q.iin = i.iin "
    "WHERE i.month BETWEEN $2 AND $3 ORDER BY i.iin, i.month, i.type, i.amount"
)
RETRY_SECONDS = 5.0  # a missing database or table is looked for again after this long


def month_index(day: date) -> int:
    return day.year * 12 + day.month - 1


def tiyn_text(amount: int) -> str:
    return f"{amount // 100}.{amount % 100:02d}"


async def create_schema(conn: asyncpg.Connection) -> None:
    for statement in SCHEMA:
        await conn.execute(statement)


class SeededStore:
    """Read access to the seeded incomes; every method answers 'nothing seeded' when the store is
    absent (no URL, no database, no tables)."""

    def __init__(self, database_url: str | None, clock: Callable[[], float] = time.monotonic):
        self.dsn = asyncpg_dsn(database_url) if database_url else None
        self._pool: asyncpg.Pool | None = None
        self._absent_until = 0.0
        self._clock = clock

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()
            self._pool = None

    async def _use(self, work: Callable[[asyncpg.Connection], Awaitable]):  # noqa: ANN202
        """Run `work` on a pooled connection; None when the store is absent."""
        if self.dsn is None or self._clock() < self._absent_until:
            return None
        try:
            if self._pool is None:
                self._pool = await asyncpg.create_pool(self.dsn, min_size=0, max_size=4)
            async with self._pool.acquire() as conn:
                return await work(conn)
        except (asyncpg.InvalidCatalogNameError, asyncpg.UndefinedTableError, OSError) as error:
            log.info("no seeded store (%s); answering synthetic incomes", type(error).__name__)
            self._absent_until = self._clock() + RETRY_SECONDS
            if self._pool is not None and isinstance(error, asyncpg.InvalidCatalogNameError | OSError):
                await self._pool.close()
                self._pool = None
            return None

    async def coverage(self, conn: asyncpg.Connection) -> tuple[int, int] | None:
        row = await conn.fetchrow("SELECT min(first_month) AS a, max(last_month) AS b FROM seed_coverage")
        return None if row is None or row["a"] is None else (row["a"], row["b"])

    async def person(self, iin: str, months: list[date]) -> dict[date, list[dict[str, str]]] | None:
        """The seeded incomes of `iin` for the months of `months` the store covers (a month
        covered and without rows maps to []); None when the person is not seeded."""
        if not months:
            return None

        async def work(conn: asyncpg.Connection) -> dict[date, list[dict[str, str]]] | None:
            covered = await self.coverage(conn)
            if covered is None or not await conn.fetchval("SELECT 1 FROM seeded_persons WHERE iin = $1", int(iin)):
                return None
            wanted = {month_index(m): m for m in months if covered[0] <= month_index(m) <= covered[1]}
            answer: dict[date, list[dict[str, str]]] = {m: [] for m in wanted.values()}
            rows = await conn.fetch("SELECT month, type, amount FROM seeded_incomes WHERE iin = $1 "
                                    "AND month BETWEEN $2 AND $3 ORDER BY month, type, amount",
                                    int(iin), min(wanted, default=0), max(wanted, default=-1))
            for row in rows:
                answer[wanted[row["month"]]].append({"type": INCOME_TYPES[row["type"]], "amount": tiyn_text(row["amount"])})
            return answer

        return await self._use(work)

    async def extract(self, iins: Iterable[str], first: date, last: date,
                      write: Callable[[bytes], Awaitable[None]]) -> set[str] | None:
        """Stream CSV lines (no header) of the seeded incomes of `iins` in months first..last
        (which the store must cover entirely) to `write`; returns the IINs that are seeded (the
        caller answers the others), or None when nothing is seeded or the months are not covered."""
        numbers = sorted({int(i) for i in iins})

        async def work(conn: asyncpg.Connection) -> set[str] | None:
            covered = await self.coverage(conn)
            if covered is None or not (covered[0] <= month_index(first) and month_index(last) <= covered[1]):
                return None
            seeded = await conn.fetchval(
                "SELECT coalesce(array_agg(p.iin), '{}') FROM seeded_persons p JOIN unnest($1::bigint[]) AS q(iin) "
                "ON q.iin = p.iin", numbers)
            if seeded:
                await conn.copy_from_query(_CSV_SELECT, numbers, month_index(first), month_index(last),
                                           list(INCOME_TYPES), output=write, format="csv")
            return {f"{n:012d}" for n in seeded}

        return await self._use(work)
