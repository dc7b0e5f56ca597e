"""A small per-client token bucket, in-process, with an injectable clock (pure but for a lock).

Each gunicorn worker has its own limiter: the effective limit is per worker, which is enough to
stop a runaway script from hammering netd through the portal.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Decision:
    """Whether a request may proceed; if not, after how many whole seconds to retry."""

    allowed: bool
    retry_after: int = 0


@dataclass
class _Bucket:
    tokens: float
    updated: float


class TokenBucket:
    """`capacity` requests at once per key, refilled at `per_second`; at most `max_keys` keys."""

    def __init__(
        self,
        capacity: float,
        per_second: float,
        clock: Callable[[], float],
        max_keys: int = 10_000,
    ) -> None:
        if capacity < 1 or per_second <= 0:
            raise ValueError("a token bucket needs capacity >= 1 and a positive refill rate")
        self.capacity = float(capacity)
        self.per_second = float(per_second)
        self.clock = clock
        self.max_keys = max_keys
        self._buckets: dict[str, _Bucket] = {}
        self._lock = threading.Lock()

    def take(self, key: str) -> Decision:
        """Spend one token of `key`'s bucket if it has one."""
        now = self.clock()
        with self._lock:
            bucket = self._buckets.get(key)
            if bucket is None:
                if len(self._buckets) >= self.max_keys:
                    self._prune(now)
                bucket = self._buckets[key] = _Bucket(self.capacity, now)
            else:
                elapsed = max(0.0, now - bucket.updated)
                bucket.tokens = min(self.capacity, bucket.tokens + elapsed * self.per_second)
                bucket.updated = now
            if bucket.tokens >= 1.0:
                bucket.tokens -= 1.0
                return Decision(True)
            return Decision(False, max(1, math.ceil((1.0 - bucket.tokens) / self.per_second)))

    def _prune(self, now: float) -> None:
        """Forget full buckets (they behave like new ones), then the oldest half if still full."""
        full_after = self.capacity / self.per_second
        for key in [k for k, b in self._buckets.items() if now - b.updated >= full_after]:
            del self._buckets[key]
        if len(self._buckets) >= self.max_keys:
            oldest = sorted(self._buckets, key=lambda k: self._buckets[k].updated)
            for key in oldest[: len(oldest) // 2 + 1]:
                del self._buckets[key]
