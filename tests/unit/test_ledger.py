"""The outage ledger: outages opened and closed from events, power cuts told from link loss by
the device's uptime, the SLA bound, and availability over days and months with overlapping, open
and maintenance outages."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from monitoring.alerts import Event, EventKind, Severity
from monitoring.ledger import (
    Availability,
    Cause,
    Outage,
    availability,
    close_outage,
    closes_outage,
    day_period,
    month_period,
    open_outage,
)

WIB = ZoneInfo("Asia/Jakarta")
DAY_START = datetime(2025, 3, 4, tzinfo=WIB)  # 2025-03-03 17:00 UTC
H = timedelta(hours=1)
M = timedelta(minutes=1)
SLA_S = 300


def event(
    kind: EventKind, previous: Severity, severity: Severity, maintenance: bool = False
) -> Event:
    return Event(
        kind=kind,
        target="vsat-lam",
        severity=severity,
        previous=previous,
        at=DAY_START + 3 * M,
        since=DAY_START,
        reasons=(),
        in_maintenance=maintenance,
        acknowledged=False,
    )


def test_an_outage_opens_when_the_state_becomes_down() -> None:
    outage = open_outage(event("changed", "critical", "down", maintenance=True), "lambada")
    assert outage == Outage("vsat-lam", "lambada", DAY_START, None, "unknown", True)
    assert open_outage(event("raised", "ok", "down"), None) is not None
    assert open_outage(event("raised", "ok", "critical"), None) is None
    assert open_outage(event("changed", "down", "critical"), None) is None


def test_an_outage_closes_when_the_state_leaves_down() -> None:
    assert closes_outage(event("recovered", "down", "ok"))
    assert closes_outage(event("changed", "down", "warning"))
    assert not closes_outage(event("recovered", "critical", "ok"))
    assert not closes_outage(event("raised", "ok", "down"))


@pytest.mark.parametrize(
    ("uptime_s", "cause"),
    [
        (120.0, "power"),  # booted two minutes before it answered: restarted inside the hour
        (3599.0, "power"),
        (3600.0, "link"),  # up since the outage began: lived through it
        (10 * 86400.0, "link"),
        (None, "unknown"),  # no SNMP uptime
    ],
)
def test_the_cause_from_the_uptime_at_recovery(uptime_s: float | None, cause: str) -> None:
    outage = Outage("vsat-lam", "lambada", DAY_START)
    closed = close_outage(outage, DAY_START + H, uptime_s)
    assert (closed.end, closed.cause) == (DAY_START + H, cause)


def test_an_outage_closes_once() -> None:
    closed = close_outage(Outage("vsat-lam", None, DAY_START), DAY_START + H, None)
    with pytest.raises(ValueError, match="already closed"):
        close_outage(closed, DAY_START + 2 * H, None)


@pytest.mark.parametrize(
    ("seconds", "cause", "maintenance", "sla"),
    [
        (300, "link", False, False),  # the bound itself is not over it
        (301, "link", False, True),
        (301, "unknown", False, True),  # not known to be a power cut
        (3600, "power", False, False),
        (3600, "link", True, False),
    ],
)
def test_the_sla_bound(seconds: int, cause: Cause, maintenance: bool, sla: bool) -> None:
    end = DAY_START + timedelta(seconds=seconds)
    outage = Outage("vsat-lam", None, DAY_START, end, cause, maintenance)
    assert outage.duration_s(DAY_START) == seconds
    assert outage.sla(SLA_S) is sla


def test_an_open_outage_lasts_until_now_and_is_not_yet_an_sla_event() -> None:
    outage = Outage("vsat-lam", None, DAY_START, cause="link")
    assert outage.duration_s(DAY_START + H) == 3600
    assert not outage.sla(SLA_S)


def test_outage_times_need_a_time_zone() -> None:
    with pytest.raises(ValueError, match="time zone"):
        Outage("vsat-lam", None, datetime(2025, 3, 4))


def test_day_and_month_periods_are_in_the_node_time_zone() -> None:
    assert day_period(date(2025, 3, 4), WIB) == (DAY_START, DAY_START + 24 * H)
    assert DAY_START.astimezone(UTC) == datetime(2025, 3, 3, 17, tzinfo=UTC)
    start, end = month_period(2024, 2, WIB)
    assert (start, (end - start).days) == (datetime(2024, 2, 1, tzinfo=WIB), 29)
    assert month_period(2024, 12, WIB)[1] == datetime(2025, 1, 1, tzinfo=WIB)


def test_a_day_with_overlapping_open_and_maintenance_outages() -> None:
    now = DAY_START + 20 * H
    outages = [
        # 02:00-03:00 and 02:30-04:00 overlap: 2 h down; a link cut, SLA-eligible
        Outage("vsat-lam", "lambada", DAY_START + 2 * H, DAY_START + 3 * H, "link"),
        Outage("vsat-lam", "lambada", DAY_START + 150 * M, DAY_START + 4 * H, "link"),
        # 10:00-10:04: too short for the SLA
        Outage("vsat-lam", "lambada", DAY_START + 10 * H, DAY_START + 10 * H + 4 * M, "link"),
        # a power cut 11:00-12:00
        Outage("vsat-lam", "lambada", DAY_START + 11 * H, DAY_START + 12 * H, "power"),
        # maintenance 13:00-15:00, half of it also inside an outage from 14:00 still open at 20:00
        Outage("vsat-lam", "lambada", DAY_START + 13 * H, DAY_START + 15 * H, "link", True),
        Outage("vsat-lam", "lambada", DAY_START + 14 * H, None),
        # another target, and yesterday's outage of this one
        Outage("vsat-bko", "bengkong", DAY_START + H, DAY_START + 2 * H, "link"),
        Outage("vsat-lam", "lambada", DAY_START - 5 * H, DAY_START - 4 * H, "link"),
    ]
    start, end = day_period(date(2025, 3, 4), WIB)
    figures = availability(
        outages, start, end, now, sla_outage_s=SLA_S, targets=["vsat-lam", "vsat-sgl"]
    )
    lam = figures["vsat-lam"]
    assert lam.period_s == 20 * 3600  # the rest of the day has not happened yet
    assert lam.down_s == (2 * 60 + 4 + 60 + 6 * 60) * 60
    assert lam.maintenance_s == 3600  # 13:00-14:00; 14:00-15:00 counts as down
    assert lam.sla_minutes == 120
    assert lam.ratio == pytest.approx(1 - (2 * 60 + 4 + 60 + 6 * 60) / (20 * 60))
    assert figures["vsat-bko"].down_s == 3600
    assert figures["vsat-sgl"] == Availability("vsat-sgl", 20 * 3600, 0, 0, 0)
    assert figures["vsat-sgl"].ratio == 1.0


def test_outages_across_the_period_edges_are_clipped() -> None:
    start, end = month_period(2025, 3, WIB)
    outages = [
        Outage("vsat-lam", None, start - 2 * H, start + H, "link"),  # began in February
        Outage("vsat-lam", None, end - H, end + 5 * H, "link"),  # ended in April
    ]
    lam = availability(outages, start, end, end + 30 * 24 * H, sla_outage_s=SLA_S)["vsat-lam"]
    assert lam.period_s == 31 * 86400
    assert lam.down_s == lam.sla_s == 2 * 3600


def test_a_period_that_has_not_begun_has_no_ratio() -> None:
    start, end = day_period(date(2025, 3, 5), WIB)
    lam = availability([], start, end, DAY_START, sla_outage_s=SLA_S, targets=["vsat-lam"])
    assert lam["vsat-lam"].period_s == 0 and lam["vsat-lam"].ratio is None
