"""Fair use at a hotspot, for real: per-device rates (HTB picked by nftables), the quota's
slow-down, the kernel-native idle timeout."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from simpul.lab.topology import LAB_BULK
from tests.integration.helpers import LabHandle, http_code, lab_data, mac_of, ns_run


@pytest.fixture
def access(lab: LabHandle, tmp_path: Path) -> Iterator[object]:
    """Set the hotspot sites' access policy for one test; the test lab's returns after it."""

    def set_access(**policy: object) -> None:
        lab.configure(tmp_path, lab_data(**policy))

    try:
        yield set_access
    finally:
        lab.configure(tmp_path, lab_data())


def _iperf_mbps(ns: str, *, download: bool, seconds: int = 4) -> float:
    argv = ["iperf3", "-c", LAB_BULK, "-t", str(seconds), "-O", "1", "-J"]
    proc = ns_run(ns, *argv, *(["-R"] if download else []), timeout=seconds + 30)
    assert proc.returncode == 0, proc.stdout[-500:] + proc.stderr[-500:]
    return json.loads(proc.stdout)["end"]["sum_received"]["bits_per_second"] / 1e6


@pytest.mark.parametrize("download", [True, False], ids=["download", "upload"])
def test_a_2_mbit_device_limit_holds_within_15_percent(
    lab: LabHandle, access: object, download: bool
) -> None:
    access(client_down_kbps=2000, client_up_kbps=2000)  # type: ignore[operator]
    ns, ip = lab.ns("hs-1"), lab.ip("hs-1")
    lab.call("authorize", ip=ip, mac=mac_of(ns), minutes=10)
    try:
        rate = _iperf_mbps(ns, download=download)
        assert 2.0 * 0.85 <= rate <= 2.0 * 1.15, f"{rate:.2f} Mbit/s"
    finally:
        lab.call("logout", ip=ip)


def test_over_quota_a_device_is_slowed_not_cut(lab: LabHandle, access: object) -> None:
    access(quota_mb=3, throttle_kbps=512)  # type: ignore[operator]
    ns, ip = lab.ns("hs-1"), lab.ip("hs-1")
    lab.call("authorize", ip=ip, mac=mac_of(ns), minutes=10)
    try:
        assert http_code(ns, "http://bulk.example.net/bytes/4000000") == "200"
        deadline = time.monotonic() + 25  # netd looks every 10 s
        while time.monotonic() < deadline:
            if _iperf_mbps(ns, download=True, seconds=2) < 1.0:
                break
        rate = _iperf_mbps(ns, download=True)
        assert 0.512 * 0.85 <= rate <= 0.512 * 1.15, f"{rate:.2f} Mbit/s"
        assert lab.call("whois", ip=ip)["authorized"] is True  # type: ignore[index]
    finally:
        lab.call("logout", ip=ip)


def test_an_idle_device_is_let_go_by_the_kernel(lab: LabHandle, access: object) -> None:
    access(idle_minutes=1)  # type: ignore[operator]
    ns, ip = lab.ns("hs-1"), lab.ip("hs-1")
    lab.call("authorize", ip=ip, mac=mac_of(ns), minutes=30)
    assert http_code(ns, "http://example.org/") == "200"
    time.sleep(50)
    assert http_code(ns, "http://example.org/") == "200", "activity restarts the idle time"
    time.sleep(75)  # silent for more than a minute, plus netd's 10 s look
    assert lab.call("whois", ip=ip)["authorized"] is False  # type: ignore[index]
    assert http_code(ns, "http://example.org/") == "302", "back to the portal"


def test_a_daily_allowance_caps_the_session(lab: LabHandle, access: object) -> None:
    """A device with 2 minutes a day gets a 2-minute session, whatever it asked for, and what
    it has used counts against the next one."""
    access(daily_minutes=2)  # type: ignore[operator]
    ip = lab.ip("hs-1")
    device = "02:da:00:00:00:01"  # a device with no history today (hs-1 has been busy)
    try:
        first = lab.call("authorize", ip=ip, mac=device, minutes=60)
        assert 110 <= first["expires_at"] - time.time() <= 120  # type: ignore[index]
        time.sleep(3)
        lab.call("logout", ip=ip)
        second = lab.call("authorize", ip=ip, mac=device, minutes=60)
        assert second["expires_at"] - time.time() <= 118  # type: ignore[index]
    finally:
        lab.call("logout", ip=ip)
