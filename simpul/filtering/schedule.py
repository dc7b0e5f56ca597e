"""When a schedule is on, and when it next changes. Pure: the moment is a parameter.

A schedule's windows are laid out per calendar day in the node's time zone: a day off
(holiday or cuti bersama) has none unless the schedule says `holidays: on`; a day of Ramadan
uses the schedule's Ramadan windows when it has them; an overnight window belongs to the day it
starts on. Touching or overlapping intervals merge, so an edge is a real change of state.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, tzinfo

from simpul.config.model import WEEKDAYS, Schedule, Window, clock_minutes
from simpul.filtering.calendar import Calendar

# How far ahead to look for a schedule's next start (a schedule may sleep through long holidays).
HORIZON_DAYS = 400


@dataclass(frozen=True)
class Interval:
    """One window laid on one day: [start, end) in the node's time zone."""

    start: datetime
    end: datetime
    window: Window
    ramadan: bool

    def describe(self) -> str:
        """E.g. 'mon-fri 07:30-16:00' or 'mon-thu 08:00-15:00 (Ramadan)'."""
        text = f"{describe_days(self.window.days)} {self.window.start}-{self.window.end}"
        return text + (" (Ramadan)" if self.ramadan else "")


@dataclass(frozen=True)
class State:
    """A schedule at a moment: the interval it is in (None: off) and when that changes."""

    active: Interval | None
    next_edge: datetime | None  # None: never changes within the horizon


def describe_days(days: list[str]) -> str:
    """Weekdays as runs: ['mon','tue','wed','fri'] -> 'mon-wed,fri'."""
    idx = sorted(WEEKDAYS.index(d) for d in days)
    runs: list[list[int]] = []
    for i in idx:
        if runs and i == runs[-1][-1] + 1:
            runs[-1].append(i)
        else:
            runs.append([i])
    parts = [WEEKDAYS[r[0]] if len(r) == 1 else f"{WEEKDAYS[r[0]]}-{WEEKDAYS[r[-1]]}" for r in runs]
    return ",".join(parts)


def day_intervals(schedule: Schedule, calendar: Calendar, day: date, tz: tzinfo) -> list[Interval]:
    """The intervals of `schedule`'s windows that start on `day`."""
    if schedule.holidays == "off" and calendar.day_off(day) is not None:
        return []
    ramadan = schedule.ramadan_windows is not None and calendar.in_ramadan(day)
    windows = schedule.ramadan_windows if ramadan else schedule.windows
    weekday = WEEKDAYS[day.weekday()]
    midnight = datetime.combine(day, time.min, tzinfo=tz)
    out = []
    for window in windows or ():
        if weekday not in window.days:
            continue
        start, end = clock_minutes(window.start), clock_minutes(window.end)
        if end <= start:
            end += 24 * 60  # overnight: ends on the next day
        out.append(
            Interval(
                midnight + timedelta(minutes=start),
                midnight + timedelta(minutes=end),
                window,
                ramadan,
            )
        )
    return out


def state_at(schedule: Schedule, calendar: Calendar, at: datetime, tz: tzinfo) -> State:
    """Whether `schedule` is on at `at` (aware), by which interval, and its next edge."""
    local = at.astimezone(tz)
    today = local.date()
    # Yesterday's overnight windows may still run; merged spans need a day of look-ahead.
    spans: list[Interval] = []
    for offset in (-1, 0, 1):
        spans += day_intervals(schedule, calendar, today + timedelta(days=offset), tz)
    active = next((iv for iv in spans if iv.start <= local < iv.end), None)
    if active is not None:
        end = active.end
        # Follow intervals that touch or overlap, over as many days as they chain.
        day = today + timedelta(days=1)
        while True:
            following = [iv for iv in spans if iv.start <= end < iv.end]
            if following:
                end = max(iv.end for iv in following)
                continue
            if end.date() <= day or day - today > timedelta(days=HORIZON_DAYS):
                break
            day += timedelta(days=1)
            spans += day_intervals(schedule, calendar, day, tz)
        return State(active, end)
    for offset in range(HORIZON_DAYS):
        day = today + timedelta(days=offset)
        starts = [iv.start for iv in day_intervals(schedule, calendar, day, tz) if iv.start > local]
        if starts:
            return State(None, min(starts))
    return State(None, None)


def parse_moment(text: str | None, tz: tzinfo, now: datetime | None = None) -> datetime:
    """A moment as people write it: 'HH:MM' (today), 'YYYY-MM-DD HH:MM', or ISO 8601 with an
    offset; times without an offset are in `tz` (the node's). None: now. ValueError if not."""
    current = now or datetime.now(tz)
    if not text:
        return current
    try:
        if len(text) == 5 and text[2] == ":":
            clock = datetime.strptime(text, "%H:%M")
            return current.replace(hour=clock.hour, minute=clock.minute, second=0, microsecond=0)
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{text!r}: use HH:MM, 'YYYY-MM-DD HH:MM' or ISO 8601") from None
    return moment.replace(tzinfo=tz) if moment.tzinfo is None else moment.astimezone(tz)
