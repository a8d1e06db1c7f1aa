"""What the gateway adds: an authenticated GET through the gateway against the same GET straight
to the service, in one run on this machine.

    uv run python bench/gateway/bench_gateway.py [--requests 20000] [--concurrency 32]

Both servers are real uvicorn processes (uvloop + httptools, one worker each): the upstream is
the stand-in service (the same internal-token and request-id middleware as every service); the
gateway is `gateway.main:create_app` against a real PostgreSQL database. The load generator is
a raw asyncio HTTP/1.1 keep-alive client in this process, loopback only, bounded by request
count. Two phases per target: latency (one connection, requests back to back: what one request
costs) and throughput (N connections: requests/s at saturation, where latency includes queueing).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from gateway.main import MIGRATIONS_DIR  # noqa: E402
from gateway.seed import seed_demo_callers  # noqa: E402
from gateway.settings import GatewaySettings  # noqa: E402
from qamqor_cli.infra import ensure_postgres, free_port, wait_for_port  # noqa: E402
from shared.db import drop_database, ensure_database, migrate  # noqa: E402
from shared.identity import Caller, generate_ed25519_pem, mint_internal_token  # noqa: E402

PATH = "/v1/stats/summary"


async def _one_connection(port: int, request: bytes, count: int, latencies: list[float]) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        for _ in range(count):
            started = time.perf_counter()
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head[9:12])
            length = None
            for line in head.split(b"\r\n"):
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
                    break
            if length is None:
                raise RuntimeError(f"no content-length in {head!r}")
            await reader.readexactly(length)
            latencies.append(time.perf_counter() - started)
            if status != 200:
                raise RuntimeError(f"status {status}")
    finally:
        writer.close()


async def load(port: int, headers: dict[str, str], *, requests: int, concurrency: int) -> dict[str, float]:
    lines = [f"GET {PATH} HTTP/1.1", "Host: 127.0.0.1"] + [f"{k}: {v}" for k, v in headers.items()]
    request = ("\r\n".join(lines) + "\r\n\r\n").encode()
    latencies: list[float] = []
    per_connection = requests // concurrency
    started = time.perf_counter()
    await asyncio.gather(*(_one_connection(port, request, per_connection, latencies) for _ in range(concurrency)))
    elapsed = time.perf_counter() - started
    latencies.sort()
    return {
        "requests": len(latencies),
        "rps": len(latencies) / elapsed,
        "p50_ms": statistics.median(latencies) * 1000,
        "p99_ms": latencies[int(len(latencies) * 0.99) - 1] * 1000,
    }


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _start(args: list[str], env: dict[str, str], port: int, log: Path) -> subprocess.Popen:
    process = subprocess.Popen(args, env=env, cwd=REPO, stdout=log.open("wb"), stderr=subprocess.STDOUT)
    wait_for_port("127.0.0.1", port, timeout=30)
    return process


def _uvicorn(target: str, port: int) -> list[str]:
    return [sys.executable, "-m", "uvicorn", "--factory", target, "--host", "127.0.0.1", "--port", str(port),
            "--loop", "uvloop", "--http", "httptools", "--no-access-log", "--log-level", "warning"]


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=10_000, help="per target and round, throughput phase")
    parser.add_argument("--latency-requests", type=int, default=3_000, help="per target in the latency phase")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=3, help="alternating direct/gateway rounds; medians reported")
    options = parser.parse_args()
    try:
        import uvloop
        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    except ImportError:
        pass

    load_before = os.getloadavg()[0]
    work = Path(tempfile.mkdtemp(prefix="qamqor-bench-gateway-"))
    postgres = ensure_postgres(work)
    database_url = postgres.url("qamqor_bench_gateway")
    await drop_database(database_url)
    await ensure_database(database_url)
    await asyncio.to_thread(migrate, database_url, MIGRATIONS_DIR)

    private, public = generate_ed25519_pem()
    (work / "internal_private.pem").write_bytes(private)
    (work / "internal_public.pem").write_bytes(public)
    upstream_port, gateway_port = free_port(), free_port()
    env = dict(os.environ)
    env.update({
        "QAMQOR_STANDIN_SERVICE": "reporting",
        "QAMQOR_STANDIN_PUBLIC_KEY_FILE": str(work / "internal_public.pem"),
        "QAMQOR_GATEWAY_DATABASE_URL": database_url,
        "QAMQOR_GATEWAY_INTERNAL_PRIVATE_KEY_FILE": str(work / "internal_private.pem"),
        "QAMQOR_GATEWAY_KEY_DIR": str(work / "keys"),
        "QAMQOR_GATEWAY_REPORTING_URL": f"http://127.0.0.1:{upstream_port}",
        "QAMQOR_GATEWAY_RATE_LIMITS": json.dumps({"ops": {"rate": 1_000_000, "burst": 1_000_000}}),
        "QAMQOR_GATEWAY_LOG_LEVEL": "WARNING",
    })
    settings = GatewaySettings(database_url=database_url, key_dir=work / "keys")
    callers = await seed_demo_callers(database_url, None, settings=settings)
    ops = next(c for c in callers if c["kind"] == "ops")

    upstream = _start(_uvicorn("tests.integration.gateway.standin:app_from_env", upstream_port), env, upstream_port,
                      work / "upstream.log")
    gateway = _start(_uvicorn("gateway.main:create_app", gateway_port), env, gateway_port, work / "gateway.log")
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{gateway_port}") as client:
            for _ in range(100):
                if (await client.get("/ready")).status_code == 200:
                    break
                await asyncio.sleep(0.1)
            grant = await client.post("/oauth/token", data={"grant_type": "client_credentials", "client_id": ops["id"],
                                                            "client_secret": ops["secret"]})
            grant.raise_for_status()
        through_gateway = {"Authorization": f"Bearer {grant.json()['access_token']}"}
        # Straight to the service with the token the gateway would have minted for this caller.
        internal = mint_internal_token(private, Caller(ops["id"], "ops", frozenset(ops["scopes"])), "bench", ttl=3600)
        direct = {"x-qamqor-internal-token": internal}

        targets = (("direct", upstream_port, direct), ("gateway", gateway_port, through_gateway))
        for _, port, headers in targets:  # warm-up: connections, caches
            await load(port, headers, requests=2_000, concurrency=8)
        rounds: dict[str, list[dict[str, dict[str, float]]]] = {"direct": [], "gateway": []}
        # Direct and gateway alternate, round after round, so that other load on the machine
        # falls on both alike; each figure below is the median over the rounds.
        for _ in range(options.rounds):
            for name, port, headers in targets:
                latency = await load(port, headers, requests=options.latency_requests, concurrency=1)
                cpu_before = {p: _cpu_seconds(p) for p in (upstream.pid, gateway.pid)}
                load_cpu_before = time.process_time()
                throughput = await load(port, headers, requests=options.requests, concurrency=options.concurrency)
                n = throughput["requests"]
                # CPU per request of each process in the throughput phase (µs): where the cores go.
                throughput["upstream_cpu_us"] = (_cpu_seconds(upstream.pid) - cpu_before[upstream.pid]) / n * 1e6
                throughput["gateway_cpu_us"] = (_cpu_seconds(gateway.pid) - cpu_before[gateway.pid]) / n * 1e6
                throughput["loadgen_cpu_us"] = (time.process_time() - load_cpu_before) / n * 1e6
                rounds[name].append({"latency": latency, "throughput": throughput})
        results = {name: {phase: {metric: statistics.median(r[phase][metric] for r in runs)
                                  for metric in runs[0][phase]}
                          for phase in ("latency", "throughput")}
                   for name, runs in rounds.items()}
    finally:
        for process in (gateway, upstream):
            process.terminate()
            process.wait(10)
        await drop_database(database_url)

    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
          f"{platform.system()} {platform.release()}; 1-min load average before/after: "
          f"{load_before:.2f}/{os.getloadavg()[0]:.2f} (other work on the machine shares the 2 cores)")
    print(f"GET {PATH}; {options.rounds} rounds, medians; latency phase: 1 connection × {options.latency_requests} "
          f"requests; throughput phase: {options.concurrency} connections × {options.requests} requests")
    print(f"{'phase':<11}{'target':<9}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}")
    for phase in ("latency", "throughput"):
        for name in ("direct", "gateway"):
            r = results[name][phase]
            print(f"{phase:<11}{name:<9}{r['rps']:>9.0f}{r['p50_ms']:>9.2f}{r['p99_ms']:>9.2f}")
        d, g = results["direct"][phase], results["gateway"][phase]
        print(f"{phase:<11}{'added':<9}{g['rps'] - d['rps']:>9.0f}{g['p50_ms'] - d['p50_ms']:>9.2f}"
              f"{g['p99_ms'] - d['p99_ms']:>9.2f}")
    for name in ("direct", "gateway"):
        t = results[name]["throughput"]
        print(f"CPU per request, throughput phase, {name}: upstream {t['upstream_cpu_us']:.0f} µs, "
              f"gateway {t['gateway_cpu_us']:.0f} µs, load generator {t['loadgen_cpu_us']:.0f} µs")
    print(json.dumps({"medians": results, "rounds": rounds}))


if __name__ == "__main__":
    asyncio.run(main())
