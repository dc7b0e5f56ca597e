"""Turn raw kernel counter readings into exact byte deltas. Pure.

A *meter* remembers the last raw value booked for one kernel counter, together with the counter's
*instance*: the boot it lives in (and, for an interface, its ifindex). A reading of the same
instance that did not go down is booked as the difference; a new instance (a reboot, an
interface made again) or a value that went down (a counter deleted and made again) started at
zero, so the whole reading is new. Meters and the deltas they produce are committed in one
transaction, so a crash or a kill -9 at any moment books each byte exactly once: a reading that
was not committed is simply read again, bigger, by the next cycle.

Readings, meters and deltas are named tuples: tens of thousands are made every cycle.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import NamedTuple

UP, DOWN = "up", "down"


class Reading(NamedTuple):
    """One kernel counter's raw value, and what its bytes belong to."""

    source: str  # unique name of the counter, e.g. "acct/02:..:01|10.40.1.50", "counter/opd_x_up"
    instance: str  # boot id (and ifindex for interfaces): a new instance started at zero
    packets: int
    bytes: int
    scope: str  # client | site | opd | uplink | zone
    key: str  # a client's MAC; a site's, OPD's or uplink's name
    direction: str  # up | down
    site: str = ""  # the hotspot site of a client
    first_is_new: bool = True  # False for counters older than us (interfaces): start from now


class Meter(NamedTuple):
    """The last raw value booked for one counter."""

    instance: str
    packets: int
    bytes: int


class Delta(NamedTuple):
    """Bytes and packets to add to one scope/key in one direction."""

    scope: str
    key: str
    site: str
    direction: str
    packets: int
    bytes: int


@dataclass
class Booking:
    """The outcome of one cycle: deltas to add, meters that changed, resets seen."""

    deltas: list[Delta] = field(default_factory=list)
    meters: dict[str, Meter] = field(default_factory=dict)
    resets: list[str] = field(default_factory=list)


def book(meters: Mapping[str, Meter], readings: Iterable[Reading]) -> Booking:
    """Deltas of `readings` against `meters`, and the meters to write.

    A counter that is about to disappear (a settled client's element) keeps its meter here:
    the caller forgets it only once the kernel no longer has the counter, so a crash between
    the two cannot book the counter's whole value again."""
    out = Booking()
    for r in readings:
        meter = meters.get(r.source)
        reset = False
        if meter is None:
            packets, nbytes = (r.packets, r.bytes) if r.first_is_new else (0, 0)
        elif meter.instance == r.instance and r.bytes >= meter.bytes and r.packets >= meter.packets:
            packets, nbytes = r.packets - meter.packets, r.bytes - meter.bytes
        else:
            packets, nbytes = r.packets, r.bytes
            reset = True
            out.resets.append(r.source)
        if nbytes or packets:
            out.deltas.append(Delta(r.scope, r.key, r.site, r.direction, packets, nbytes))
        if meter is None or reset or nbytes or packets:
            out.meters[r.source] = Meter(r.instance, r.packets, r.bytes)
    return out


def absent(meters: Mapping[str, Meter], readings: Iterable[Reading]) -> set[str]:
    """Meters whose counter the kernel no longer has (deleted with an OPD, an ended client):
    forgotten, so that a counter made again later starts from zero."""
    return set(meters) - {r.source for r in readings}
