"""A one-value cache with a time to live and stale-on-error (pure but for a lock).

The portal's view of the configuration is fetched from netd at most every `ttl` seconds per
process; if netd fails, the last good value keeps serving (retried after `retry` seconds) so that
redirects still point at the portal while netd restarts.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class TtlCache(Generic[T]):
    """Caches what `load` returns; on a `stale_on` error, serves the previous value if any."""

    def __init__(
        self,
        ttl: float,
        clock: Callable[[], float],
        stale_on: tuple[type[Exception], ...] = (),
        retry: float = 2.0,
    ) -> None:
        self.ttl = ttl
        self.clock = clock
        self.stale_on = stale_on
        self.retry = retry
        self._value: T | None = None
        self._fresh_until = float("-inf")
        self._lock = threading.Lock()

    def fresh(self) -> T | None:
        """The cached value while it is fresh, else None (never loads, never waits)."""
        value = self._value
        return value if value is not None and self.clock() < self._fresh_until else None

    def get(self, load: Callable[[], T]) -> T:
        """The cached value, reloaded with `load` when it is older than the TTL."""
        with self._lock:
            now = self.clock()
            if self._value is not None and now < self._fresh_until:
                return self._value
            try:
                value = load()
            except self.stale_on:
                if self._value is None:
                    raise
                self._fresh_until = now + self.retry
                return self._value
            self._value, self._fresh_until = value, now + self.ttl
            return value
