"""Stopping the local broker the way `make run`'s Ctrl-C does keeps every event it acknowledged
(it used to be killed a quarter of a second after being asked to stop, losing its last writes)."""

from __future__ import annotations

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from qamqor_cli.infra import free_port, start_broker
from shared.kafka import ensure_topics

EVENTS = 300


async def test_a_stopped_broker_keeps_every_acknowledged_event(state_dir) -> None:
    data_dir, port = state_dir / "kafka-stop-test", free_port()
    broker = start_broker(data_dir, port)
    try:
        await ensure_topics(broker.bootstrap, 1, ("kept",))
        producer = AIOKafkaProducer(bootstrap_servers=broker.bootstrap, acks="all")
        await producer.start()
        try:
            for n in range(EVENTS):
                await producer.send("kept", str(n).encode())
            await producer.flush()
        finally:
            await producer.stop()
    finally:
        broker.stop()
    assert broker.process.returncode == 0  # it stopped by itself, not killed

    broker = start_broker(data_dir, port)
    try:
        consumer = AIOKafkaConsumer(bootstrap_servers=broker.bootstrap, auto_offset_reset="earliest")
        await consumer.start()
        try:
            partition = TopicPartition("kept", 0)
            assert (await consumer.end_offsets([partition]))[partition] == EVENTS
            consumer.assign([partition])
            values: list[bytes] = []
            while len(values) < EVENTS:
                batches = await consumer.getmany(timeout_ms=1000)
                values += [m.value for messages in batches.values() for m in messages]
        finally:
            await consumer.stop()
    finally:
        broker.stop()
    assert values == [str(n).encode() for n in range(EVENTS)]
