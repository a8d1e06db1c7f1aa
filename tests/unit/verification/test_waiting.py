"""An external system that is down is waited out: the application is tried again after growing,
jittered delays, never later than the end of the wait, and given up on — visibly — only then."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest

from services.verification import domain

T0 = datetime(2026, 12, 5, 8, 0, tzinfo=timezone.utc)
APP = uuid.UUID(int=3)
POLICY = domain.OutagePolicy(first_retry=timedelta(seconds=5), max_retry=timedelta(minutes=5),
                             give_up_after=timedelta(hours=6))
LONGEST = lambda: 1.0  # noqa: E731 - the jitter at its top: the ceiling of each delay
SHORTEST = lambda: 0.0  # noqa: E731 - at its bottom: half the ceiling


def test_a_failed_call_starts_the_wait_and_announces_it():
    waiting, event = domain.start_waiting(APP, system="income_registry", error="the income registry answered 503",
                                          tried=True, at=T0, policy=POLICY, jitter=LONGEST)
    assert waiting == domain.Waiting(APP, "income_registry", T0, 1, T0 + timedelta(seconds=5),
                                     "the income registry answered 503")
    assert event.model_dump() == {"application_id": APP, "system": "income_registry", "since": T0, "attempts": 1}


def test_a_system_known_to_be_down_is_not_called_from_the_consumer_but_tried_at_once_by_the_retry_loop():
    waiting, event = domain.start_waiting(APP, system="income_registry", error="not called", tried=False, at=T0,
                                          policy=POLICY)
    assert waiting.attempts == 0 and waiting.next_attempt_at == T0
    assert event.attempts == 0


@pytest.mark.parametrize("jitter, delays", [
    # the ceiling doubles from the first retry up to the maximum...
    (LONGEST, [10, 20, 40, 80, 160, 300, 300]),
    # ...and the jitter draws each delay between half the ceiling and the ceiling
    (SHORTEST, [5, 10, 20, 40, 80, 150, 150]),
])
def test_each_failure_doubles_the_delay_up_to_the_maximum(jitter, delays):
    waiting, _ = domain.start_waiting(APP, system="income_registry", error="down", tried=True, at=T0, policy=POLICY)
    seen = []
    for _ in delays:
        at = waiting.next_attempt_at
        waiting = domain.after_failure(waiting, error="down", at=at, policy=POLICY, jitter=jitter)
        seen.append((waiting.next_attempt_at - at).total_seconds())
    assert seen == delays
    assert waiting.attempts == 1 + len(delays)


def test_the_last_try_is_made_when_the_wait_ends_and_then_it_is_given_up_on():
    waiting, _ = domain.start_waiting(APP, system="income_registry", error="down", tried=True, at=T0, policy=POLICY)
    waiting = replace(waiting, attempts=40)  # its delays are at the maximum by now
    end = T0 + timedelta(hours=6)
    nearly = domain.after_failure(waiting, error="down", at=end - timedelta(seconds=30), policy=POLICY, jitter=LONGEST)
    assert nearly.next_attempt_at == end  # not 5 min later: the wait ends first
    given_up = domain.after_failure(nearly, error="the income registry answered 503", at=end, policy=POLICY)
    assert isinstance(given_up, domain.GivenUp)
    assert given_up.waiting.attempts == 42
    assert given_up.reason == ("income_registry unavailable: waited 6.0 h since 2026-12-05T08:00:00+00:00 (42 failed "
                               "calls); last: the income registry answered 503")


@pytest.mark.parametrize("waited", [timedelta(0), timedelta(minutes=10), timedelta(hours=6) - timedelta(seconds=1)])
def test_within_the_wait_a_failure_is_tried_again(waited):
    waiting, _ = domain.start_waiting(APP, system="income_registry", error="down", tried=True, at=T0, policy=POLICY)
    assert isinstance(domain.after_failure(waiting, error="down", at=T0 + waited, policy=POLICY), domain.Waiting)
