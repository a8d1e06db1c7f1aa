"""Token buckets per caller, in this process's memory.

The limit is per gateway instance: a shared store would put a network round trip on every
request. With N instances behind a balancer, configure rate/N (see docs/gateway.md)."""

from __future__ import annotations

import math
import time
from collections.abc import Callable

from gateway.settings import RateLimit


class TokenBuckets:
    def __init__(self, *, max_keys: int = 100_000, clock: Callable[[], float] = time.monotonic) -> None:
        self._buckets: dict[str, list[float]] = {}  # key → [tokens, last refill (clock seconds)]
        self.max_keys = max_keys
        self.clock = clock

    def take(self, key: str, limit: RateLimit) -> float:
        """0.0 if the request may pass; otherwise the seconds until a token is available."""
        now = self.clock()
        bucket = self._buckets.get(key)
        if bucket is None:
            if len(self._buckets) >= self.max_keys:
                self._prune(now, limit)
            bucket = self._buckets[key] = [float(limit.burst), now]
        tokens = min(float(limit.burst), bucket[0] + (now - bucket[1]) * limit.rate)
        bucket[1] = now
        if tokens >= 1.0:
            bucket[0] = tokens - 1.0
            return 0.0
        bucket[0] = tokens
        return (1.0 - tokens) / limit.rate

    def _prune(self, now: float, limit: RateLimit) -> None:
        """Drop buckets that have refilled completely: forgetting them changes nothing."""
        full_after = limit.burst / limit.rate
        self._buckets = {k: b for k, b in self._buckets.items() if now - b[1] < full_after}
        if len(self._buckets) >= self.max_keys:  # still full: an attack on unknown keys
            self._buckets.clear()


def retry_after_header(seconds: float) -> str:
    return str(max(1, math.ceil(seconds)))
