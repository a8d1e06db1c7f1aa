"""Eligibility engine benchmark.

    uv run python bench/eligibility/bench_engine.py [--families 1000000] [--runs 7] [--workers 2]

Prints:
- bulk: families per second for a quarterly reassessment of N synthetic families, counting
  everything: generating the input columns (numpy, both cores), resolving parameters per (region,
  day), computing amounts and reason bitmasks. The first run in a fresh process is reported
  separately (it pays for first-touch memory); the figure of record is the median of the others.
- single: microseconds per in-process `decide` for a 5-member family (median of many calls), and
  the same with `to_dict()` (what the HTTP layer serialises).
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import sys
import time
from datetime import date
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from services.eligibility.domain import (  # noqa: E402
    Case,
    Expenses,
    Income,
    Member,
    ParameterSet,
    compose_iin,
    decide,
    load_shipped_parameters,
    validate_case,
)
from services.eligibility.reassessment import decide_columns  # noqa: E402
from bench.synthetic import synthetic_population  # noqa: E402


def five_member_family() -> Case:
    def member(born: date, sex: str, relation: str, serial: int, **flags) -> Member:
        iin = None
        while iin is None:
            iin = compose_iin(born, sex, serial)
            serial += 1
        return Member(iin, born, sex, relation, **flags)

    members = (
        member(date(1986, 4, 10), "female", "applicant", 101, carer=True),
        member(date(1983, 9, 2), "male", "spouse", 202, employed=True),
        member(date(2022, 8, 10), "male", "child", 303),
        member(date(2019, 5, 20), "female", "child", 404),
        member(date(2012, 3, 3), "female", "child", 505, full_time_student=False),
    )
    incomes = tuple(Income(members[1].iin, "wage", date(2026, m, 1), Decimal("120000")) for m in (1, 2, 3))
    incomes += (Income(members[0].iin, "large_family_allowance", date(2026, 2, 1), Decimal("64120")),
                Income(members[1].iin, "wage", date(2025, 12, 1), Decimal("118000")))
    return Case("150000000", date(2026, 5, 12), True, members, incomes,
                Expenses(True, False, Decimal("50000"), Decimal("300000"), Decimal("10000")))


def bench_single(params: ParameterSet, calls: int) -> tuple[float, float]:
    case = five_member_family()
    assert validate_case(case) == []
    decide(case, params)  # warm the parameter caches, as a running service has them
    timings, with_json = [], []
    clock = time.perf_counter_ns
    for _ in range(calls):
        start = clock()
        decide(case, params)
        timings.append(clock() - start)
    for _ in range(calls // 4):
        start = clock()
        decide(case, params).to_dict()
        with_json.append(clock() - start)
    return statistics.median(timings) / 1000, statistics.median(with_json) / 1000


def bench_bulk(params: ParameterSet, families: int, runs: int, workers: int) -> list[tuple[float, float, float, int, int]]:
    results = []
    for run in range(runs):
        gc.collect()
        cpu = time.process_time()
        start = time.perf_counter()
        columns = synthetic_population(families, params, seed=run, workers=workers)
        built = time.perf_counter()
        decisions = decide_columns(columns, params, workers=workers)
        done = time.perf_counter()
        cpu = time.process_time() - cpu
        results.append((built - start, done - built, cpu, len(columns.birth_day), len(columns.income_amount)))
        assert len(decisions) == families
        del columns, decisions
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--families", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--calls", type=int, default=50_000)
    args = parser.parse_args()

    params = ParameterSet(load_shipped_parameters())
    print(f"cpus: {os.cpu_count()}, workers: {args.workers}, "
          f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())} (other processes share these cpus)")

    results = bench_bulk(params, args.families, args.runs, args.workers)
    for i, (build, compute, cpu, members, incomes) in enumerate(results):
        total = build + compute
        print(f"bulk run {i}: build {build * 1000:6.1f} ms + decide {compute * 1000:6.1f} ms = "
              f"{total * 1000:6.1f} ms → {args.families / total:>10,.0f} families/s, cpu {cpu * 1000:6.1f} ms "
              f"({members:,} members, {incomes:,} incomes){'  [first run: cold memory]' if i == 0 else ''}")
    steady = results[1:] or results
    totals = [b + c for b, c, *_ in steady]
    print(f"BULK {args.families:,} families incl. input building: median {args.families / statistics.median(totals):,.0f} "
          f"families/s, best {args.families / min(totals):,.0f} families/s "
          f"(median build {statistics.median(b for b, *_ in steady) * 1000:.0f} ms, "
          f"decide {statistics.median(c for _, c, *_ in steady) * 1000:.0f} ms, "
          f"cpu {statistics.median(c for _, _, c, *_ in steady) * 1000:.0f} ms)")

    single, single_json = bench_single(params, args.calls)
    print(f"SINGLE decide, 5-member family: {single:.1f} µs median ({single_json:.1f} µs with to_dict); "
          f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
