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
import json
import os
import resource
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import asyncpg
import numpy as np
import typer

from qamqor_cli.seed_data import SeedData, copy_columns
from sandbox.seeded import CLEAR, create_schema
from services.eligibility.domain import ParameterSet
from services.eligibility.domain.parameters import (
    ParameterValue,
    load_shipped_parameters,
    value_from_json,
    value_to_json,
)
from services.eligibility.repository import REGISTER_CHANNEL
from services.eligibility.runs import missing_parameters
from shared.calendar import Quarter, business_date
from shared.db import asyncpg_dsn, ensure_database
from shared.regions import REGIONS

# The 20 regions, each by its region-level KATO code: the seed's families live in them.
REGION_KATOS = tuple(f"{prefix}0000000" for prefix in sorted(REGIONS))

# Who recorded a value the seed carried forward: an administrator reading the parameters sees
# that it is synthetic (`recorded_by`), not a published figure.
SEED_RECORDER = "qamqor-seed: synthetic carry-forward"
# How many reassessment runs, from the seeded one on, find the values they need (a checker may run
# several quarters one after the other on one seed).
CARRY_QUARTERS = 4


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
    return [ParameterValue(r["name"], r["region_kato"], r["valid_from"], r["valid_to"],
                           value_from_json(r["name"], json.loads(r["value"]) if isinstance(r["value"], str) else r["value"]),
                           r["recorded_at"]) for r in rows]


def _carried_period(follows: ParameterValue, on: date, later_start: date | None) -> tuple[date, date]:
    """The period of a value carried forward to `on`: a calendar year or quarter when the value it
    follows was one (the MCI and the national minimum are yearly, regional statistics quarterly),
    else as long as it; never into a value that starts later (that one stays in force)."""
    if follows.valid_to is None:
        raise ValueError("an open-ended value is in force: nothing to carry")
    if (follows.valid_from.month, follows.valid_from.day, follows.valid_to.month, follows.valid_to.day) == (1, 1, 12, 31) \
            and follows.valid_from.year == follows.valid_to.year:
        start, end = date(on.year, 1, 1), date(on.year, 12, 31)
    elif (Quarter.of(follows.valid_from).first_day, Quarter.of(follows.valid_from).last_day) == \
            (follows.valid_from, follows.valid_to):
        start, end = Quarter.of(on).first_day, Quarter.of(on).last_day
    else:
        start, end = on, on + (follows.valid_to - follows.valid_from)
    if later_start is not None:
        end = min(end, later_start - timedelta(days=1))
    return start, end


def carried_parameters(params: ParameterSet, run_quarter: Quarter, *, quarters: int = CARRY_QUARTERS,
                       regions: tuple[str, ...] = REGION_KATOS) -> list[ParameterValue]:
    """Synthetic values for what the seed's own decisions (the current quarter) and the runs of
    `run_quarter` and the `quarters - 1` after it would lack (`runs.missing_parameters`, every
    region): each the value it follows (`ParameterSet.followed`, the last one in effect before),
    carried forward unchanged over the same kind of period. A value with nothing before it is not
    invented: the run then refuses to start, naming it."""
    now = datetime.now(UTC)
    carried: list[ParameterValue] = []
    horizon = [run_quarter.previous(), run_quarter]
    while len(horizon) < quarters + 1:
        horizon.append(horizon[-1].next())
    for quarter in horizon:
        for missing in missing_parameters(params, quarter, regions):
            if params.find(missing.name, missing.on, missing.region_kato) is not None:
                continue  # carried meanwhile (a national value serves every region)
            follows = params.followed(missing.name, missing.on, missing.region_kato)
            if follows is None or follows.valid_to is None:
                continue
            later = [v.valid_from for v in params.values
                     if v.name == follows.name and v.region_kato == follows.region_kato and v.valid_from > missing.on]
            start, end = _carried_period(follows, missing.on, min(later) if later else None)
            value = ParameterValue(follows.name, follows.region_kato, start, end, follows.value, now)
            carried.append(value)
            params = ParameterSet((*params.values, value))
    return carried


