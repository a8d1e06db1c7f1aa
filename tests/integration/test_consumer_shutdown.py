"""A consumer stopped while it is still joining its group does not hold up its process's shutdown.

The broker holds a JoinGroup until every member it knows rejoins. A static member that stopped
(static members do not leave, so a restarted process takes their place at once) stays known to
the local broker, so a new member's join waits on it: a service stopped in that moment (a deploy,
a test that ends at once) waited for the broker's answer — tens of seconds, or minutes with a
busy group — and its shutdown with it. `ConsumerRunner.stop` gives the broker a bounded time,
then abandons the join and closes everything the consumer had opened.
"""

from __future__ import annotations

import asyncio
import uuid

from shared.consumer import ConsumerRunner
from shared.kafka import ensure_topics


def _runner(broker, topic: str, group: str, instance: str) -> ConsumerRunner:  # noqa: ANN001
    return ConsumerRunner(service=group, bootstrap=broker.bootstrap, topics=(topic,), handlers={},
                          sessionmaker=None, instance_id=instance)  # type: ignore[arg-type]


async def test_a_consumer_stopped_while_joining_closes_everything(broker):
    topic, group = f"test.shutdown.{uuid.uuid4()}", f"shutdown-{uuid.uuid4()}"
    await ensure_topics(broker.bootstrap, 2, (topic,))

    # A static member joins, is assigned the partitions, and stops without leaving the group.
    first = _runner(broker, topic, group, "first")
    await first.start()
    assert first.consumer is not None
    while not first.consumer.assignment():
        await first.consumer.getmany(timeout_ms=100)
    await first.stop()

    # Another member's join now waits on the first. The service stops while it waits: its start
    # is cancelled, and it stops with no time at all left for the broker.
    second = _runner(broker, topic, group, "second")
    starting = asyncio.create_task(second.start())
    while second.consumer is None or getattr(second.consumer, "_coordinator", None) is None:
        await asyncio.sleep(0)
    starting.cancel()
    await asyncio.gather(starting, return_exceptions=True)
    await second.stop(timeout=0)

    consumer = second.consumer
    coordinator = consumer._coordinator  # noqa: SLF001 - what the stop must have closed
    leftovers = [task for task in (coordinator._coordination_task, getattr(coordinator, "_heartbeat_task", None),  # noqa: SLF001
                                   consumer._fetcher._fetch_task, consumer._client._sync_task)  # noqa: SLF001
                 if task is not None and not task.done()]
    assert leftovers == []
    assert not consumer._client._conns  # noqa: SLF001 - every connection to the broker closed
