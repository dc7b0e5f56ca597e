"""The exception calendar: national holidays, cuti bersama and Ramadan, per day.

Yearly data files (`filter-lists/calendar/id-YYYY.yaml`, from the SKB of the three ministers)
give the days off and Ramadan; the node's configuration adds its own days off, days it works
although a file says otherwise, and Ramadan dates when they differ. `parse_year` is pure;
`load_calendar` reads the files.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date

import yaml

from simpul.config.model import Filtering

KINDS = ("libur", "cuti-bersama")
_FILE = re.compile(r"^id-(\d{4})\.yaml$")


class CalendarError(ValueError):
    """A calendar file that cannot be used (the text names the file and the entry)."""


@dataclass(frozen=True)
class DayOff:
    """A national holiday (`libur`) or collective leave day (`cuti-bersama`)."""

    day: date
    name: str
    kind: str
    source: str  # the file, or "config"


@dataclass(frozen=True)
class YearCalendar:
    """One year's days off and Ramadan, as read from one file."""

    year: int
    source: str
    days: tuple[DayOff, ...]
    ramadan: tuple[date, date] | None


def _date(value: object, where: str) -> date:
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        raise CalendarError(f"{where}: {value!r} is not a date such as 2026-01-01") from None


def parse_year(text: str, name: str) -> YearCalendar:
    """One yearly calendar file's text (YAML) as a YearCalendar, or CalendarError."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise CalendarError(f"{name}: not YAML: {exc}") from None
    except ValueError as exc:  # YAML's own date parsing, e.g. 2026-13-01
        raise CalendarError(f"{name}: a date that does not exist: {exc}") from None
    if not isinstance(data, dict) or not isinstance(data.get("year"), int):
        raise CalendarError(f"{name}: needs 'year: YYYY' and a 'days' list")
    year = data["year"]
    entries = data.get("days") or []
    if not isinstance(entries, list):
        raise CalendarError(f"{name}: 'days' must be a list")
    days = []
    for i, entry in enumerate(entries):
        where = f"{name}: days[{i}]"
        if not isinstance(entry, dict):
            raise CalendarError(f"{where}: must be {{date, name, kind}}")
        day = _date(entry.get("date"), where)
        if day.year != year:
            raise CalendarError(f"{where}: {day} is not in {year}")
        kind = entry.get("kind", "libur")
        if kind not in KINDS:
            raise CalendarError(f"{where}: kind must be 'libur' or 'cuti-bersama', not {kind!r}")
        days.append(DayOff(day, str(entry.get("name") or kind), kind, name))
    ramadan = None
    if data.get("ramadan") is not None:
        span = data["ramadan"]
        if not isinstance(span, dict):
            raise CalendarError(f"{name}: ramadan must be {{from: DATE, to: DATE}}")
        start = _date(span.get("from"), f"{name}: ramadan.from")
        end = _date(span.get("to"), f"{name}: ramadan.to")
        if end < start:
            raise CalendarError(f"{name}: ramadan ends ({end}) before it starts ({start})")
        ramadan = (start, end)
    return YearCalendar(year, name, tuple(days), ramadan)


@dataclass
class Calendar:
    """Which days are off and which are in Ramadan, for schedules to consult."""

    days_off: dict[date, DayOff] = field(default_factory=dict)
    ramadan: list[tuple[date, date]] = field(default_factory=list)
    years: list[int] = field(default_factory=list)

    @classmethod
    def build(cls, years: Iterable[YearCalendar], filtering: Filtering) -> Calendar:
        """The calendar of the files' `years` with the configuration's own days on top."""
        cal = cls()
        # The configuration's Ramadan dates replace the files' for the years they cover only.
        overridden = {r.start.year for r in filtering.ramadan} | {
            r.end.year for r in filtering.ramadan
        }
        for year in sorted(years, key=lambda y: y.year):
            cal.years.append(year.year)
            cal.days_off.update((d.day, d) for d in year.days)
            if year.ramadan and year.year not in overridden:
                cal.ramadan.append(year.ramadan)
        for extra in filtering.extra_days:
            cal.days_off[extra.date] = DayOff(extra.date, extra.name, extra.kind, "config")
        for day in filtering.working_days:
            cal.days_off.pop(day, None)
        cal.ramadan += [(r.start, r.end) for r in filtering.ramadan]
        return cal

    def day_off(self, day: date) -> DayOff | None:
        """The holiday or cuti bersama on `day`, if any."""
        return self.days_off.get(day)

    def in_ramadan(self, day: date) -> bool:
        """Whether `day` is a day of Ramadan."""
        return any(start <= day <= end for start, end in self.ramadan)


def load_calendar(filtering: Filtering) -> tuple[Calendar, list[str]]:
    """The calendar from `<lists_dir>/calendar/id-YYYY.yaml` and the config, plus warnings
    (a missing directory or year is a warning: schedules then just ignore holidays)."""
    directory = filtering.lists_path / "calendar"
    warnings: list[str] = []
    years = []
    try:
        files = sorted(p for p in directory.iterdir() if _FILE.match(p.name))
    except OSError as exc:
        files = []
        warnings.append(f"no holiday calendar: {directory}: {exc.strerror}")
    for path in files:
        try:
            year = parse_year(path.read_text(encoding="utf-8"), path.name)
        except (OSError, UnicodeDecodeError) as exc:
            raise CalendarError(f"{path}: cannot read: {exc}") from None
        if int(_FILE.match(path.name).group(1)) != year.year:  # type: ignore[union-attr]
            raise CalendarError(f"{path.name}: says year {year.year}")
        years.append(year)
    calendar = Calendar.build(years, filtering)
    this_year = date.today().year
    if files and this_year not in calendar.years:
        warnings.append(
            f"no holiday calendar for {this_year}: work-hour schedules apply on holidays "
            f"(add {directory}/id-{this_year}.yaml)"
        )
    return calendar, warnings
