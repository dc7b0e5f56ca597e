"""Counter rates: 32/64-bit wraps, device restarts from sysUpTime, counters going backwards and
absurd rates."""

from __future__ import annotations

import pytest

from monitoring.snmp.model import InterfaceSample, PollError, PollResult
from monitoring.snmp.rates import (
    RESTARTED,
    counter_rate,
    device_restarted,
    interface_rates,
    restarted,
)

TOP32 = 1 << 32
TOP64 = 1 << 64
HOUR = 360_000  # sysUpTime ticks


def test_plain_64_bit_rate() -> None:
    rate = counter_rate(1_000, 1_000 + 1_250_000, 64, 10.0)
    assert rate.bps == pytest.approx(1_000_000)
    assert (rate.octets, rate.reason, rate.wrapped) == (1_250_000, None, False)


def test_32_bit_wrap_is_counted_through() -> None:
    rate = counter_rate(TOP32 - 1_000, 4_000, 32, 60.0, speed_bps=100e6)
    assert rate.wrapped
    assert rate.octets == 5_000
    assert rate.bps == pytest.approx(5_000 * 8 / 60)


def test_64_bit_wrap_is_counted_through() -> None:
    rate = counter_rate(TOP64 - 10, 90, 64, 1.0)
    assert (rate.octets, rate.wrapped) == (100, True)


def test_32_bit_counter_going_back_a_little_is_not_a_wrap() -> None:
    rate = counter_rate(3_000_000_000, 2_900_000_000, 32, 60.0)
    assert rate.bps is None
    assert rate.reason is not None
    assert "went backwards (3000000000 -> 2900000000) without a device restart" in rate.reason


def test_64_bit_counter_going_backwards_gives_no_rate() -> None:
    rate = counter_rate(5_000_000_000, 1_000, 64, 60.0)
    assert rate.bps is None and rate.octets is None
    assert rate.reason is not None and "counter reset or discontinuity" in rate.reason


def test_absurd_rate_is_rejected_with_the_speeds() -> None:
    # 10 GB in 10 s on a 10 Mbit/s V-Sat modem port: a glitch
    rate = counter_rate(0, 10_000_000_000, 64, 10.0, speed_bps=10e6)
    assert rate.bps is None
    assert rate.octets == 10_000_000_000
    assert rate.reason == (
        "8.0 Gbit/s is above 2x the interface speed (10.0 Mbit/s): a counter glitch, not traffic"
    )


def test_absurd_rate_after_an_apparent_32_bit_wrap() -> None:
    rate = counter_rate(4_000_000_000, 1_000_000_000, 32, 1.0, speed_bps=10e6)
    assert rate.bps is None
    assert rate.wrapped
    assert rate.reason is not None and "after an apparent wrap" in rate.reason


def test_rate_up_to_the_factor_is_believed() -> None:
    assert counter_rate(0, 2_500_000, 64, 1.0, speed_bps=10e6).bps == pytest.approx(20e6)
    assert counter_rate(0, 2_500_000, 64, 1.0, speed_bps=10e6, factor=1.5).bps is None


def test_no_rate_without_time_between_samples() -> None:
    assert counter_rate(0, 10, 64, 0.0).reason == "the samples are not in time order"


@pytest.mark.parametrize(
    ("prev", "cur", "elapsed", "expected"),
    [
        (HOUR, HOUR + 6_000, 60.0, False),  # normal: one minute later
        (HOUR, HOUR + 5_900, 60.0, False),  # a second of one-way delay either side
        (HOUR, 3_000, 60.0, True),  # went back: restarted 30 s ago
        (1_000, 4_000, 300.0, True),  # forward, but up 40 s after 5 minutes: restarted
        (TOP32 - 1_000, 5_000, 60.0, False),  # sysUpTime's own wrap after 497 days
        (TOP32 - 1_000, 3_000, 60.0, True),  # near the wrap, but restarted 30 s ago
    ],
)
def test_restart_detection_from_sys_uptime(
    prev: int, cur: int, elapsed: float, expected: bool
) -> None:
    assert restarted(prev, cur, elapsed) is expected


def _iface(index: int, in_octets: int, out_octets: int, bits: int = 64) -> InterfaceSample:
    return InterfaceSample(index, f"eth{index}", 1, in_octets, out_octets, bits, 100.0)  # type: ignore[arg-type]


def _poll(at: float, ticks: int, *ifaces: InterfaceSample) -> PollResult:
    return PollResult("site", 0.0, at, 0.6, uptime_ticks=ticks, interfaces=ifaces)


def test_interface_rates_between_two_polls() -> None:
    prev = _poll(100.0, HOUR, _iface(1, 0, 0), _iface(2, 10, 10))
    cur = _poll(160.0, HOUR + 6_000, _iface(1, 750_000, 75_000), _iface(2, 10, 10))
    rates = interface_rates(prev, cur)
    assert [r.name for r in rates] == ["eth1", "eth2"]
    assert rates[0].rx.bps == pytest.approx(100_000)
    assert rates[0].tx.bps == pytest.approx(10_000)
    assert rates[1].rx.bps == 0


def test_a_restart_gives_no_rates_and_says_device_restarted() -> None:
    prev = _poll(100.0, HOUR, _iface(1, 5_000_000, 5_000_000))
    cur = _poll(160.0, 2_000, _iface(1, 1_000, 1_000))
    assert device_restarted(prev, cur)
    rates = interface_rates(prev, cur)
    assert rates[0].rx.bps is None
    assert rates[0].rx.reason == RESTARTED == "device restarted"
    assert rates[0].tx.reason == RESTARTED


def test_new_interface_and_changed_width_have_reasons() -> None:
    prev = _poll(100.0, HOUR, _iface(1, 0, 0, bits=32))
    cur = _poll(160.0, HOUR + 6_000, _iface(1, 10, 10, bits=64), _iface(7, 10, 10))
    by_index = {r.index: r for r in interface_rates(prev, cur)}
    assert by_index[1].rx.reason == "the counter width changed (32/64-bit) between samples"
    assert by_index[7].rx.reason == "new interface (not in the previous sample)"


def test_rates_need_two_good_polls() -> None:
    good = _poll(100.0, HOUR, _iface(1, 0, 0))
    failed = PollResult("site", 0.0, 160.0, 12.0, error=PollError("timeout", "no response"))
    with pytest.raises(ValueError, match="two successful polls"):
        interface_rates(good, failed)
