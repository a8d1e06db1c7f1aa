"""How long to wait before trying again after a run of failures: exponential backoff with jitter.

Pure (no I/O): the outbox relay, verification's wait for an external system that is down and the
reconciliation sweep's re-drives all use it, each with its own first delay and cap."""

from __future__ import annotations

import random
from collections.abc import Callable


def retry_delay(failures: int, *, first: float = 0.5, cap: float = 10.0,
                jitter: Callable[[], float] = random.random) -> float:
    """Exponential backoff with full jitter in its upper half: 0.5 s, 1 s, 2 s … at most `cap`.
    The jitter spreads the retries of many waiting items (applications, relays) so that a system
    coming back is not hit by all of them at the same moment."""
    ceiling = min(cap, first * 2 ** max(failures - 1, 0))
    return ceiling / 2 + jitter() * ceiling / 2
