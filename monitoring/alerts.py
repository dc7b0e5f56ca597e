"""Alerts from observations: one cycle's severity of a target (`classify`), and a confirmed state
with hysteresis that turns runs of observations into one event per real change (`step`).

A V-Sat link loses packets in rain fade and stretches its RTT for a cycle or two: a worse state
is confirmed only after `confirm_cycles` observations in a row at least that bad, a better one
after `clear_cycles` in a row, so a flapping link raises nothing. A confirmed state's `since` is
the first observation of the run that confirmed it: an outage starts when it started, not when
the monitor became sure of it. Every time is a timezone-aware datetime.

Reasons are short texts, Bahasa Indonesia first and English after " / " (the notices split them
there); a poller's error detail, in English, goes at the end of the English half.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from datetime import datetime, tzinfo
from typing import Any, Literal, Protocol

from monitoring.snmp.model import Reading
from simpul.config.model import Alerting, Maintenance

Severity = Literal["ok", "warning", "critical", "down"]
SEVERITIES: tuple[Severity, ...] = ("ok", "warning", "critical", "down")
EventKind = Literal["raised", "changed", "recovered"]
_LEVEL_WORDS = {"warning": ("peringatan", "warning"), "critical": ("kritis", "critical")}
_TIMES = ("since", "problem_since", "pending_since", "acked_at")


def rank(severity: Severity) -> int:
    """0 for ok up to 3 for down: severities compare by their rank."""
    return SEVERITIES.index(severity)


def worse(a: Severity, b: Severity) -> bool:
    """Whether `a` is worse than `b`."""
    return rank(a) > rank(b)


class ProbeRound(Protocol):
    """What `classify` reads of one round of echo probes (`monitoring.probes.ProbeResult`)."""

    @property
    def sent(self) -> int: ...

    @property
    def received(self) -> int: ...

    @property
    def rtts_ms(self) -> Sequence[float]: ...


def _aware(at: datetime, what: str) -> None:
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"{what} must carry a time zone, got the naive {at.isoformat()}")


def _num(value: float, comma: bool) -> str:
    text = f"{value:.1f}".removesuffix(".0")
    return text.replace(".", ",") if comma else text


def _level(value: float, warning: float, critical: float) -> Severity | None:
    if value >= critical:
        return "critical"
    return "warning" if value >= warning else None


def _unreachable(probe: ProbeRound | None, snmp_answered: bool | None, error: str | None) -> str:
    words_id, words_en = [], []
    if probe is not None and probe.sent > 0:
        words_id.append(f"tidak ada balasan ping ({probe.sent} dikirim)")
        words_en.append(f"no reply to {probe.sent} pings")
    if snmp_answered is False:
        words_id.append("SNMP tidak menjawab")
        words_en.append("SNMP not answering" + (f" ({error})" if error else ""))
    return f"tidak terjangkau: {' dan '.join(words_id)} / unreachable: {' and '.join(words_en)}"


def _reading(reading: Reading, level: Literal["warning", "critical"]) -> str:
    name = f"{reading.name}[{reading.index}]" if reading.index else reading.name
    word_id, word_en = _LEVEL_WORDS[level]
    if reading.label is not None or not isinstance(reading.value, int | float):
        shown_id = shown_en = str(reading.label or reading.value)
    else:
        unit = f" {reading.unit}" if reading.unit else ""
        shown_id = _num(reading.value, comma=True) + unit
        shown_en = _num(reading.value, comma=False) + unit
    return f"{name} {word_id}: {shown_id} / {name} {word_en}: {shown_en}"


def classify(
    alerting: Alerting,
    *,
    probe: ProbeRound | None,
    baseline_ms: float | None,
    snmp_answered: bool | None,
    snmp_error: str | None = None,
    readings: Iterable[Reading] = (),
) -> tuple[Severity, tuple[str, ...]]:
    """One cycle's severity of a target and why.

    `probe` is None when probes are off for the target, `baseline_ms` None while the link's
    normal RTT is unknown, `snmp_answered` None when SNMP is not polled. Down: no probe reply
    and no SNMP answer. Otherwise the worst of: loss against `loss_*_percent`, the median RTT
    against `baseline_ms` times `rtt_*_factor`, and the readings' levels. SNMP failing while the
    probes answer is a reason but does not change the severity.
    """
    pinged = probe is not None and probe.sent > 0
    if not pinged and snmp_answered is None:
        raise ValueError("nothing was observed: probes are off or unsent and SNMP is not polled")
    no_reply = probe is None or probe.received == 0
    if no_reply and not snmp_answered:
        return "down", (_unreachable(probe, snmp_answered, snmp_error),)
    found: list[tuple[Severity, str]] = []
    if probe is not None and probe.sent > 0:
        loss = 100 * (probe.sent - probe.received) / probe.sent
        level = _level(loss, alerting.loss_warning_percent, alerting.loss_critical_percent)
        if level:
            text = f"paket hilang {_num(loss, True)}% / {_num(loss, False)}% packet loss"
            found.append((level, text))
        if baseline_ms is not None and probe.rtts_ms:
            median = statistics.median(probe.rtts_ms)
            warning = baseline_ms * alerting.rtt_warning_factor
            level = _level(median, warning, baseline_ms * alerting.rtt_critical_factor)
            if level:
                times = median / baseline_ms
                found.append((level, (
                    f"RTT {median:.0f} ms, {_num(times, True)}× dari biasanya ({baseline_ms:.0f} "
                    f"ms) / RTT {median:.0f} ms, {_num(times, False)}× its normal "
                    f"({baseline_ms:.0f} ms)"
                )))  # fmt: skip
    for reading in readings:
        if reading.level == "warning" or reading.level == "critical":
            found.append((reading.level, _reading(reading, reading.level)))
    reasons = [text for _, text in found]
    if probe is not None and probe.sent == 0:
        reasons.append("ping tidak bisa dikirim / the probes could not be sent")
    if snmp_answered is False:
        detail = f" ({snmp_error})" if snmp_error else ""
        reasons.append(f"SNMP tidak menjawab / SNMP not answering{detail}")
    severity = max((level for level, _ in found), key=rank, default="ok")
    return severity, tuple(reasons)


@dataclass(frozen=True)
class Observation:
    """One cycle's verdict on a target; `uptime_s` is sysUpTime in seconds (None if unknown)."""

    target: str
    at: datetime
    severity: Severity
    reasons: tuple[str, ...] = ()
    uptime_s: float | None = None

    def __post_init__(self) -> None:
        _aware(self.at, "Observation.at")


