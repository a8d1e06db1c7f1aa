"""`qamqor seed --families 1000000`: a synthetic register of current recipients (issue 12, point 5).

Fills, with binary COPY straight from numpy columns (`qamqor_cli/seed_data.py`):
- eligibility's register of current assignments (the tables of `reassessment`'s migration,
  `seed_register.py`): the families, their members and their assignment for the current quarter;
- the sandbox's store of seeded incomes (`sandbox/seeded.py`): every member's incomes in the
  assessment quarter of the next run (the current quarter), which the income registry's per-person
  route and bulk extract then answer.

Into the databases of a running stack (`qamqor up`; `--state-dir` and `--db-prefix` as given to
it: <prefix>_eligibility and <prefix>_sandbox) or the DSNs given. A seed replaces the previous
seed: the sandbox's store is rebuilt, and the register's seeded families (and only those) are
deleted first. docs/simulation.md describes it.
"""

from __future__ import annotations

import asyncio
import os
import resource
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

import asyncpg
import numpy as np
import typer

from qamqor_cli.seed_data import SeedData, copy_columns
from sandbox.seeded import CLEAR, create_schema
from services.eligibility.domain import ParameterSet
from services.eligibility.domain.parameters import ParameterValue, load_shipped_parameters, value_from_json
from shared.calendar import Quarter, business_date
from shared.db import asyncpg_dsn, ensure_database

SEED_RECORDER = "qamqor-seed"
# Parameters published once a year that the next quarter's decisions need; when the database has
# none for the run's year, the seed carries the last year's value forward (and says so).
YEARLY = ("mci", "subsistence_minimum")


@dataclass
class Timings:
    phases: dict[str, float]

    def add(self, name: str, started: float) -> float:
        now = time.perf_counter()
        self.phases[name] = now - started
        return now


def database_urls(state_dir: Path, db_prefix: str, eligibility_dsn: str | None,
                  sandbox_dsn: str | None, payments_dsn: str | None = None) -> tuple[str, str, str]:
    """The eligibility, sandbox and payments databases: the DSNs given (or
    QAMQOR_{ELIGIBILITY,SANDBOX,PAYMENTS}_DATABASE_URL), else the local platform's (`qamqor up`)."""
    eligibility = eligibility_dsn or os.environ.get("QAMQOR_ELIGIBILITY_DATABASE_URL")
    sandbox = sandbox_dsn or os.environ.get("QAMQOR_SANDBOX_DATABASE_URL")
    payments = payments_dsn or os.environ.get("QAMQOR_PAYMENTS_DATABASE_URL")
    if eligibility and sandbox and payments:
        return eligibility, sandbox, payments
    from qamqor_cli.infra import ensure_postgres
    from qamqor_cli.platform import Layout

    layout = Layout(state_dir=state_dir.resolve(), db_prefix=db_prefix)
    postgres = ensure_postgres(layout.state_dir)
    return (eligibility or postgres.url(layout.database("eligibility")),
            sandbox or postgres.url(layout.database("sandbox")),
            payments or postgres.url(layout.database("payments")))


async def load_parameters(conn: asyncpg.Connection) -> list[ParameterValue]:
    rows = await conn.fetch("SELECT name, region_kato, valid_from, valid_to, value, recorded_at FROM parameters")
    import json

    return [ParameterValue(r["name"], r["region_kato"], r["valid_from"], r["valid_to"],
                           value_from_json(r["name"], json.loads(r["value"]) if isinstance(r["value"], str) else r["value"]),
                           r["recorded_at"]) for r in rows]


def carried_parameters(params: ParameterSet, run_quarter: Quarter) -> list[ParameterValue]:
    """Last year's national value of each YEARLY parameter the run's year lacks, for that year."""
    year_start = date(run_quarter.year, 1, 1)
    carried = []
    for name in YEARLY:
        if params.find(name, year_start) is not None:
            continue
        before = params.find(name, date(run_quarter.year - 1, 12, 31))
        if before is not None:
            carried.append(ParameterValue(name, None, year_start, date(run_quarter.year, 12, 31), before.value,
                                          datetime.now(UTC)))
    return carried


async def record_parameters(conn: asyncpg.Connection, values: list[ParameterValue]) -> None:
    import json

    from shared.ids import uuid7

    for v in values:
        await conn.execute(
            "INSERT INTO parameters (id, name, region_kato, valid_from, valid_to, value, recorded_at, recorded_by) "
            "VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7, $8)",
            uuid7(), v.name, v.region_kato, v.valid_from, v.valid_to, json.dumps(str(v.value)), v.recorded_at,
            SEED_RECORDER)
    if values:
        await conn.execute("SELECT pg_notify('qamqor_parameters', '')")


