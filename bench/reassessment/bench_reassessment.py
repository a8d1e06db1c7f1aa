"""The quarter's turn at scale (issue 12): seed N recipient families on fresh databases, pull
their incomes through the income registry's bulk extract, run the reassessment, simulate a
policy change; families/s per phase and peak memory.

    uv run python bench/reassessment/bench_reassessment.py --families 1000000

Fresh databases `<prefix>_eligibility` (migrated) and `<prefix>_sandbox` on the local PostgreSQL
(`qamqor_cli.infra.ensure_postgres`, as `make run`), dropped at the end unless --keep. The sandbox
runs as its own process (uvicorn), as in `make run`; everything else runs in this process.

Phases:
- seed: `qamqor seed` (generate + binary COPY into the register and the sandbox's store);
- extract: every member's incomes of the assessment quarter through
  `POST /registry/v1/incomes/extract` (100,000 IINs a request, 3 in flight), parsed into columns;
- run: the reassessment run in process — the Executor eligibility runs for
  `POST /v1/reassessments` (services/eligibility/runs.py): reading the register, the bulk
  extract, deciding, writing decisions, assignments and outbox rows, committing, chunk by chunk;
- simulation (cold): reading the register with binary COPY + the extract + deciding twice;
- simulation (warm): the register cached (same version), deciding twice + the report.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

import asyncpg  # noqa: E402
import httpx  # noqa: E402

from qamqor_cli.infra import ensure_postgres, free_port, wait_for_port  # noqa: E402
from qamqor_cli.seed import load_parameters, seed  # noqa: E402
from services.eligibility import simulation  # noqa: E402
from services.eligibility.domain import ParameterSet  # noqa: E402
from services.eligibility.main import MIGRATIONS_DIR  # noqa: E402
from shared.calendar import Quarter  # noqa: E402
from shared.db import asyncpg_dsn, drop_database, ensure_database, migrate  # noqa: E402


def peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def sandbox_peak_mib(pid: int) -> float:
    """The sandbox process's peak resident memory (VmHWM), read before it stops."""
    try:
        with open(f"/proc/{pid}/status") as status:
            for row in status:
                if row.startswith("VmHWM:"):
                    return int(row.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def line(name: str, families: int, seconds: float, extra: str = "") -> None:
    print(f"{name:<20} {seconds:7.1f}s  {families / seconds if seconds else 0:>11,.0f} families/s  "
          f"peak {peak_mib():,.0f} MiB{('  ' + extra) if extra else ''}", flush=True)


async def run_phase(eligibility_url: str, registry_url: str, quarter: Quarter, families: int) -> str | None:
    """The reassessment run in process (services/eligibility/runs.py: the Executor the eligibility
    service runs for `POST /v1/reassessments`); None when that code is not there."""
    try:
        from services.eligibility import runs
    except ImportError:
        return None
    from services.eligibility.adapters import ParameterCache
    from services.eligibility.settings import EligibilitySettings
    from shared.calendar import utcnow
    from shared.db import make_engine, make_sessionmaker

    engine = make_engine(eligibility_url)
    try:
        async with httpx.AsyncClient(base_url=registry_url, timeout=600) as client:
            cache = ParameterCache(make_sessionmaker(engine), eligibility_url)
            executor = runs.Executor(engine=engine, parameters=cache, extract=runs.HttpIncomeExtract(client),
                                     chunk_size=EligibilitySettings().reassessment_chunk_size)
            started = time.perf_counter()
            async with engine.begin() as conn:
                run, _ = await runs.start(conn, quarter=str(quarter), caller_id="bench", now=utcnow())
            status = await executor.execute(run["id"])
            seconds = time.perf_counter() - started
            async with engine.begin() as conn:
                raw = await runs.raw_connection(conn)
                done = await raw.fetchrow("SELECT families_done, chunks_done, totals FROM reassessment_runs "
                                          "WHERE id = $1", run["id"])
                outbox = await raw.fetchval("SELECT count(*) FROM outbox")
                written = await raw.fetchval("SELECT count(*) FROM assignments WHERE period_quarter = $1",
                                             str(quarter))
            line("run", families, seconds, f"status {status}, {done['families_done']:,} families in "
                 f"{done['chunks_done']} chunks, {written:,} assignments of {quarter} written, {outbox:,} outbox rows")
            totals = runs._json(done["totals"])
            print("  totals: " + ", ".join(f"{k} {v}" for k, v in totals.items() if not isinstance(v, dict | list))[:400])
            return status
    finally:
        await engine.dispose()


async def main(args: argparse.Namespace) -> None:
    postgres = ensure_postgres(ROOT / ".qamqor")
    eligibility_url = postgres.url(f"{args.prefix}_eligibility")
    sandbox_url = postgres.url(f"{args.prefix}_sandbox")
    quarter = Quarter.parse(args.quarter)
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, "
          f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    for url in (eligibility_url, sandbox_url):
        await drop_database(url)
    await ensure_database(eligibility_url)
    await asyncio.to_thread(migrate, eligibility_url, MIGRATIONS_DIR)
    sandbox = None
    try:
        started = time.perf_counter()
        await seed(args.families, eligibility_url=eligibility_url, sandbox_url=sandbox_url, run_quarter=quarter,
                   echo=lambda text: print("  " + text))
        line("seed", args.families, time.perf_counter() - started)

        port = free_port()
        env = dict(os.environ, QAMQOR_SANDBOX_DATABASE_URL=sandbox_url, QAMQOR_SANDBOX_LOG_LEVEL="WARNING",
                   PYTHONPATH=str(ROOT))
        sandbox = subprocess.Popen([sys.executable, "-m", "uvicorn", "sandbox.main:create_app", "--factory",
                                    "--port", str(port), "--log-level", "warning", "--no-access-log"],
                                   cwd=ROOT, env=env)
        wait_for_port("127.0.0.1", port)
        registry_url = f"http://127.0.0.1:{port}"
        async with httpx.AsyncClient(base_url=registry_url, timeout=600) as client:
            source = simulation.HttpIncomeExtract(client)
            conn = await asyncpg.connect(asyncpg_dsn(eligibility_url))
            try:
                iins = [r[0] for r in await conn.fetch("SELECT iin FROM assignment_members")]
                params = ParameterSet(await load_parameters(conn))
            finally:
                await conn.close()

            # the sandbox reads its store at the first request: not part of the extract's figure
            await source.incomes(quarter.previous(), iins[:1])
            started = time.perf_counter()
            incomes = await source.incomes(quarter.previous(), iins)
            line("extract", args.families, time.perf_counter() - started,
                 f"{len(iins):,} IINs, {len(incomes.iin):,} income rows")
            del incomes, iins

            if args.skip_run or await run_phase(eligibility_url, registry_url, quarter, args.families) is None:
                print("run                  not benched")

            reform = simulation.reform_parameters(params, [simulation.Override(
                "poverty_line_median_share", "0.40", quarter.first_day)])
            cache = simulation.RegisterCache()
            conn = await asyncpg.connect(asyncpg_dsn(eligibility_url))
            try:
                for label in ("simulation (cold)", "simulation (warm)"):
                    started = time.perf_counter()
                    async with conn.transaction(readonly=True):
                        register, _ = await cache.get(conn, quarter, source)
                    outcome = await asyncio.to_thread(simulation.simulate, register, params, reform)
                    body = simulation.report(register, outcome, detail=False)
                    line(label, args.families, time.perf_counter() - started,
                         f"register {register.loaded_in:.1f}s, decide x2 {outcome.seconds:.1f}s; eligible "
                         f"{body['baseline']['families_eligible']:,} -> {body['reform']['families_eligible']:,}, "
                         f"cost {body['baseline']['cost']['total']:,} -> {body['reform']['cost']['total']:,} tenge")
            finally:
                await conn.close()
    finally:
        if sandbox is not None:
            print(f"sandbox (registry) peak {sandbox_peak_mib(sandbox.pid):,.0f} MiB")
            sandbox.terminate()
            sandbox.wait(30)
        if not args.keep:
            for url in (eligibility_url, sandbox_url):
                await drop_database(url)
    print(f"load average at the end {' '.join(f'{x:.2f}' for x in os.getloadavg())}; peak {peak_mib():,.0f} MiB")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--families", type=int, default=1_000_000)
    parser.add_argument("--quarter", default="2027-Q1", help="the quarter the run decides (YYYY-Qn)")
    parser.add_argument("--prefix", default="qamqor_bench_reassess", help="the databases' prefix")
    parser.add_argument("--keep", action="store_true", help="keep the databases")
    parser.add_argument("--skip-run", action="store_true", help="bench the seed, the extract and the simulation only")
    asyncio.run(main(parser.parse_args()))