class _Known:
    """The parameters as the seed knows them, in the shape `service.record_parameter` asks its
    cache for (the value a new one follows: here the carried value is that value, unchanged)."""

    def __init__(self, params: ParameterSet) -> None:
        self.params = params

    async def current(self) -> ParameterSet:
        return self.params

    def invalidate(self) -> None:  # the service's own processes hear of the values through NOTIFY
        pass


async def record_parameters(eligibility_url: str, values: list[ParameterValue], params: ParameterSet) -> None:
    """Record `values` as an administrator's `POST /v1/parameters` does (`service.record_parameter`:
    the same checks, the `parameters` row, `parameter.recorded` through the outbox so that the
    services keeping a replica follow, and the NOTIFY that makes eligibility's processes reload),
    all in one transaction: every value or none."""
    from services.eligibility.schemas import ParameterIn
    from services.eligibility.service import record_parameter
    from shared.db import make_engine, make_sessionmaker
    from shared.identity import Caller

    caller = Caller(id=SEED_RECORDER, kind="service", scopes=frozenset({"parameters:write"}))
    engine = make_engine(eligibility_url, pool_size=1)
    try:
        async with make_sessionmaker(engine)() as session, session.begin():
            for value in values:
                body = ParameterIn(name=value.name, region_kato=value.region_kato, valid_from=value.valid_from,
                                   valid_to=value.valid_to, value=value_to_json(value.value))
                await record_parameter(session=session, cache=_Known(params), caller=caller, body=body)  # type: ignore[arg-type]
    finally:
        await engine.dispose()


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
               echo=print, payments_url: str | None = None,  # noqa: ANN001
               carry_quarters: int = CARRY_QUARTERS) -> dict[str, float]:
    """Seed `families` families (with `payments_url`, their assignments in payments too, so that an
    extension plans their next quarter's payments); returns the seconds of each phase."""
    from qamqor_cli.seed_register import generate_recipients, seed_register

    timings = Timings({})
    started = mark = time.perf_counter()
    conn = await asyncpg.connect(asyncpg_dsn(eligibility_url))
    try:
        values = await load_parameters(conn)
    finally:
        await conn.close()
    params = ParameterSet(values or load_shipped_parameters())
    carried = carried_parameters(params, run_quarter, quarters=carry_quarters) if carry_quarters else []
    if carried:
        await record_parameters(eligibility_url, carried, params)
        params = ParameterSet((*params.values, *carried))
        for name, count in Counter(v.name for v in carried).items():
            years = sorted({v.valid_from.year for v in carried if v.name == name})
            echo(f"recorded {count} synthetic value(s) of {name} for {', '.join(map(str, years))}, carried forward "
                 f"unchanged from the last published ones (recorded_by '{SEED_RECORDER}'; parameter.recorded sent)")
    data, decisions = generate_recipients(families, params, run_quarter, seed=seed_number)
    mark = timings.add("generate", mark)
    members, incomes = len(data.member_iin), len(data.income_iin)
    await asyncio.gather(seed_sandbox(sandbox_url, data),
                         seed_register(eligibility_url, data, decisions, echo=echo, payments_url=payments_url))
    mark = timings.add("write", mark)
    # eligibility reads the coming quarter's register ahead for simulations (simulation_api.keep_warm)
    conn = await asyncpg.connect(asyncpg_dsn(eligibility_url))
    try:
        await conn.execute("SELECT pg_notify($1, '')", REGISTER_CHANNEL)
    finally:
        await conn.close()
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
    carry_quarters: int = typer.Option(
        CARRY_QUARTERS, "--carry-quarters", min=0, max=12,
        help="Synthetic data: record the parameter values the runs of --quarter and the quarters after it (this "
             "many runs) would lack, carried forward unchanged from the last published ones, as an administrator "
             "records a value (parameter.recorded is sent). 0: none (a run lacking one is refused, naming it)."),
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
                     seed_number=seed_number, echo=typer.echo, payments_url=payments_url,
                     carry_quarters=carry_quarters))


__all__ = ["seed", "seed_command", "seed_sandbox", "database_urls", "carried_parameters"]
