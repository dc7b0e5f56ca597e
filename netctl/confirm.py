"""A configuration change applied "with confirmation" (as MikroTik's safe mode and Junos'
`commit confirmed`): unless confirmed by its deadline, netd puts the previous revision back.

The pending change is kept in a file beside netd's state, written before the change is applied,
so a crash, a kill -9 or a reboot before the confirmation still rolls it back when netd starts.
"""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import asdict, dataclass

from netctl.children import write_atomic

MIN_CONFIRM_S, MAX_CONFIRM_S = 10, 3600


@dataclass(frozen=True)
class Pending:
    """A revision on probation: `previous` comes back at `deadline` unless it is confirmed."""

    revision: int
    previous: int
    deadline: float
    actor: str


class PendingFile:
    """The one pending change, if any, on disk."""

    def __init__(self, path: str) -> None:
        self.path = path

    def read(self) -> Pending | None:
        """The pending change, or None. A damaged file is treated as none (and said so by
        raising ValueError), because the caller must decide what a damaged file means."""
        try:
            with open(self.path, encoding="utf-8") as handle:
                data = json.load(handle)
        except FileNotFoundError:
            return None
        except (OSError, json.JSONDecodeError) as exc:
            raise ValueError(f"{self.path}: {exc}") from None
        try:
            return Pending(
                revision=int(data["revision"]),
                previous=int(data["previous"]),
                deadline=float(data["deadline"]),
                actor=str(data["actor"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"{self.path}: not a pending change ({exc})") from None

    def write(self, pending: Pending) -> None:
        """Keep `pending` (atomically: a crash leaves the old file or the new one)."""
        write_atomic(self.path, json.dumps(asdict(pending)))

    def clear(self) -> None:
        """Forget the pending change."""
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)


def confirm_seconds(value: object) -> int | None:
    """The confirmation window a request asks for: None (apply for good) or whole seconds in
    [MIN_CONFIRM_S, MAX_CONFIRM_S]; ValueError names the range otherwise."""
    if value is None or value == 0:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"confirm_s must be a whole number of seconds, not {value!r}")
    if not MIN_CONFIRM_S <= value <= MAX_CONFIRM_S:
        raise ValueError(
            f"confirm_s must be between {MIN_CONFIRM_S} and {MAX_CONFIRM_S} seconds, not {value}"
        )
    return value
