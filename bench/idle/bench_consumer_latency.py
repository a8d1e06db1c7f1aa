"""What resting costs in latency: one consumer, stock aiokafka against paced fetches
(`shared.consumer.pace_fetches`), on the noida-db broker.

    uv run python bench/idle/bench_consumer_latency.py [--rates 3,50,300]

For each rate, a producer process publishes events one at a time with exponentially distributed
gaps (a Poisson stream at that mean rate), each carrying its send time; a consumer process
(stock or paced, run one after the other against the same broker) reads them and records
publish -> consume latency, the fetch requests it sent per second and its own CPU time.
Loopback only; the producer and the consumer are separate processes, as a relay and a consumer
of two services are.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer  # noqa: E402

TOPIC = "latency"


async def produce(bootstrap: str, rate: float, count: int) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=0)
    await producer.start()
    try:
        for n in range(count):
            await producer.send_and_wait(TOPIC, repr(time.time()).encode(), key=str(n).encode())
            await asyncio.sleep(random.expovariate(rate))
    finally:
        await producer.stop()


async def consume(bootstrap: str, paced: bool, count: int) -> None:
    from shared.consumer import pace_fetches

    consumer = AIOKafkaConsumer(TOPIC, bootstrap_servers=bootstrap, group_id=f"bench-{time.time()}",
                                auto_offset_reset="latest")
    await consumer.start()
    if paced:
        pace_fetches(consumer)
    await consumer.getmany(timeout_ms=1000)  # assigned, positioned
    fetches = 0
    send = consumer._client.send

    async def counting_send(node_id, request, *args, **kwargs):  # noqa: ANN001, ANN202
        nonlocal fetches
        if type(request).__name__.startswith("FetchRequest"):
            fetches += 1
        return await send(node_id, request, *args, **kwargs)

    consumer._client.send = counting_send
    print("ready", flush=True)
    latencies: list[float] = []
    began, cpu = time.monotonic(), time.process_time()
    while len(latencies) < count:
        for messages in (await consumer.getmany(timeout_ms=500)).values():
            latencies += [time.time() - float(m.value) for m in messages]
    elapsed, cpu = time.monotonic() - began, time.process_time() - cpu
    await consumer.stop()
    latencies.sort()
    print(f"p50 {1000 * statistics.median(latencies):6.1f} ms  p95 {1000 * latencies[int(len(latencies) * 0.95)]:6.1f} ms"
          f"  max {1000 * latencies[-1]:6.1f} ms  {fetches / elapsed:6.0f} fetches/s  consumer CPU "
          f"{100 * cpu / elapsed:5.1f} %", flush=True)


def main() -> None:
    if sys.argv[1:2] == ["produce"]:
        asyncio.run(produce(sys.argv[2], float(sys.argv[3]), int(sys.argv[4])))
        return
    if sys.argv[1:2] == ["consume"]:
        asyncio.run(consume(sys.argv[2], sys.argv[3] == "paced", int(sys.argv[4])))
        return
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rates", default="3,50,300", help="events per second, comma-separated")
    parser.add_argument("--seconds", type=float, default=8.0, help="how long each stream lasts (about)")
    args = parser.parse_args()

    from qamqor_cli.infra import free_port, start_broker
    from shared.kafka import ensure_topics

    broker = start_broker(Path(tempfile.mkdtemp(prefix="qamqor-bench-latency-")) / "kafka", free_port())
    try:
        asyncio.run(ensure_topics(broker.bootstrap, 4, (TOPIC,)))
        print(f"machine: {os.cpu_count()} cores; load average before: {os.getloadavg()[0]:.2f}")
        for rate in (float(r) for r in args.rates.split(",")):
            count = max(20, int(rate * args.seconds))
            for kind in ("stock", "paced"):
                consumer = subprocess.Popen([sys.executable, __file__, "consume", broker.bootstrap, kind, str(count)],
                                            stdout=subprocess.PIPE, text=True)
                consumer.stdout.readline()
                subprocess.run([sys.executable, __file__, "produce", broker.bootstrap, str(rate), str(count)],
                               check=True)
                print(f"{rate:5.0f} events/s  {kind:<6} {consumer.stdout.read().strip()}", flush=True)
                consumer.wait()
        print(f"load average after: {os.getloadavg()[0]:.2f}")
    finally:
        broker.stop()


if __name__ == "__main__":
    main()
