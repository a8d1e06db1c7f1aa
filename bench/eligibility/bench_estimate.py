"""`POST /v1/eligibility/estimate` through the gateway, as the FDC pre-check calls it.

    uv run python bench/eligibility/bench_estimate.py [--requests 3000]

Starts the whole platform the way `make run` does (separate uvicorn processes, real PostgreSQL,
the broker) on free ports with its own databases, takes a token for the demo FDC caller and sends
estimates of varied synthetic families over one keep-alive connection, back to back (latency,
no queueing), then over 8 connections (throughput). The same requests also go straight to the
eligibility service with an internal token, to show what the gateway adds. Loopback only,
bounded by request count.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from qamqor_cli.demo import GatewayClient  # noqa: E402
from qamqor_cli.infra import free_port  # noqa: E402
from qamqor_cli.platform import DEFAULT_PORTS, DATABASES, Layout, start_platform  # noqa: E402
from shared.db import drop_database  # noqa: E402
from shared.iin import make_iin  # noqa: E402
from shared.identity import Caller, mint_internal_token  # noqa: E402


def families(count: int, seed: int = 7) -> list[bytes]:
    rng = random.Random(seed)
    regions = ["610000000", "790000000", "430000000", "190000000", "310000000", "150000000"]
    bodies = []
    for n in range(count):
        size = rng.randint(1, 7)
        members, incomes = [], []
        for i in range(size):
            adult = i < 2
            birth = date(rng.randint(1960, 2000), rng.randint(1, 12), rng.randint(1, 28)) if adult else \
                date(rng.randint(2012, 2025), rng.randint(1, 12), rng.randint(1, 28))
            sex = rng.choice(["male", "female"])
            iin = make_iin(birth, sex, (n * 10 + i) % 9000)
            members.append({"iin": iin, "birth_date": birth.isoformat(), "sex": sex,
                            "relation": "applicant" if i == 0 else ("spouse" if i == 1 else "child"),
                            "employed": adult and rng.random() < 0.5, "full_time_student": False,
                            "disability_group": None, "carer": False})
            if adult:
                for month in ("2026-07", "2026-08", "2026-09"):
                    incomes.append({"iin": iin, "type": "wage", "month": month,
                                    "amount": f"{rng.randint(0, 120_000)}.00"})
        bodies.append(json.dumps({"region_kato": rng.choice(regions), "application_date": "2026-11-22",
                                  "members": members, "incomes": incomes}).encode())
    return bodies


async def _connection(port: int, headers: str, bodies: list[bytes], count: int, start: int, latencies: list[float]) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        for i in range(count):
            body = bodies[(start + i) % len(bodies)]
            request = (f"POST /v1/eligibility/estimate HTTP/1.1\r\nHost: 127.0.0.1\r\n{headers}"
                       f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n").encode() + body
            began = time.perf_counter()
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            length = next(int(line[15:]) for line in head.split(b"\r\n") if line[:15].lower() == b"content-length:")
            await reader.readexactly(length)
            latencies.append(time.perf_counter() - began)
            if head[9:12] != b"200":
                raise RuntimeError(head[:40])
    finally:
        writer.close()


async def measure(port: int, headers: dict[str, str], bodies: list[bytes], requests: int, connections: int) -> dict:
    header_text = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    latencies: list[float] = []
    began = time.perf_counter()
    per = requests // connections
    await asyncio.gather(*(_connection(port, header_text, bodies, per, c * per, latencies) for c in range(connections)))
    elapsed = time.perf_counter() - began
    latencies.sort()
    return {"requests": len(latencies), "rps": round(len(latencies) / elapsed),
            "p50_ms": round(statistics.median(latencies) * 1000, 2),
            "p99_ms": round(latencies[int(len(latencies) * 0.99) - 1] * 1000, 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=3000)
    args = parser.parse_args()
    state = Path(tempfile.mkdtemp(prefix="qamqor-bench-"))
    layout = Layout(state_dir=state, db_prefix="qamqor_bench", ports={n: free_port() for n in DEFAULT_PORTS},
                    kafka_port=free_port(), environment="test")
    from qamqor_cli.infra import ensure_postgres

    pg = ensure_postgres(state)
    for name in DATABASES:
        asyncio.run(drop_database(pg.url(layout.database(name))))
    # The benchmark measures cost, not the FDC caller's production rate limit.
    os.environ["QAMQOR_GATEWAY_RATE_LIMITS"] = json.dumps({"fdc": {"rate": 1_000_000, "burst": 1_000_000}})
    platform = start_platform(layout)
    try:
        fdc = next(c for c in platform.callers if c["kind"] == "fdc")
        client = GatewayClient(layout.url("gateway"), fdc["id"], fdc["secret"])
        token = client.http.headers["Authorization"]
        bodies = families(500)
        internal = mint_internal_token((layout.keys_dir / "internal_private.pem").read_bytes(),
                                       Caller(id="bench", kind="fdc", scopes=frozenset({"eligibility:estimate"})),
                                       "bench", ttl=3600)
        targets = {
            "through the gateway": (layout.ports["gateway"], {"Authorization": token}),
            "straight to eligibility": (layout.ports["eligibility"], {"x-qamqor-internal-token": internal}),
        }
        time.sleep(5)  # let start-up work (group joins, first polls) settle
        for label, (port, headers) in targets.items():
            asyncio.run(measure(port, headers, bodies, 1000, 1))  # warm-up
        print(f"machine: {os.cpu_count()} cores; load average before: {os.getloadavg()[0]:.2f}")
        for label, (port, headers) in targets.items():
            latency = asyncio.run(measure(port, headers, bodies, args.requests, 1))
            throughput = asyncio.run(measure(port, headers, bodies, args.requests, 8))
            print(f"{label:<24} 1 connection: p50 {latency['p50_ms']} ms, p99 {latency['p99_ms']} ms, "
                  f"{latency['rps']} req/s | 8 connections: {throughput['rps']} req/s, "
                  f"p50 {throughput['p50_ms']} ms, p99 {throughput['p99_ms']} ms")
    finally:
        platform.stop()


if __name__ == "__main__":
    main()
