"""A clock a test sets by hand: `clock.now += 60`."""

from __future__ import annotations

T0 = 1_700_000_000.0  # 2023-11-14 22:13:20 UTC


class Clock:
    """An injectable clock (seconds since the epoch) shared by the objects under test."""

    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now
