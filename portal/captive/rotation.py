"""Which welcome video a visit plays (pure)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

T = TypeVar("T")


def pick_video(videos: Sequence[T], visit: int) -> T | None:
    """The video of the `visit`-th visit: the list is latest first, each visit plays the next."""
    return videos[visit % len(videos)] if videos else None
