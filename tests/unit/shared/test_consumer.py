"""The consumer's pure parts: the fetch pacing policy (no wait while records flow, a wait that
grows with the time without records, capped, once fetches come back empty at once, and nothing
added when the broker itself held the empty fetch: Apache Kafka's fetch.max.wait.ms), and the
order in which one poll's messages are handled, and the watch that rebuilds a client which lost its
group coordinator for good."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from aiokafka import ConsumerRecord

from shared.consumer import ConsumerRunner, ConsumerStalled, FetchBackoff


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def empty_fetch_answered_at_once(backoff: FetchBackoff, clock: Clock) -> float:
    """An empty fetch that the broker answers at once; the pause is then waited out."""
    backoff.fetch_sent()
    pause = backoff.pause_after(had_records=False)
    clock.now += pause
    return pause


def test_a_fetch_with_records_is_followed_at_once() -> None:
    clock = Clock()
    backoff = FetchBackoff(first=0.001, ratio=0.25, cap=0.1, clock=clock)
    for _ in range(5):
        backoff.fetch_sent()
        clock.now += 0.0002
        assert backoff.pause_after(had_records=True) == 0.0


def test_empty_fetches_answered_at_once_wait_longer_and_longer_up_to_the_cap() -> None:
    clock = Clock()
    backoff = FetchBackoff(first=0.001, ratio=0.25, cap=0.1, clock=clock)
    pauses = [empty_fetch_answered_at_once(backoff, clock) for _ in range(60)]

    assert pauses[0] == pytest.approx(0.001)
    assert all(later >= earlier for earlier, later in zip(pauses, pauses[1:]))
    assert pauses[-1] == pytest.approx(0.1)
    assert max(pauses) == pytest.approx(0.1)
    # An idle consumer reaches the cap after a few dozen fetches, then sends ten a second.
    assert pauses.index(max(pauses)) < 30


def test_the_wait_is_a_fraction_of_the_time_without_records() -> None:
    clock = Clock()
    backoff = FetchBackoff(first=0.001, ratio=0.25, cap=0.1, clock=clock)
    backoff.fetch_sent()
    backoff.pause_after(had_records=True)
    clock.now += 0.040  # 40 ms since the last records
    backoff.fetch_sent()
    assert backoff.pause_after(had_records=False) == pytest.approx(0.010)


def test_records_after_a_long_rest_make_the_next_empty_fetch_wait_briefly_again() -> None:
    clock = Clock()
    backoff = FetchBackoff(first=0.001, ratio=0.25, cap=0.1, clock=clock)
    for _ in range(60):
        empty_fetch_answered_at_once(backoff, clock)
    backoff.fetch_sent()
    assert backoff.pause_after(had_records=True) == 0.0

    assert empty_fetch_answered_at_once(backoff, clock) == pytest.approx(0.001)


def test_a_broker_that_held_the_empty_fetch_gets_no_extra_wait() -> None:
    clock = Clock()
    backoff = FetchBackoff(first=0.001, ratio=0.25, cap=0.1, clock=clock)
    for _ in range(60):
        empty_fetch_answered_at_once(backoff, clock)
    backoff.fetch_sent()
    clock.now += 0.5  # Apache Kafka answered after fetch.max.wait.ms
    assert backoff.pause_after(had_records=False) == 0.0


def test_a_broker_that_held_the_fetch_for_part_of_the_interval_gets_only_the_rest() -> None:
    clock = Clock()
    backoff = FetchBackoff(first=0.001, ratio=0.25, cap=0.1, clock=clock)
    for _ in range(60):
        empty_fetch_answered_at_once(backoff, clock)
    backoff.fetch_sent()
    clock.now += 0.030
    assert backoff.pause_after(had_records=False) == pytest.approx(0.070)


def test_by_default_a_consumer_whose_events_come_100_ms_apart_sends_few_empty_fetches_between_them() -> None:
    clock = Clock()
    backoff = FetchBackoff(clock=clock)
    backoff.fetch_sent()
    backoff.pause_after(had_records=True)
    started, empty = clock.now, 0
    while clock.now - started < 0.1:
        empty_fetch_answered_at_once(backoff, clock)
        empty += 1
    assert empty <= 10  # nineteen with a first wait of 1 ms
    # and an event that arrives just after the last one waits at most the first pause, 10 ms
    backoff.fetch_sent()
    backoff.pause_after(had_records=True)
    assert empty_fetch_answered_at_once(backoff, clock) == pytest.approx(0.01)


# ---- the order in which one poll's messages are handled -------------------------------------

def record(topic: str, partition: int, offset: int, timestamp: int) -> ConsumerRecord:
    return ConsumerRecord(topic=topic, partition=partition, offset=offset, timestamp=timestamp, timestamp_type=0,
                          key=None, value=None, checksum=None, serialized_key_size=0, serialized_value_size=0,
                          headers=())


def test_a_dead_letter_names_the_fields_not_the_values() -> None:
    from pydantic import BaseModel, ValidationError

    from shared.consumer import failure_text

    class Member(BaseModel):
        full_name: str
        birth_date: int

    try:
        Member.model_validate({"full_name": 7, "birth_date": "Aigul Serikovna 1955-02-11"})
    except ValidationError as exc:
        text = failure_text(exc)
    assert "full_name" in text and "birth_date" in text
    assert "Aigul" not in text and "1955" not in text
    assert failure_text(RuntimeError("no income for 550211400017")) == "RuntimeError: no income for 5502******17"


class Coordinator:
    coordinator_id: int | None = 1


def watched(clock: Clock, *, broker_answers: bool = True) -> tuple[ConsumerRunner, Coordinator, list[str]]:
    probes: list[str] = []

    async def reachable(bootstrap: str) -> bool:
        probes.append(bootstrap)
        return broker_answers

    runner = ConsumerRunner(service="intake", bootstrap="127.0.0.1:9092", topics=(), handlers={},
                            sessionmaker=None, stall_seconds=15.0, clock=clock,  # type: ignore[arg-type]
                            reachable=reachable)
    coordinator = Coordinator()
    assignment = SimpleNamespace(tps={("qamqor.intake", 0)})
    runner.consumer = SimpleNamespace(  # type: ignore[assignment]
        _coordinator=coordinator, _subscription=SimpleNamespace(subscription=SimpleNamespace(assignment=assignment)))
    return runner, coordinator, probes


async def test_a_client_without_a_coordinator_while_the_broker_answers_is_rebuilt() -> None:
    clock = Clock()
    runner, coordinator, probes = watched(clock)
    await runner.watch()
    coordinator.coordinator_id = None  # aiokafka lost it (a broker crash) and hangs looking it up
    await runner.watch()
    clock.now += 14.9
    await runner.watch()
    assert probes == []  # within the limit: nothing asked
    clock.now += 0.1
    with pytest.raises(ConsumerStalled, match="no group coordinator for 15 s"):
        await runner.watch()


async def test_a_coordinator_found_again_in_time_resets_the_watch() -> None:
    clock = Clock()
    runner, coordinator, probes = watched(clock)
    coordinator.coordinator_id = None
    await runner.watch()
    clock.now += 10
    coordinator.coordinator_id = 1
    await runner.watch()
    coordinator.coordinator_id = None
    clock.now += 10
    await runner.watch()  # 20 s since it was first lost, 0 s since it was lost again
    clock.now += 10
    await runner.watch()
    assert probes == []


async def test_while_the_broker_is_away_nothing_is_rebuilt_and_it_is_asked_once_a_second() -> None:
    clock = Clock()
    runner, coordinator, probes = watched(clock, broker_answers=False)
    coordinator.coordinator_id = None
    await runner.watch()
    clock.now += 60
    await runner.watch()
    await runner.watch()  # the same moment: not asked again
    clock.now += 1
    await runner.watch()
    assert len(probes) == 2


async def test_a_client_whose_fetches_stopped_coming_back_is_rebuilt() -> None:
    """The coordinator known, but no fetch answered (a rejoin that never ends): rebuilt too."""
    clock = Clock()
    runner, _, probes = watched(clock)
    runner._alive()  # noqa: SLF001 - a fetch came back (pace_fetches reports each)
    clock.now += 14.9
    await runner.watch()
    assert probes == []
    clock.now += 0.1
    with pytest.raises(ConsumerStalled, match="no fetch answered for 15 s"):
        await runner.watch()


async def test_lanes_at_work_or_nothing_assigned_is_not_a_stall() -> None:
    clock = Clock()
    runner, _, probes = watched(clock)
    runner._alive()  # noqa: SLF001
    clock.now += 20
    await runner.watch(working=True)  # a long batch: the lanes, not the fetcher, are busy
    clock.now += 14
    await runner.watch()
    runner.consumer._subscription.subscription.assignment.tps = set()  # noqa: SLF001 - joined, given nothing
    clock.now += 20
    await runner.watch()
    assert probes == []