@dataclass(frozen=True)
class AlertState:
    """A target's confirmed severity (`state`) since when; the run of different observations
    that may change it (`pending`: what it would confirm, how many in a row, since when); when
    the current trouble began (`problem_since`, None while ok); who acknowledged it; and the
    last observation's reasons."""

    target: str
    state: Severity
    since: datetime
    problem_since: datetime | None = None
    pending: Severity | None = None
    pending_count: int = 0
    pending_since: datetime | None = None
    acked_by: str | None = None
    acked_at: datetime | None = None
    reasons: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready copy (times as ISO 8601 with their offset)."""
        data = asdict(self)
        for name in _TIMES:
            data[name] = data[name] and data[name].isoformat()
        data["reasons"] = list(self.reasons)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> AlertState:
        """The state `to_dict` gave."""
        values = dict(data)
        for name in _TIMES:
            values[name] = values.get(name) and datetime.fromisoformat(values[name])
        values["reasons"] = tuple(values.get("reasons", ()))
        return cls(**values)


@dataclass(frozen=True)
class Event:
    """A confirmed change of a target's state. `since` is when the new state began (the first
    observation of its run), `problem_since` when the trouble began (for a recovery: the
    trouble that ended), `uptime_s` the device's uptime at `since` (None if unknown)."""

    kind: EventKind
    target: str
    severity: Severity
    previous: Severity
    at: datetime
    since: datetime
    reasons: tuple[str, ...]
    in_maintenance: bool
    acknowledged: bool
    problem_since: datetime | None = None
    uptime_s: float | None = None


