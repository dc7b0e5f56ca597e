"""Alerts: one cycle's severity from probes, SNMP and readings (each rule and its boundaries), and
the hysteresis that confirms, clears, ignores flapping, dates states from their first
observation and carries acknowledgements and maintenance."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from monitoring.alerts import (
    AlertState,
    Event,
    Observation,
    Severity,
    acknowledge,
    classify,
    in_maintenance,
    rank,
    step,
    worse,
)
from monitoring.snmp.model import Reading
from simpul.config.model import Alerting, Maintenance

ALERTING = Alerting()  # warning at 10% loss or 1.5x the baseline, critical at 40% or 3x
WIB = ZoneInfo("Asia/Jakarta")
T0 = datetime(2025, 3, 4, 7, 0, tzinfo=UTC)
MINUTE = timedelta(minutes=1)


@dataclass(frozen=True)
class Round:
    """A probe round as monitoring.probes gives it."""

    sent: int
    rtts_ms: tuple[float, ...]

    @property
    def received(self) -> int:
        return len(self.rtts_ms)


def pings(sent: int, received: int, rtt_ms: float = 700.0) -> Round:
    return Round(sent, (rtt_ms,) * received)


def test_severities_are_ordered() -> None:
    assert [rank(s) for s in ("ok", "warning", "critical", "down")] == [0, 1, 2, 3]
    assert worse("down", "critical") and not worse("warning", "critical")
    assert not worse("ok", "ok")


@pytest.mark.parametrize(
    ("sent", "received", "severity", "reasons"),
    [
        (5, 5, "ok", ()),
        (11, 10, "ok", ()),  # 9.1%: under the warning level
        (10, 9, "warning", ("paket hilang 10% / 10% packet loss",)),  # exactly the level
        (3, 2, "warning", ("paket hilang 33,3% / 33.3% packet loss",)),
        (5, 3, "critical", ("paket hilang 40% / 40% packet loss",)),  # exactly the level
        (20, 11, "critical", ("paket hilang 45% / 45% packet loss",)),
    ],
)
def test_loss(sent: int, received: int, severity: Severity, reasons: tuple[str, ...]) -> None:
    got = classify(ALERTING, probe=pings(sent, received), baseline_ms=700, snmp_answered=True)
    assert got == (severity, reasons)


@pytest.mark.parametrize(
    ("rtts_ms", "severity"),
    [
        ((600, 899, 2000), "ok"),  # median 899 < 600 x 1.5
        ((600, 900, 2000), "warning"),  # median 900 = 600 x 1.5
        ((1799, 1799, 5000), "warning"),  # just under 600 x 3
        ((1800, 1800, 600), "critical"),  # median 1800 = 600 x 3
    ],
)
def test_rtt_against_the_baseline(rtts_ms: tuple[float, ...], severity: Severity) -> None:
    probe = Round(3, rtts_ms)
    got, reasons = classify(ALERTING, probe=probe, baseline_ms=600, snmp_answered=True)
    assert got == severity
    assert len(reasons) == (severity != "ok")


def test_rtt_reason_text() -> None:
    got = classify(
        ALERTING, probe=Round(3, (2000, 2100, 1900)), baseline_ms=600, snmp_answered=True
    )
    assert got == (
        "critical",
        ("RTT 2000 ms, 3,3× dari biasanya (600 ms) / RTT 2000 ms, 3.3× its normal (600 ms)",),
    )


def test_unknown_baseline_judges_no_rtt() -> None:
    got = classify(
        ALERTING, probe=Round(3, (9000, 9000, 9000)), baseline_ms=None, snmp_answered=True
    )
    assert got == ("ok", ())


@pytest.mark.parametrize(
    ("readings", "severity", "reasons"),
    [
        ((Reading("snr", "", 9.5, "dB", level="ok"),), "ok", ()),
        ((Reading("snr", "", None, error="no such object"),), "ok", ()),
        (
            (Reading("snr", "", 4.5, "dB", level="warning"),),
            "warning",
            ("snr peringatan: 4,5 dB / snr warning: 4.5 dB",),
        ),
        (
            (
                Reading("rx_lock", "3", 2, label="unlocked", level="critical"),
                Reading("snr", "", 4.5, "dB", level="warning"),
            ),
            "critical",
            (
                "rx_lock[3] kritis: unlocked / rx_lock[3] critical: unlocked",
                "snr peringatan: 4,5 dB / snr warning: 4.5 dB",
            ),
        ),
    ],
)
def test_readings(
    readings: tuple[Reading, ...], severity: Severity, reasons: tuple[str, ...]
) -> None:
    got = classify(
        ALERTING, probe=pings(5, 5), baseline_ms=700, snmp_answered=True, readings=readings
    )
    assert got == (severity, reasons)


def test_the_worst_rule_wins_and_every_reason_is_given() -> None:
    severity, reasons = classify(
        ALERTING,
        probe=Round(5, (1200, 1200, 1200, 1200)),  # 20% loss, 2x the baseline: warnings
        baseline_ms=600,
        snmp_answered=True,
        readings=[Reading("snr", "", 2.0, "dB", level="critical")],
    )
    assert severity == "critical"
    assert [r.split(" / ")[1] for r in reasons] == [
        "20% packet loss",
        "RTT 1200 ms, 2× its normal (600 ms)",
        "snr critical: 2 dB",
    ]


@pytest.mark.parametrize(
    ("probe", "snmp_answered", "reason"),
    [
        (
            pings(5, 0),
            False,
            "tidak terjangkau: tidak ada balasan ping (5 dikirim) dan SNMP tidak menjawab / "
            "unreachable: no reply to 5 pings and SNMP not answering (timeout: no answer)",
        ),
        (
            pings(5, 0),
            None,  # SNMP not polled
            "tidak terjangkau: tidak ada balasan ping (5 dikirim) / "
            "unreachable: no reply to 5 pings",
        ),
        (
            None,  # probes off
            False,
            "tidak terjangkau: SNMP tidak menjawab / "
            "unreachable: SNMP not answering (timeout: no answer)",
        ),
        (
            Round(0, ()),  # the probes could not be sent
            False,
            "tidak terjangkau: SNMP tidak menjawab / "
            "unreachable: SNMP not answering (timeout: no answer)",
        ),
    ],
)
def test_down(probe: Round | None, snmp_answered: bool | None, reason: str) -> None:
    got = classify(
        ALERTING,
        probe=probe,
        baseline_ms=700,
        snmp_answered=snmp_answered,
        snmp_error="timeout: no answer",
    )
    assert got == ("down", (reason,))


def test_no_ping_reply_while_snmp_answers_is_total_loss_not_down() -> None:
    got = classify(ALERTING, probe=pings(5, 0), baseline_ms=700, snmp_answered=True)
    assert got == ("critical", ("paket hilang 100% / 100% packet loss",))


def test_snmp_alone_decides_without_probes() -> None:
    assert classify(ALERTING, probe=None, baseline_ms=None, snmp_answered=True) == ("ok", ())


def test_snmp_failing_while_pings_answer_is_noted_not_raised() -> None:
    got = classify(
        ALERTING,
        probe=pings(5, 5),
        baseline_ms=700,
        snmp_answered=False,
        snmp_error="auth: wrong key",
    )
    assert got == ("ok", ("SNMP tidak menjawab / SNMP not answering (auth: wrong key)",))


def test_nothing_observed_is_an_error() -> None:
    with pytest.raises(ValueError, match="nothing was observed"):
        classify(ALERTING, probe=None, baseline_ms=None, snmp_answered=None)


# Hysteresis


def run(
    severities: str,
    state: AlertState | None = None,
    confirm: int = 3,
    clear: int = 2,
    maintenance: bool = False,
    start: datetime = T0,
) -> tuple[AlertState, list[Event]]:
    """Feed one observation a minute: o(k), w(arning), c(ritical), d(own)."""
    names: dict[str, Severity] = {"o": "ok", "w": "warning", "c": "critical", "d": "down"}
    events: list[Event] = []
    for i, letter in enumerate(severities):
        obs = Observation("vsat-lam", start + i * MINUTE, names[letter], (f"#{i}",))
        new, happened = step(state, obs, confirm, clear, maintenance)
        state = new
        events += happened
    assert state is not None
    return state, events


def summary(events: list[Event]) -> list[tuple[str, str, str, int]]:
    return [(e.kind, e.previous, e.severity, int((e.since - T0) / MINUTE)) for e in events]


def test_a_fresh_target_is_ok_without_an_event() -> None:
    state, events = run("o")
    assert (state.state, state.since, events) == ("ok", T0, [])


def test_a_worse_state_needs_confirm_cycles_and_dates_from_the_first() -> None:
    state, events = run("occ")
    assert (state.state, state.pending, state.pending_count) == ("ok", "critical", 2)
    assert events == []
    state, events = run("c", state, start=T0 + 3 * MINUTE)
    assert summary(events) == [("raised", "ok", "critical", 1)]
    assert state.state == "critical" and state.since == T0 + MINUTE
    assert state.problem_since == T0 + MINUTE and state.pending is None
    assert events[0].at == T0 + 3 * MINUTE and events[0].reasons == ("#0",)


def test_a_mixed_run_confirms_its_least_bad() -> None:
    state, events = run("odcd")
    assert summary(events) == [("raised", "ok", "critical", 1)]
    assert state.state == "critical"


def test_one_event_per_change() -> None:
    _, events = run("occcccccc")
    assert summary(events) == [("raised", "ok", "critical", 1)]


def test_recovery_needs_clear_cycles_and_dates_from_the_first_good() -> None:
    state, events = run("ddd" + "o" + "d" + "oo")
    assert summary(events) == [("raised", "ok", "down", 0), ("recovered", "down", "ok", 5)]
    assert state.state == "ok" and state.problem_since is None
    assert events[1].problem_since == T0


def test_a_clearing_run_confirms_its_worst() -> None:
    _, events = run("cccow")
    assert summary(events) == [
        ("raised", "ok", "critical", 0),
        ("changed", "critical", "warning", 3),
    ]
    assert events[1].problem_since == T0


def test_flapping_raises_nothing() -> None:
    state, events = run("oc" * 20 + "occ" * 10)
    assert events == [] and state.state == "ok"
    state, events = run("ddd" + "od" * 20, clear=2)
    assert summary(events) == [("raised", "ok", "down", 0)]
    assert state.state == "down"


def test_an_interrupted_run_starts_over() -> None:
    _, events = run("ccoccc")
    assert summary(events) == [("raised", "ok", "critical", 3)]


def test_confirm_cycles_of_one_is_immediate() -> None:
    _, events = run("wo", confirm=1, clear=1)
    assert summary(events) == [("raised", "ok", "warning", 0), ("recovered", "warning", "ok", 1)]


def test_an_acknowledgement_lasts_between_warning_and_critical() -> None:
    state, _ = run("www")
    state = acknowledge(state, "budi", T0 + 3 * MINUTE)
    state, events = run("ccc", state, start=T0 + 4 * MINUTE)
    assert summary(events) == [("changed", "warning", "critical", 4)]
    assert events[0].acknowledged and state.acked_by == "budi"
    state, events = run("ww", state, start=T0 + 7 * MINUTE)
    assert events[0].acknowledged and state.acked_at == T0 + 3 * MINUTE


def test_going_down_clears_an_acknowledgement() -> None:
    state, _ = run("ccc")
    state, events = run("ddd", acknowledge(state, "budi", T0), start=T0 + 3 * MINUTE)
    assert not events[0].acknowledged and state.acked_by is None


def test_recovery_clears_an_acknowledgement_and_says_it_had_one() -> None:
    state, _ = run("ddd")
    state, events = run("oo", acknowledge(state, "sari", T0), start=T0 + 3 * MINUTE)
    assert events[0].kind == "recovered" and events[0].acknowledged
    assert state.acked_by is None and state.acked_at is None
    state, events = run("ccc", state, start=T0 + 5 * MINUTE)
    assert not events[0].acknowledged


def test_nothing_to_acknowledge_while_ok() -> None:
    state, _ = run("o")
    with pytest.raises(ValueError, match="nothing to acknowledge"):
        acknowledge(state, "budi", T0)


def test_maintenance_is_carried_and_the_state_still_changes() -> None:
    state, events = run("ddd", maintenance=True)
    assert state.state == "down"
    assert [e.in_maintenance for e in events] == [True]


def test_the_event_carries_the_uptime_at_since() -> None:
    state, _ = run("ddd")
    first = Observation("vsat-lam", T0 + 3 * MINUTE, "ok", (), uptime_s=100.0)
    state, _ = step(state, first, 3, 2, False)
    second = Observation("vsat-lam", T0 + 4 * MINUTE, "ok", (), uptime_s=160.0)
    _, events = step(state, second, 3, 2, False)
    assert events[0].since == T0 + 3 * MINUTE and events[0].uptime_s == 100.0


def test_state_survives_json() -> None:
    state, _ = run("ddd" + "o")
    state = acknowledge(state, "budi", T0.astimezone(WIB))
    again = AlertState.from_dict(json.loads(json.dumps(state.to_dict())))
    assert again == state


def test_state_and_observation_must_match() -> None:
    state, _ = run("o")
    with pytest.raises(ValueError, match="vsat-x"):
        step(state, Observation("vsat-x", T0, "ok"), 3, 2, False)
    with pytest.raises(ValueError, match="time zone"):
        Observation("vsat-lam", datetime(2025, 3, 4), "ok")


# Maintenance windows


def window(**fields: object) -> Maintenance:
    return Maintenance.model_validate({"reason": "ganti modem", **fields})


@pytest.mark.parametrize(
    ("windows", "target", "site", "at", "inside"),
    [
        # 14:00-16:00 WIB (naive: the node's time) is 07:00-09:00 UTC
        ([window(target="vsat-lam", start="2025-03-04T14:00", end="2025-03-04T16:00")],
         "vsat-lam", None, T0, True),
        ([window(target="vsat-lam", start="2025-03-04T14:00", end="2025-03-04T16:00")],
         "vsat-lam", None, T0 - timedelta(seconds=1), False),
        ([window(target="vsat-lam", start="2025-03-04T14:00", end="2025-03-04T16:00")],
         "vsat-lam", None, T0 + timedelta(hours=2), False),  # the end is not in it
        ([window(target="vsat-lam", start="2025-03-04T14:00", end="2025-03-04T16:00")],
         "vsat-bko", "lambada", T0, False),
        ([window(site="lambada", start="2025-03-04T14:00", end="2025-03-04T16:00")],
         "vsat-lam", "lambada", T0 + MINUTE, True),
        ([window(site="lambada", start="2025-03-04T14:00", end="2025-03-04T16:00")],
         "vsat-lam", None, T0 + MINUTE, False),
        # an aware window is taken as it is: 14:00 UTC is 21:00 WIB
        ([window(target="vsat-lam", start="2025-03-04T14:00Z", end="2025-03-04T16:00Z")],
         "vsat-lam", None, T0, False),
        ([], "vsat-lam", "lambada", T0, False),
    ],
)  # fmt: skip
def test_in_maintenance(
    windows: list[Maintenance], target: str, site: str | None, at: datetime, inside: bool
) -> None:
    assert in_maintenance(windows, target, site, at, WIB) is inside
