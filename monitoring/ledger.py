"""The outage ledger and availability: when each target was down, why, and what the operator's
SLA owes for it.

An outage opens when a target's confirmed state becomes down (at the first down observation, not
at confirmation) and closes when it leaves down. Its cause is read from the device's uptime at
recovery: a device up for less time than the outage lasted restarted inside it, which on a
remote site's router means the power went (the SLA does not pay those back); up for longer, the
device lived through it and the link failed. The SLA pays back closed outages longer than
`sla_outage_s` that were not power cuts and not in a maintenance window. Every time is a
timezone-aware datetime.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta, tzinfo
from typing import Literal

from monitoring.alerts import Event

Cause = Literal["link", "power", "unknown"]


@dataclass(frozen=True)
class Outage:
    """One stretch of a target's confirmed down state; `end` is None while it lasts."""

    target: str
    site: str | None
    start: datetime
    end: datetime | None = None
    cause: Cause = "unknown"
    in_maintenance: bool = False

    def __post_init__(self) -> None:
        for moment in (self.start, self.end):
            if moment is not None and moment.utcoffset() is None:
                raise ValueError(f"outage times need a time zone, got {moment.isoformat()}")
        if self.end is not None and self.end < self.start:
            raise ValueError(f"{self.target}'s outage ends before it starts")

    def duration_s(self, now: datetime) -> float:
        """Seconds from start to end, or to `now` while it lasts."""
        return ((self.end or now) - self.start).total_seconds()

    def sla(self, sla_outage_s: int) -> bool:
        """Whether the SLA pays it back: closed, longer than `sla_outage_s`, not a power cut,
        not in maintenance."""
        return (
            self.end is not None
            and self.duration_s(self.end) > sla_outage_s
            and self.cause != "power"
            and not self.in_maintenance
        )


def open_outage(event: Event, site: str | None) -> Outage | None:
    """The outage `event` starts (its target's state became down), None for other events."""
    if event.severity != "down" or event.previous == "down":
        return None
    return Outage(event.target, site, event.since, in_maintenance=event.in_maintenance)


def closes_outage(event: Event) -> bool:
    """Whether `event` ends its target's outage (the state left down)."""
    return event.previous == "down" and event.severity != "down"


def close_outage(outage: Outage, recovered_at: datetime, uptime_s: float | None) -> Outage:
    """`outage` ended at `recovered_at` with its cause from the device's uptime then (seconds;
    None without SNMP): power when shorter than the outage, link when not, else unknown."""
    if outage.end is not None:
        raise ValueError(f"{outage.target}'s outage is already closed")
    closed = replace(outage, end=recovered_at)
    if uptime_s is None:
        return closed
    cause: Cause = "power" if uptime_s < closed.duration_s(recovered_at) else "link"
    return replace(closed, cause=cause)


@dataclass(frozen=True)
class Availability:
    """A target's figures over a period (clipped to now): seconds down outside maintenance,
    in maintenance outages (not counted against it) and SLA-eligible."""

    target: str
    period_s: float
    down_s: float
    maintenance_s: float
    sla_s: float

    @property
    def ratio(self) -> float | None:
        """The share of the period up, maintenance outages not counted; None for an empty
        period (one that has not begun)."""
        return None if self.period_s <= 0 else 1 - self.down_s / self.period_s

    @property
    def sla_minutes(self) -> float:
        """SLA-eligible downtime in the period, in minutes."""
        return self.sla_s / 60


def _covered_s(outages: Iterable[Outage], start: datetime, stop: datetime, now: datetime) -> float:
    spans = sorted(
        (max(o.start, start), min(o.end or now, stop))
        for o in outages
        if min(o.end or now, stop) > max(o.start, start)
    )
    total = 0.0
    edge = start
    for begin, end in spans:
        begin = max(begin, edge)
        if end > begin:
            total += (end - begin).total_seconds()
            edge = end
    return total


def availability(
    outages: Iterable[Outage],
    start: datetime,
    end: datetime,
    now: datetime,
    *,
    sla_outage_s: int,
    targets: Iterable[str] = (),
) -> dict[str, Availability]:
    """Each target's availability over [start, end) up to `now`, by target name: every target
    with an outage in the ledger, and `targets` (at 100% without one). Overlapping outages
    count once; an open one lasts until `now`; an outage in maintenance counts only as
    maintenance, and only where no other outage covers the same time."""
    start, end, now = (moment.astimezone(UTC) for moment in (start, end, now))
    stop = max(start, min(end, now))
    period_s = (stop - start).total_seconds()
    by_target: dict[str, list[Outage]] = {name: [] for name in targets}
    for outage in outages:
        by_target.setdefault(outage.target, []).append(outage)
    out = {}
    for target, items in sorted(by_target.items()):
        down_s = _covered_s((o for o in items if not o.in_maintenance), start, stop, now)
        any_s = _covered_s(items, start, stop, now)
        sla_s = _covered_s((o for o in items if o.sla(sla_outage_s)), start, stop, now)
        out[target] = Availability(target, period_s, down_s, any_s - down_s, sla_s)
    return out


def day_period(day: date, tz: tzinfo) -> tuple[datetime, datetime]:
    """[start, end) of `day` in the node's time zone `tz`."""
    following = day + timedelta(days=1)
    return (
        datetime(day.year, day.month, day.day, tzinfo=tz),
        datetime(following.year, following.month, following.day, tzinfo=tz),
    )


def month_period(year: int, month: int, tz: tzinfo) -> tuple[datetime, datetime]:
    """[start, end) of a calendar month in the node's time zone `tz`."""
    following = (year + 1, 1) if month == 12 else (year, month + 1)
    return datetime(year, month, 1, tzinfo=tz), datetime(*following, 1, tzinfo=tz)