def acknowledge(state: AlertState, who: str, at: datetime) -> AlertState:
    """`state` with its current trouble acknowledged by `who`. It stays acknowledged while the
    target moves between warning and critical, or improves from down; it is cleared when the
    target goes down (a new, worse trouble) or recovers."""
    _aware(at, "the acknowledgement's time")
    if state.state == "ok":
        raise ValueError(f"{state.target} is ok: there is nothing to acknowledge")
    if not who.strip():
        raise ValueError("say who acknowledges")
    return replace(state, acked_by=who.strip(), acked_at=at)


def _uptime_at(observation: Observation, since: datetime) -> float | None:
    if observation.uptime_s is None:
        return None
    return max(0.0, observation.uptime_s - (observation.at - since).total_seconds())


def _confirm(
    state: AlertState,
    observation: Observation,
    severity: Severity,
    since: datetime,
    in_maintenance: bool,
) -> tuple[AlertState, list[Event]]:
    acked = state.acked_by is not None
    if severity == "ok":
        kind: EventKind = "recovered"
        problem_since, event_ack = None, acked
    elif state.state == "ok":
        kind, problem_since, event_ack = "raised", since, False
    else:
        kind, problem_since = "changed", state.problem_since
        event_ack = acked and severity != "down"
    keep_ack = kind == "changed" and event_ack
    new = AlertState(
        state.target,
        severity,
        since,
        problem_since,
        acked_by=state.acked_by if keep_ack else None,
        acked_at=state.acked_at if keep_ack else None,
        reasons=observation.reasons,
    )
    event = Event(
        kind=kind,
        target=state.target,
        severity=severity,
        previous=state.state,
        at=observation.at,
        since=since,
        reasons=observation.reasons,
        in_maintenance=in_maintenance,
        acknowledged=event_ack,
        problem_since=state.problem_since if kind == "recovered" else problem_since,
        uptime_s=_uptime_at(observation, since),
    )
    return new, [event]


def step(
    state: AlertState | None,
    observation: Observation,
    confirm_cycles: int,
    clear_cycles: int,
    in_maintenance: bool,
) -> tuple[AlertState, list[Event]]:
    """The target's state after `observation` and the event it confirmed, if any.

    Without a state the target is taken as ok since this observation. A run of worse
    observations confirms the least bad of them after `confirm_cycles`; a run of better ones the
    worst of them after `clear_cycles`; an observation at the confirmed severity ends any run.
    `in_maintenance` is carried on the events (the dispatcher mutes them); the state changes.
    """
    if confirm_cycles < 1 or clear_cycles < 1:
        raise ValueError("confirm_cycles and clear_cycles must be at least 1")
    if state is None:
        state = AlertState(observation.target, "ok", observation.at)
    elif state.target != observation.target:
        raise ValueError(f"an observation of {observation.target} for {state.target}'s state")
    severity = observation.severity
    if severity == state.state:
        calm = replace(
            state, pending=None, pending_count=0, pending_since=None, reasons=observation.reasons
        )
        return calm, []
    worsening = worse(severity, state.state)
    run = state.pending
    if run is not None and state.pending_since is not None and worse(run, state.state) == worsening:
        pick = min if worsening else max
        pending: Severity = pick(run, severity, key=rank)
        count, first = state.pending_count + 1, state.pending_since
    else:
        pending, count, first = severity, 1, observation.at
    if count < (confirm_cycles if worsening else clear_cycles):
        waiting = replace(
            state,
            pending=pending,
            pending_count=count,
            pending_since=first,
            reasons=observation.reasons,
        )
        return waiting, []
    return _confirm(state, observation, pending, first, in_maintenance)


def _local(moment: datetime, tz: tzinfo) -> datetime:
    return moment.replace(tzinfo=tz) if moment.tzinfo is None else moment


def in_maintenance(
    windows: Iterable[Maintenance], target: str, site: str | None, at: datetime, tz: tzinfo
) -> bool:
    """Whether a window covers `target` (or its `site`) at `at`: start included, end not.
    A window's naive times are in the node's time zone `tz`."""
    _aware(at, "the time")
    return any(
        (window.target == target or (site is not None and window.site == site))
        and _local(window.start, tz) <= at < _local(window.end, tz)
        for window in windows
    )
