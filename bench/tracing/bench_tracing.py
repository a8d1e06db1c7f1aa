"""What tracing costs per request and per event, off (the default) and on.

    uv run python bench/tracing/bench_tracing.py [--requests 3000] [--events 5000]

One process, no network for the work itself: a small FastAPI app behind the platform's
`RequestContextMiddleware` is called over ASGI (httpx.ASGITransport) — as a service is built with
tracing off (no tracing layer) and on (`TracingMiddleware`) — and the consumer's wrap
(`consume_span` plus `trace_event` for the headers of one outbox row) is timed around an empty handler.
On, spans go through the real batch processor and OTLP/HTTP exporter to a real receiver in another
process (tests/otlp.py), so the exporter thread's CPU is counted, the collector's is not. Prints µs of CPU (process
time, every thread) per request and per event, the median of `--rounds` rounds.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import statistics
import sys
import time
from pathlib import Path
from types import SimpleNamespace

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

import httpx  # noqa: E402
from fastapi import FastAPI  # noqa: E402

from shared import tracing  # noqa: E402
from shared.observability import RequestContextMiddleware  # noqa: E402
from tests.otlp import OtlpReceiver  # noqa: E402

SERVICE = "bench"


def make_app(traced: bool) -> FastAPI:
    app = FastAPI()

    @app.get("/v1/applications/{application_id}")
    async def read(application_id: str) -> dict:
        return {"id": application_id}

    if traced:
        app.add_middleware(tracing.TracingMiddleware, service=SERVICE)
    app.add_middleware(RequestContextMiddleware, service=SERVICE)
    return app


async def per_request(app: FastAPI, requests: int) -> float:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bench") as client:
        for _ in range(50):
            await client.get("/v1/applications/warm")
        started = time.process_time()
        for i in range(requests):
            await client.get(f"/v1/applications/{i}")
        if tracing.enabled(SERVICE):
            tracing.flush_tracing(SERVICE)
        return (time.process_time() - started) / requests * 1e6


def per_event(events: int) -> float:
    kafka_headers = [("x-request-id", b"r"), ("traceparent", b"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")]
    started = time.process_time()
    for i in range(events):
        with tracing.consume_span(SERVICE, "qamqor.intake", "application.submitted", kafka_headers,
                                  key="0194c6b0-0000-7000-8000-000000000001", event_id=i):
            tracing.trace_event({"x-request-id": "r"}, "qamqor.verification", "verification.completed", i,
                                "0194c6b0-0000-7000-8000-000000000001")
    if tracing.enabled(SERVICE):
        tracing.flush_tracing(SERVICE)
    return (time.process_time() - started) / events * 1e6


def baseline(events: int) -> float:
    """The same loop with nothing in it: what the loop itself costs."""
    started = time.process_time()
    for _ in range(events):
        pass
    return (time.process_time() - started) / events * 1e6


def receive(endpoint, stop, count) -> None:  # noqa: ANN001 - multiprocessing's objects
    with OtlpReceiver() as receiver:
        endpoint.put(receiver.endpoint)
        stop.wait()
        count.put(len(receiver.snapshot()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--events", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    # Spans are made far faster here than a platform makes them: a queue large enough that none is
    # dropped (a dropped span costs less than an exported one, and would flatter the figure).
    os.environ.setdefault("OTEL_BSP_MAX_QUEUE_SIZE", str(4 * (args.requests + args.events)))
    rows = {}
    endpoint, count, stop = multiprocessing.Queue(), multiprocessing.Queue(), multiprocessing.Event()
    collector = multiprocessing.Process(target=receive, args=(endpoint, stop, count), daemon=True)
    collector.start()
    try:
        for mode in ("off", "on"):
            if mode == "on":
                assert tracing.configure_tracing(SERVICE, SimpleNamespace(
                    otel_exporter_otlp_endpoint=endpoint.get(timeout=30), environment="bench"))
            app = make_app(traced=mode == "on")
            requests = [asyncio.run(per_request(app, args.requests)) for _ in range(args.rounds)]
            events = [per_event(args.events) for _ in range(args.rounds)]
            rows[mode] = (statistics.median(requests), statistics.median(events))
        tracing.shutdown_tracing(SERVICE)
        stop.set()
        spans = count.get(timeout=30)
    finally:
        stop.set()
        collector.join(10)
        if collector.is_alive():
            collector.kill()
    loop = baseline(args.events)
    print(f"{'tracing':<8} {'µs CPU per request':>20} {'µs CPU per event':>18}")
    for mode, (request, event) in rows.items():
        print(f"{mode:<8} {request:>20.1f} {event - loop:>18.2f}")
    expected = args.rounds * (args.requests + 50 + args.events)
    print(f"added by tracing: {rows['on'][0] - rows['off'][0]:.1f} µs per request, "
          f"{rows['on'][1] - rows['off'][1]:.1f} µs per event; {spans} of {expected} spans received")


if __name__ == "__main__":
    main()
