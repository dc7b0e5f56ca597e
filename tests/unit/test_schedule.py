"""Schedules and the exception calendar: windows, overnight, holidays, Ramadan, time zones."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from simpul.config.model import DateRange, Filtering, Schedule, SpecialDay, Window
from simpul.filtering.calendar import Calendar, CalendarError, parse_year
from simpul.filtering.schedule import describe_days, state_at

WIB = ZoneInfo("Asia/Jakarta")
WIT = ZoneInfo("Asia/Jayapura")
UTC = ZoneInfo("UTC")
WORK = Schedule(
    name="jam-kerja",
    windows=[Window(days=["mon", "tue", "wed", "thu", "fri"], start="07:30", end="16:00")],
    ramadan_windows=[Window(days=["mon", "tue", "wed", "thu", "fri"], start="08:00", end="15:00")],
)
NIGHT = Schedule(name="malam", windows=[Window(days=["fri"], start="22:00", end="05:00")])
EMPTY = Calendar()

YEAR_2026 = """
year: 2026
source: test
days:
  - {date: 2026-12-25, name: Hari Raya Natal, kind: libur}
  - {date: 2026-12-24, name: Cuti bersama Natal, kind: cuti-bersama}
ramadan: {from: 2026-02-19, to: 2026-03-19}
"""


def at(text: str, tz: ZoneInfo = WIB) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=tz)


def test_inside_a_window_ends_at_its_end() -> None:
    # 2026-11-26 is a Thursday.
    state = state_at(WORK, EMPTY, at("2026-11-26T09:12"), WIB)
    assert state.active is not None
    assert state.active.describe() == "mon-fri 07:30-16:00"
    assert state.next_edge == at("2026-11-26T16:00")


def test_edges_are_half_open() -> None:
    assert state_at(WORK, EMPTY, at("2026-11-26T07:30"), WIB).active is not None
    assert state_at(WORK, EMPTY, at("2026-11-26T07:29:59"), WIB).active is None
    assert state_at(WORK, EMPTY, at("2026-11-26T16:00"), WIB).active is None
    assert state_at(WORK, EMPTY, at("2026-11-26T15:59:59"), WIB).active is not None


def test_after_hours_the_next_edge_is_the_next_working_morning() -> None:
    friday_evening = state_at(WORK, EMPTY, at("2026-11-27T18:00"), WIB)
    assert friday_evening.active is None
    assert friday_evening.next_edge == at("2026-11-30T07:30")  # Monday


def test_overnight_window_belongs_to_the_day_it_starts() -> None:
    assert state_at(NIGHT, EMPTY, at("2026-11-27T23:00"), WIB).active is not None
    saturday_early = state_at(NIGHT, EMPTY, at("2026-11-28T04:59"), WIB)
    assert saturday_early.active is not None
    assert saturday_early.next_edge == at("2026-11-28T05:00")
    # Thursday night is not Friday night.
    assert state_at(NIGHT, EMPTY, at("2026-11-27T02:00"), WIB).active is None


def test_touching_windows_merge_into_one_span() -> None:
    schedule = Schedule(
        name="panjang",
        windows=[
            Window(days=["mon"], start="20:00", end="24:00"),
            Window(days=["tue"], start="00:00", end="06:00"),
        ],
    )
    state = state_at(schedule, EMPTY, at("2026-11-23T21:00"), WIB)
    assert state.next_edge == at("2026-11-24T06:00")


def test_always_on_schedule_never_ends_within_the_horizon() -> None:
    always = Schedule(
        name="selalu",
        windows=[Window(days=["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
                        start="00:00", end="24:00")],
    )  # fmt: skip
    state = state_at(always, EMPTY, at("2026-11-26T12:00"), WIB)
    assert state.active is not None
    assert state.next_edge is not None and state.next_edge > at("2027-11-01T00:00")


def test_time_zone_is_the_nodes() -> None:
    # 07:00 UTC is 16:00 WIT: the window has just ended in Papua, but runs in WIB (14:00).
    moment = at("2026-11-26T07:00", UTC)
    assert state_at(WORK, EMPTY, moment, WIT).active is None
    assert state_at(WORK, EMPTY, moment, WIB).active is not None
    # In WIT 07:30 local is 22:30 UTC the day before.
    assert state_at(WORK, EMPTY, at("2026-11-25T22:30", UTC), WIT).active is not None


def calendar(**overrides: object) -> Calendar:
    return Calendar.build([parse_year(YEAR_2026, "id-2026.yaml")], Filtering(**overrides))


def test_holidays_and_cuti_bersama_lift_work_hours() -> None:
    cal = calendar()
    # Thursday 24 and Friday 25 December are off: the next start is Monday 28th.
    state = state_at(WORK, cal, at("2026-12-23T17:00"), WIB)
    assert state.next_edge == at("2026-12-28T07:30")
    assert state_at(WORK, cal, at("2026-12-24T10:00"), WIB).active is None
    assert cal.day_off(date(2026, 12, 24)).kind == "cuti-bersama"


def test_a_schedule_may_keep_running_on_holidays() -> None:
    keeps = WORK.model_copy(update={"holidays": "on"})
    assert state_at(keeps, calendar(), at("2026-12-25T10:00"), WIB).active is not None


def test_admin_days_and_working_days_override_the_files() -> None:
    cal = calendar(
        extra_days=[SpecialDay(date=date(2026, 11, 26), name="HUT Kabupaten")],
        working_days=[date(2026, 12, 24)],
    )
    assert state_at(WORK, cal, at("2026-11-26T10:00"), WIB).active is None
    assert state_at(WORK, cal, at("2026-12-24T10:00"), WIB).active is not None


def test_ramadan_uses_its_own_windows() -> None:
    cal = calendar()
    state = state_at(WORK, cal, at("2026-03-02T07:45"), WIB)
    assert state.active is None and state.next_edge == at("2026-03-02T08:00")
    state = state_at(WORK, cal, at("2026-03-02T14:00"), WIB)
    assert state.active is not None and state.active.ramadan
    assert state.next_edge == at("2026-03-02T15:00")
    assert state.active.describe() == "mon-fri 08:00-15:00 (Ramadan)"


def test_ramadan_from_the_config_replaces_the_files() -> None:
    cal = calendar(ramadan=[DateRange(start=date(2026, 2, 18), end=date(2026, 3, 18))])
    assert cal.in_ramadan(date(2026, 2, 18)) and not cal.in_ramadan(date(2026, 3, 19))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("year: 2026\ndays:\n  - {date: 2025-12-25, name: x}\n", "is not in 2026"),
        ("year: 2026\ndays:\n  - {date: 2026-13-01, name: x}\n", "does not exist"),
        ("year: 2026\ndays:\n  - {date: 'Natal', name: x}\n", "is not a date"),
        ("year: 2026\ndays:\n  - {date: 2026-12-25, kind: bolos}\n", "kind must be"),
        ("year: 2026\nramadan: {from: 2026-03-19, to: 2026-02-19}\n", "before it starts"),
        ("days: []\n", "needs 'year: YYYY'"),
        ("year: [\n", "not YAML"),
    ],
)
def test_bad_calendar_files_say_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(CalendarError, match=message):
        parse_year(text, "id-2026.yaml")


@pytest.mark.parametrize(
    ("window", "message"),
    [
        ({"days": ["mon"], "start": "07:30", "end": "07:30"}, "is empty"),
        ({"days": ["mon"], "start": "24:00", "end": "07:30"}, "not 24:00"),
        ({"days": ["mon"], "start": "7:30", "end": "16:00"}, "not a time of day"),
        ({"days": ["mon", "mon"], "start": "07:30", "end": "16:00"}, "listed twice"),
        ({"days": ["senin"], "start": "07:30", "end": "16:00"}, "mon"),
    ],
)
def test_bad_windows_are_refused(window: dict, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        Window(**window)


def test_describe_days_compresses_runs() -> None:
    assert describe_days(["mon", "tue", "wed", "fri", "sun"]) == "mon-wed,fri,sun"
    assert describe_days(["sat"]) == "sat"


def test_next_edge_is_always_in_the_future() -> None:
    moment = at("2026-11-23T00:00")
    for _ in range(24 * 14):
        state = state_at(WORK, EMPTY, moment, WIB)
        assert state.next_edge is not None and state.next_edge > moment
        flipped = state_at(WORK, EMPTY, state.next_edge, WIB)
        assert (flipped.active is None) != (state.active is None)
        moment += timedelta(minutes=37)


def test_config_ramadan_replaces_only_the_years_it_covers() -> None:
    next_year = parse_year("year: 2027\nramadan: {from: 2027-02-08, to: 2027-03-09}\n", "2027")
    cal = Calendar.build(
        [parse_year(YEAR_2026, "id-2026.yaml"), next_year],
        Filtering(ramadan=[DateRange(start=date(2026, 2, 18), end=date(2026, 3, 18))]),
    )
    assert cal.in_ramadan(date(2026, 2, 18)) and not cal.in_ramadan(date(2026, 3, 19))
    assert cal.in_ramadan(date(2027, 2, 8))  # the 2027 file still counts