async def seed_sandbox(dsn: str, data: SeedData) -> None:
    """Rebuild the sandbox's store: persons, their incomes of the assessment quarter, coverage."""
    await ensure_database(dsn)
    conns = [await asyncpg.connect(asyncpg_dsn(dsn)) for _ in range(2)]
    try:
        await create_schema(conns[0])
        for statement in CLEAR:
            await conns[0].execute(statement)
        cols = data.columns
        await asyncio.gather(
            copy_columns(conns[0], "seeded_persons", {"iin": ("int8", data.member_iin)}),
            copy_columns(conns[1], "seeded_incomes", {
                "iin": ("int8", data.income_iin), "month": ("int4", cols.income_month),
                "type": ("int2", cols.income_type.astype(np.int16)), "amount": ("int8", cols.income_amount)}),
        )
        quarter = data.assessment_quarter
        # last: the sandbox reads the store again when it sees a new stamp
        await conns[0].execute("INSERT INTO seed_coverage (first_month, last_month) VALUES ($1, $2)",
                               quarter.month_index, quarter.month_index + 2)
    finally:
        for conn in conns:
            await conn.close()


async def seed(families: int, *, eligibility_url: str, sandbox_url: str, run_quarter: Quarter, seed_number: int = 0,
               echo=print, payments_url: str | None = None) -> dict[str, float]:  # noqa: ANN001
    """Seed `families` families (with `payments_url`, their assignments in payments too, so that an
    extension plans their next quarter's payments); returns the seconds of each phase."""
    from qamqor_cli.seed_register import generate_recipients, seed_register

    timings = Timings({})
    started = mark = time.perf_counter()
    conn = await asyncpg.connect(asyncpg_dsn(eligibility_url))
    try:
        values = await load_parameters(conn)
        params = ParameterSet(values or load_shipped_parameters())
        carried = carried_parameters(params, run_quarter)
        if carried:
            await record_parameters(conn, carried)
            params = ParameterSet(list(params.values) + carried)
            for value in carried:
                echo(f"recorded {value.name} {value.value} for {run_quarter.year} (carried from {run_quarter.year - 1}: "
                     "none was recorded)")
    finally:
        await conn.close()
    data, decisions = generate_recipients(families, params, run_quarter, seed=seed_number)
    mark = timings.add("generate", mark)
    members, incomes = len(data.member_iin), len(data.income_iin)
    await asyncio.gather(seed_sandbox(sandbox_url, data),
                         seed_register(eligibility_url, data, decisions, echo=echo, payments_url=payments_url))
    mark = timings.add("write", mark)
    timings.phases["total"] = mark - started
    total = timings.phases["total"]
    echo(f"seeded {families:,} families ({members:,} members, {incomes:,} income rows of "
         f"{data.assessment_quarter}) in {total:.1f}s: {families / total:,.0f} families/s "
         f"(generate {timings.phases['generate']:.1f}s, write {timings.phases['write']:.1f}s); "
         f"peak memory {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:,.0f} MiB")
    return timings.phases


def seed_command(
    families: int = typer.Option(..., "--families", min=1, max=5_000_000, help="How many recipient families."),
    quarter: str | None = typer.Option(None, "--quarter",
                                       help="The quarter of the next reassessment run, YYYY-Qn (default: the next "
                                            "quarter). Current assignments are for the quarter before it; incomes "
                                            "are seeded for that quarter (the run's assessment quarter)."),
    seed_number: int = typer.Option(0, "--seed", help="The random seed: the same seed gives the same register."),
    state_dir: Path = typer.Option(Path(".qamqor"), help="As given to `qamqor up`."),
    db_prefix: str = typer.Option("qamqor", help="The databases' prefix, as given to `qamqor up`."),
    eligibility_dsn: str | None = typer.Option(None, help="Eligibility's database (else the local platform's)."),
    sandbox_dsn: str | None = typer.Option(None, help="The sandbox's database (else <prefix>_sandbox)."),
    payments_dsn: str | None = typer.Option(None, help="Payments' database (else the local platform's)."),
) -> None:
    """Fill eligibility's register with synthetic recipient families and the sandbox's income registry
    with their incomes (COPY); prints families/s."""
    import re

    if quarter is not None and not re.match(r"^\d{4}-Q[1-4]$", quarter):
        raise typer.BadParameter("the quarter is YYYY-Qn, e.g. 2027-Q1", param_hint="--quarter")
    run_quarter = Quarter.parse(quarter) if quarter else Quarter.of(business_date()).next()
    eligibility_url, sandbox_url, payments_url = database_urls(state_dir, db_prefix, eligibility_dsn, sandbox_dsn,
                                                               payments_dsn)
    asyncio.run(seed(families, eligibility_url=eligibility_url, sandbox_url=sandbox_url, run_quarter=run_quarter,
                     seed_number=seed_number, echo=typer.echo, payments_url=payments_url))


__all__ = ["seed", "seed_command", "seed_sandbox", "database_urls", "carried_parameters"]
