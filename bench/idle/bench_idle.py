"""What the platform costs while nobody uses it: CPU per process of an idle stack.

    uv run python bench/idle/bench_idle.py [--seconds 60] [--preload 500]

Starts the whole platform the way `make run` does (`qamqor_cli.platform.start_platform`: separate
uvicorn processes, real PostgreSQL, the noida-db broker) on free ports, with its own databases
and state dir. With `--preload N` it first submits N applications through the gateway and waits
until the pipeline has drained them (every outbox sent, every inbox still), so the topics hold
a few thousand events, as on a platform that has been used. Then, with no request at all, it
samples each process's CPU time (utime + stime from /proc/<pid>/stat, the broker with its child
processes) over `--seconds` and prints it as % of one core. It also shows the PostgreSQL
backends connected to this stack's databases (the relays' and listeners' queries cost there).
The platform is stopped afterwards and its databases dropped.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform as host
import sys
import tempfile
import threading
import time
import uuid
from datetime import date
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

import asyncpg  # noqa: E402

from qamqor_cli.demo import GatewayClient, member  # noqa: E402
from qamqor_cli.infra import ensure_postgres, free_port  # noqa: E402
from qamqor_cli.platform import DEFAULT_PORTS, DATABASES, SERVICES, Layout, Platform, start_platform  # noqa: E402
from shared.db import asyncpg_dsn, drop_database  # noqa: E402
from shared.iin import make_iin  # noqa: E402
from bench.proc import cpu_seconds, descendants  # noqa: E402





def tree_cpu(pids: list[int]) -> float:
    total = 0.0
    for pid in pids:
        try:
            total += cpu_seconds(pid)
        except FileNotFoundError:
            pass  # exited during the window; its time is lost from both ends
    return total


async def backend_pids(postgres_url: str, prefix: str) -> list[int]:
    conn = await asyncpg.connect(asyncpg_dsn(postgres_url))
    try:
        rows = await conn.fetch("SELECT pid FROM pg_stat_activity WHERE datname LIKE $1", prefix + "\\_%")
    finally:
        await conn.close()
    return [row["pid"] for row in rows]


async def pipeline_state(platform: Platform) -> tuple[int, int]:
    """(outbox rows not yet sent, inbox rows) summed over every service."""
    pending = handled = 0
    for name in SERVICES:
        conn = await asyncpg.connect(asyncpg_dsn(platform.postgres.url(platform.layout.database(name))))
        try:
            pending += await conn.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NULL")
            handled += await conn.fetchval("SELECT count(*) FROM inbox")
        finally:
            await conn.close()
    return pending, handled


def preload(platform: Platform, count: int, clients: int = 4) -> None:
    portal = next(c for c in platform.callers if c["kind"] == "portal")
    began = time.monotonic()

    def submit(worker: int) -> None:
        client = GatewayClient(platform.layout.url("gateway"), portal["id"], portal["secret"])
        for n in range(worker, count, clients):
            mother_birth, child_birth = date(1990, 1 + n % 12, 1 + n % 28), date(2018, 1 + n % 12, 1 + n % 28)
            members = [member(make_iin(mother_birth, "female", n % 9000), "Bench Mother", mother_birth, "female",
                              "applicant"),
                       member(make_iin(child_birth, "male", n % 9000), "Bench Child", child_birth, "male", "child")]
            body = {"channel": "egov", "region_kato": "610000000", "settlement": "urban",
                    "bank_account": {"iban": "KZ86125KZT5004100100", "bank_code": "HSBKKZKX"},
                    "expense_check_consent": False, "members": members}
            response = client.post("/v1/applications", json=body, headers={"Idempotency-Key": str(uuid.uuid4())})
            response.raise_for_status()

    threads = [threading.Thread(target=submit, args=(w,)) for w in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    print(f"submitted {count} applications in {time.monotonic() - began:.1f}s; waiting for the pipeline to drain",
          flush=True)
    previous = None
    while True:
        time.sleep(5)
        pending, handled = asyncio.run(pipeline_state(platform))
        if pending == 0 and handled == previous:
            break
        previous = handled
    print(f"drained after {time.monotonic() - began:.1f}s: {handled} events handled by the services", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--preload", type=int, default=0, help="applications to submit and drain first")
    parser.add_argument("--settle", type=float, default=10.0, help="seconds to wait before sampling")
    args = parser.parse_args()
    state = Path(tempfile.mkdtemp(prefix="qamqor-bench-idle-"))
    prefix = f"qamqor_idle{os.getpid()}"
    layout = Layout(state_dir=state, db_prefix=prefix, ports={n: free_port() for n in DEFAULT_PORTS},
                    kafka_port=free_port(), environment="test")
    postgres = ensure_postgres(state)
    # The preload measures nothing about the rate limit; let it submit at full speed.
    os.environ["QAMQOR_GATEWAY_RATE_LIMITS"] = json.dumps({"portal": {"rate": 1_000_000, "burst": 1_000_000}})
    platform = start_platform(layout)
    try:
        if args.preload:
            preload(platform, args.preload)
        time.sleep(args.settle)  # start-up work (group joins, first fetches, caches) settles
        processes = {name: [p.pid] for name, p in platform.processes.items()}
        if platform.broker.process is not None:
            processes["broker (noida-db)"] = descendants(platform.broker.process.pid)
        backends = asyncio.run(backend_pids(postgres.url("postgres"), prefix))
        load_before = os.getloadavg()
        before = {name: tree_cpu(pids) for name, pids in processes.items()}
        backends_before = {pid: tree_cpu([pid]) for pid in backends}
        started = time.monotonic()
        time.sleep(args.seconds)
        elapsed = time.monotonic() - started
        after = {name: tree_cpu(pids) for name, pids in processes.items()}
        backends_after = {pid: tree_cpu([pid]) for pid in backends}
        load_after = os.getloadavg()
    finally:
        platform.stop()
        for name in DATABASES:
            asyncio.run(drop_database(postgres.url(layout.database(name))))

    print(f"machine: {os.cpu_count()} cores, {host.machine()}, Python {host.python_version()}; "
          f"load average before {load_before[0]:.2f}, after {load_after[0]:.2f}")
    print(f"idle for {elapsed:.0f}s after {args.preload} applications; CPU as % of one core:")
    for name in processes:
        print(f"  {name:<20} {100 * (after[name] - before[name]) / elapsed:6.2f} %")
    still = [pid for pid in backends_before if pid in backends_after]
    spent = sum(backends_after[pid] - backends_before[pid] for pid in still)
    print(f"  {'postgres backends':<20} {100 * spent / elapsed:6.2f} %  ({len(still)} connections to this stack's "
          "databases, together)")


if __name__ == "__main__":
    main()
