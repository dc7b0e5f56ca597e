"""Bits per second from two samples of an octet counter, or no rate and the reason why.

A counter that went down wrapped (32-bit ifInOctets wraps after 4 GiB, ~6 min at 100 Mbit/s) when
the wrapped difference is less than half the counter's range; otherwise it went backwards, which
without a restart is a discontinuity (no rate). A device restart is read from sysUpTime: it went
back (other than its own 2^32 wrap after 497 days), or grew by less than the time between the
samples. The reason is then exactly `RESTARTED`, which the outage classifier reads as a power cut.
A rate above `ABSURD_FACTOR` times the interface's speed is a glitch, not traffic.
"""

from __future__ import annotations

from dataclasses import dataclass

from monitoring.snmp.model import InterfaceSample, PollResult

RESTARTED = "device restarted"
ABSURD_FACTOR = 2.0
UPTIME_WRAP = 1 << 32  # sysUpTime is TimeTicks: hundredths of a second in 32 bits
# Slack between the agent's clock and ours: the two samples' one-way delays (up to ~0.5 s over
# V-Sat each) and the agent's own clock drift.
UPTIME_SLACK_S = 5.0
UPTIME_SLACK_SHARE = 0.01


@dataclass(frozen=True)
class Rate:
    """bits/s, or None with `reason`; `octets` is the counted difference when there is one."""

    bps: float | None
    octets: int | None = None
    reason: str | None = None
    wrapped: bool = False


@dataclass(frozen=True)
class InterfaceRate:
    """Receive (ifIn*) and transmit (ifOut*) rates of one interface between two polls."""

    index: int
    name: str
    rx: Rate
    tx: Rate


def restarted(prev_ticks: int, cur_ticks: int, elapsed_s: float) -> bool:
    """Whether the device restarted between two sysUpTime readings `elapsed_s` apart."""
    expected = elapsed_s * 100
    slack = (UPTIME_SLACK_S + UPTIME_SLACK_SHARE * elapsed_s) * 100
    advanced = cur_ticks - prev_ticks
    if advanced < 0:
        return abs(advanced + UPTIME_WRAP - expected) > slack
    return advanced < expected - slack


def _human(bps: float) -> str:
    for unit, size in (("Gbit/s", 1e9), ("Mbit/s", 1e6), ("kbit/s", 1e3)):
        if bps >= size:
            return f"{bps / size:.1f} {unit}"
    return f"{bps:.0f} bit/s"


def counter_rate(
    prev: int,
    cur: int,
    bits: int,
    elapsed_s: float,
    speed_bps: float | None = None,
    factor: float = ABSURD_FACTOR,
) -> Rate:
    """The rate of an octet counter of `bits` bits between two readings `elapsed_s` apart, on a
    device that did not restart in between. `speed_bps` (if known) bounds a believable rate."""
    if elapsed_s <= 0:
        return Rate(None, reason="the samples are not in time order")
    octets = cur - prev
    wrapped = octets < 0
    if wrapped:
        octets += 1 << bits
        if octets >= 1 << (bits - 1):
            return Rate(
                None,
                reason=f"counter went backwards ({prev} -> {cur}) without a device restart: "
                f"a counter reset or discontinuity",
            )
    bps = octets * 8 / elapsed_s
    if speed_bps and bps > speed_bps * factor:
        after = " after an apparent wrap" if wrapped else ""
        return Rate(
            None,
            octets,
            f"{_human(bps)}{after} is above {factor:g}x the interface speed "
            f"({_human(speed_bps)}): a counter glitch, not traffic",
            wrapped,
        )
    return Rate(bps, octets, wrapped=wrapped)


def device_restarted(prev: PollResult, cur: PollResult) -> bool:
    """Whether the device restarted between two successful polls."""
    if prev.uptime_ticks is None or cur.uptime_ticks is None:
        raise ValueError("both polls need sysUpTime")
    return restarted(prev.uptime_ticks, cur.uptime_ticks, cur.at - prev.at)


def _one(
    before: InterfaceSample | None,
    now: InterfaceSample,
    prev: int | None,
    cur: int | None,
    elapsed_s: float,
    factor: float,
) -> Rate:
    if before is None:
        return Rate(None, reason="new interface (not in the previous sample)")
    if before.counter_bits != now.counter_bits:
        return Rate(None, reason="the counter width changed (32/64-bit) between samples")
    if prev is None or cur is None:
        return Rate(None, reason="no octet counter for this interface")
    speed = now.speed_mbps * 1e6 if now.speed_mbps else None
    return counter_rate(prev, cur, now.counter_bits, elapsed_s, speed, factor)


def interface_rates(
    prev: PollResult, cur: PollResult, factor: float = ABSURD_FACTOR
) -> tuple[InterfaceRate, ...]:
    """Every interface of `cur` with its rates since `prev` (the same device, polled earlier)."""
    if not (prev.ok and cur.ok):
        raise ValueError("rates need two successful polls")
    elapsed = cur.at - prev.at
    if device_restarted(prev, cur):
        gone = Rate(None, reason=RESTARTED)
        return tuple(InterfaceRate(i.index, i.name, gone, gone) for i in cur.interfaces)
    earlier = {i.index: i for i in prev.interfaces}
    out = []
    for now in cur.interfaces:
        before = earlier.get(now.index)
        prev_in, prev_out = (before.in_octets, before.out_octets) if before else (None, None)
        rx = _one(before, now, prev_in, now.in_octets, elapsed, factor)
        tx = _one(before, now, prev_out, now.out_octets, elapsed, factor)
        out.append(InterfaceRate(now.index, now.name, rx, tx))
    return tuple(out)
