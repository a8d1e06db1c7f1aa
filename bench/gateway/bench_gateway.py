"""What the gateway adds, and what its forwarding client costs: an authenticated GET through the
gateway against the same GET straight to the service, with the gateway's forwarding client
(aiohttp) and httpx's stock transport side by side in one run on this machine.

    uv run python bench/gateway/bench_gateway.py [--rounds 3] [--requests 10000] [--concurrency 32]

Every server is a real uvicorn process (uvloop + httptools, one worker each): the upstream is
the stand-in service (the same internal-token and request-id middleware as every service); one
gateway per forwarding client (`bench/gateway/forwarders.py`: the gateway as shipped, with
aiohttp; the same with httpx's stock transport) runs against one real PostgreSQL database.
The load generator is a raw asyncio HTTP/1.1 keep-alive client in this process, loopback only,
bounded by request count. Two phases per target: latency (one connection, requests back to back:
what one request costs) and throughput (N connections: requests/s at saturation, where latency
includes queueing). Targets alternate round after round; figures are medians over the rounds.
CPU per request is the process's CPU time (user + system, from /proc) over the requests served.
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
TRANSPORTS = ("aiohttp", "httpx")


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
    parser.add_argument("--rounds", type=int, default=3, help="rounds over all targets; medians reported")
    parser.add_argument("--transports", default=",".join(TRANSPORTS), help="forwarding clients to compare")
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
    upstream_port = free_port()
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
    gateways: dict[str, tuple[int, subprocess.Popen]] = {}
    for transport in options.transports.split(","):
        port = free_port()
        gateways[transport] = (port, _start(_uvicorn("bench.gateway.forwarders:create_app", port),
                                            env | {"QAMQOR_BENCH_TRANSPORT": transport}, port,
                                            work / f"gateway-{transport}.log"))
    try:
        tokens = {}
        for transport, (port, _) in gateways.items():
            tokens[transport] = await _access_token(port, ops)
        # Straight to the service with the token the gateway would have minted for this caller.
        internal = mint_internal_token(private, Caller(ops["id"], "ops", frozenset(ops["scopes"])), "bench", ttl=3600)
        targets = [("direct", upstream_port, {"x-qamqor-internal-token": internal}, None)] + [
            (transport, port, {"Authorization": f"Bearer {tokens[transport]}"}, process.pid)
            for transport, (port, process) in gateways.items()]
        for _, port, headers, _ in targets:  # warm-up: connections, caches
            await load(port, headers, requests=2_000, concurrency=8)
        rounds: dict[str, list[dict[str, dict[str, float]]]] = {name: [] for name, *_ in targets}
        # The targets alternate, round after round, so that other load on the machine falls on
        # all of them alike; each figure below is the median over the rounds.
        for _ in range(options.rounds):
            for name, port, headers, pid in targets:
                measured = {}
                for phase, requests, concurrency in (("latency", options.latency_requests, 1),
                                                     ("throughput", options.requests, options.concurrency)):
                    cpu_before = {p: _cpu_seconds(p) for p in (upstream.pid, pid) if p}
                    result = await load(port, headers, requests=requests, concurrency=concurrency)
                    n = result["requests"]
                    result["upstream_cpu_us"] = (_cpu_seconds(upstream.pid) - cpu_before[upstream.pid]) / n * 1e6
                    result["gateway_cpu_us"] = (_cpu_seconds(pid) - cpu_before[pid]) / n * 1e6 if pid else 0.0
                    measured[phase] = result
                rounds[name].append(measured)
        results = {name: {phase: {metric: statistics.median(r[phase][metric] for r in runs)
                                  for metric in runs[0][phase]}
                          for phase in ("latency", "throughput")}
                   for name, runs in rounds.items()}
    finally:
        for _, process in gateways.values():
            process.terminate()
            process.wait(10)
        upstream.terminate()
        upstream.wait(10)
        await drop_database(database_url)

    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
          f"{platform.system()} {platform.release()}; 1-min load average before/after: "
          f"{load_before:.2f}/{os.getloadavg()[0]:.2f} (other work on the machine shares the cores)")
    print(f"GET {PATH}; {options.rounds} rounds, medians; latency phase: 1 connection × {options.latency_requests} "
          f"requests; throughput phase: {options.concurrency} connections × {options.requests} requests")
    print(f"{'target':<14}{'gateway CPU µs/req':>19}{'':>3}{'1 conn: req/s':>14}{'p50 ms':>8}{'p99 ms':>8}"
          f"{'':>3}{options.concurrency} conns: req/s{'p50 ms':>8}{'p99 ms':>8}")
    for name, *_ in targets:
        lat, thr = results[name]["latency"], results[name]["throughput"]
        cpu = f"{lat['gateway_cpu_us']:.0f} / {thr['gateway_cpu_us']:.0f}" if name != "direct" else "—"
        print(f"{name:<14}{cpu:>19}{'':>3}{lat['rps']:>14.0f}{lat['p50_ms']:>8.2f}{lat['p99_ms']:>8.2f}"
              f"{'':>3}{thr['rps']:>15.0f}{thr['p50_ms']:>8.2f}{thr['p99_ms']:>8.2f}")
    print("(gateway CPU µs/req: latency phase / throughput phase)")
    print(json.dumps({"medians": results, "rounds": rounds}))


async def _access_token(port: int, caller: dict) -> str:
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
        for _ in range(100):
            if (await client.get("/ready")).status_code == 200:
                break
            await asyncio.sleep(0.1)
        grant = await client.post("/oauth/token", data={"grant_type": "client_credentials", "client_id": caller["id"],
                                                        "client_secret": caller["secret"]})
        grant.raise_for_status()
        return grant.json()["access_token"]


if __name__ == "__main__":
    asyncio.run(main())
