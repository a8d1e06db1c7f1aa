"""The consumer's pure parts: the fetch pacing policy (no wait while records flow, a wait that
grows with the time without records, capped, once fetches come back empty at once, and nothing
added when the broker itself held the empty fetch: Apache Kafka's fetch.max.wait.ms), and the
order in which one poll's messages are handled."""

from __future__ import annotations

import pytest
from aiokafka import ConsumerRecord

from shared.consumer import FetchBackoff


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
