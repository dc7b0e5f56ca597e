"""Points for the InfluxDB export and their line-protocol encoding (pure).

A `Point` is validated when made, so whatever reaches the spool encodes to one well-formed line
that any InfluxDB v2 API server (InfluxDB, VictoriaMetrics) reads back as the same series and
values. Keeping tags low-cardinality (site, OPD, uplink; never a client or an address) is the
caller's job.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from itertools import pairwise

Field = int | float

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
# Line protocol cannot carry a newline inside a name, and a backslash is read differently by
# different servers (VictoriaMetrics takes `\\` for one backslash, and one before a space or a
# comma escapes it), so control characters and backslashes are refused.
_UNSAFE = re.compile(r"[\x00-\x1f\x7f\\]")
_ESCAPE_MEASUREMENT = str.maketrans({",": r"\,", " ": r"\ "})
_ESCAPE_KEY = str.maketrans({",": r"\,", " ": r"\ ", "=": r"\="})
# InfluxDB refuses keys starting with `_` (its own: _measurement, _field ...) and `time`.
_RESERVED_KEY = "time"


def _check_name(what: str, name: object) -> str:
    if not isinstance(name, str) or not name:
        raise ValueError(f"{what} must be a non-empty string, not {name!r}")
    if _UNSAFE.search(name):
        raise ValueError(f"{what} {name!r} holds a control character or a backslash")
    return name


@lru_cache(maxsize=1024)
def _check_key(what: str, key: object) -> None:
    if _check_name(what, key).startswith("_") or key == _RESERVED_KEY:
        raise ValueError(f"{what} {key!r} is reserved by InfluxDB (leading '_' or 'time')")


def _check_sorted(what: str, keys: list[str]) -> None:
    if any(a >= b for a, b in pairwise(keys)):
        raise ValueError(f"{what} must be sorted by key without duplicates: {keys}")


@lru_cache(maxsize=4096)
def _check_series(measurement: str, tags: tuple[tuple[str, str], ...]) -> None:
    """Measurement and tags (a series repeats at every interval: checked once)."""
    _check_name("measurement", measurement)
    if measurement.startswith("_"):
        raise ValueError(f"measurement {measurement!r} is reserved by InfluxDB")
    for key, value in tags:
        _check_key("tag key", key)
        _check_name(f"tag {key!r} value", value)
    _check_sorted("tags", [k for k, _ in tags])


def _check_field(key: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"field {key!r} must be an int or a float, not {value!r}")
    if isinstance(value, int) and not INT64_MIN <= value <= INT64_MAX:
        raise ValueError(f"field {key!r} = {value} does not fit a signed 64-bit integer")
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"field {key!r} = {value} is not a finite number")


@dataclass(frozen=True, slots=True)
class Point:
    """One measurement at one time: tags and fields as tuples of pairs sorted by key."""

    measurement: str
    tags: tuple[tuple[str, str], ...]
    fields: tuple[tuple[str, Field], ...]
    time_ns: int

    def __post_init__(self) -> None:
        _check_series(self.measurement, self.tags)
        if not self.fields:
            raise ValueError(f"point of {self.measurement!r} has no field")
        for key, value in self.fields:
            _check_key("field key", key)
            _check_field(key, value)
        if len(self.fields) > 1:
            _check_sorted("fields", [k for k, _ in self.fields])
        if isinstance(self.time_ns, bool) or not isinstance(self.time_ns, int):
            raise ValueError(f"time_ns must be an int, not {self.time_ns!r}")
        if not INT64_MIN <= self.time_ns <= INT64_MAX:
            raise ValueError(f"time_ns {self.time_ns} is outside InfluxDB's time range")


def point(
    measurement: str, tags: Mapping[str, str], fields: Mapping[str, Field], time_ns: int
) -> Point:
    """A validated `Point` from plain mappings (sorted here)."""
    return Point(measurement, tuple(sorted(tags.items())), tuple(sorted(fields.items())), time_ns)


@lru_cache(maxsize=4096)
def _series(measurement: str, tags: tuple[tuple[str, str], ...]) -> str:
    escaped = "".join(f",{k.translate(_ESCAPE_KEY)}={v.translate(_ESCAPE_KEY)}" for k, v in tags)
    return measurement.translate(_ESCAPE_MEASUREMENT) + escaped


@lru_cache(maxsize=1024)
def _key(key: str) -> str:
    return key.translate(_ESCAPE_KEY)


def encode(p: Point) -> str:
    """The point as one line of InfluxDB line protocol (no newline), timestamp in nanoseconds:
    `measurement,tag=v field=1i,other=0.5 1700000000000000000`."""
    fields = ",".join(
        f"{_key(k)}={v}i" if isinstance(v, int) else f"{_key(k)}={v!r}" for k, v in p.fields
    )
    return f"{_series(p.measurement, p.tags)} {fields} {p.time_ns}"
