"""netctl.fair_use: which devices are shaped and at what rates per client, when a quota is used
up, where a day starts for a daily allowance. Pure: configurations in, numbers out.

LAB (examples/lab.yaml) has one uplink `wan0` (300/300 Mbit/s) and two hotspot sites, rtm-lam on
`hs-rtmlam` and taman-cik-puan on `hs-cikpuan` (20/5 Mbit/s each), with the default access policy
(4000 kbit/s down and 1000 up per device, no quota, 256 kbit/s when throttled).
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from netctl.fair_use import client_classes, day_start, is_shaped, over_quota, shaped_devices
from simpul.config import Config, config_to_data, load_config_file, parse_config

ROOT = Path(__file__).resolve().parents[2]
LAB = load_config_file(str(ROOT / "examples" / "lab.yaml"))


def lab_with(
    *,
    access: dict[str, Any] | None = None,
    site_bandwidth: dict[str, Any] | None = None,
    uplinks: list[dict[str, Any]] | None = None,
    sites: bool = True,
) -> Config:
    """LAB with rtm-lam's `access` and both sites' `bandwidth` changed, `uplinks` added, or
    without hotspot sites."""
    data = config_to_data(LAB)
    for site in data["hotspot_sites"]:
        if site["slug"] == "rtm-lam":
            site["access"].update(access or {})
        if site_bandwidth is not None:
            site["bandwidth"] = site_bandwidth.get(site["slug"])
    data["uplinks"] += uplinks or []
    if not sites:
        data["hotspot_sites"] = []
    return parse_config(data, "fair use")


WAN1 = {"name": "vsat-dua", "interface": "wan1"}
WAN2 = {"name": "isp-tiga", "interface": "wan2", "bandwidth": {"down_mbps": 50, "up_mbps": 2.5}}


# --------------------------------------------------------------------------------------------
# shaped devices


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        (LAB, {"hs-rtmlam": 20_000, "hs-cikpuan": 20_000, "wan0": 300_000}),
        # bridges carry the site's download rate, uplinks their upload rate
        (
            lab_with(
                site_bandwidth={
                    "rtm-lam": {"down_mbps": 0.5, "up_mbps": 40},
                    "taman-cik-puan": {"down_mbps": 12.5, "up_mbps": 1},
                },
                uplinks=[WAN2],
            ),
            {"hs-rtmlam": 500, "hs-cikpuan": 12_500, "wan0": 300_000, "wan2": 2_500},
        ),
        # no bandwidth: shaped all the same (clients get classes), without a total limit
        (
            lab_with(site_bandwidth={"taman-cik-puan": {"down_mbps": 10, "up_mbps": 2}}),
            {"hs-rtmlam": None, "hs-cikpuan": 10_000, "wan0": 300_000},
        ),
        (
            lab_with(uplinks=[WAN1, WAN2]),
            {
                "hs-rtmlam": 20_000,
                "hs-cikpuan": 20_000,
                "wan0": 300_000,
                "wan1": None,
                "wan2": 2_500,
            },
        ),
        (lab_with(sites=False), {"wan0": 300_000}),
    ],
    ids=["lab", "rates", "site-without-bandwidth", "three-uplinks", "no-sites"],
)
def test_shaped_devices(config: Config, expected: dict[str, int | None]) -> None:
    devices = shaped_devices(config)
    assert devices == expected
    assert list(devices) == list(expected)  # bridges first, then uplinks, in config order


def test_every_site_is_shaped_even_without_per_device_rates() -> None:
    """The bridge gets its HTB root whatever the site's policy (its classes come and go)."""
    config = lab_with(access={"client_down_kbps": None, "client_up_kbps": None})
    assert shaped_devices(config) == shaped_devices(LAB)


# --------------------------------------------------------------------------------------------
# is a site's client shaped, and how


@pytest.mark.parametrize(
    ("access", "shaped"),
    [
        ({}, True),  # the defaults limit every device
        ({"client_down_kbps": None}, True),
        ({"client_up_kbps": None}, True),
        ({"client_down_kbps": None, "client_up_kbps": None}, False),
        ({"client_down_kbps": None, "client_up_kbps": None, "quota_mb": 100}, True),
        ({"client_down_kbps": None, "client_up_kbps": None, "daily_minutes": 60}, False),
        ({"client_down_kbps": None, "client_up_kbps": None, "throttle_kbps": 64}, False),
    ],
)
def test_is_shaped(access: dict[str, Any], shaped: bool) -> None:
    config = lab_with(access=access)
    assert is_shaped(config, "rtm-lam") is shaped
    assert is_shaped(config, "taman-cik-puan") is True  # the other site keeps the defaults


def test_is_shaped_unknown_site() -> None:
    with pytest.raises(KeyError):
        is_shaped(LAB, "no-such-site")


@pytest.mark.parametrize(
    ("access", "uplinks", "throttled", "expected"),
    [
        ({}, [], False, [("hs-rtmlam", 4000), ("wan0", 1000)]),
        ({}, [], True, [("hs-rtmlam", 256), ("wan0", 256)]),
        # uploads are shaped on every uplink
        (
            {},
            [WAN1, WAN2],
            False,
            [("hs-rtmlam", 4000), ("wan0", 1000), ("wan1", 1000), ("wan2", 1000)],
        ),
        ({}, [WAN1], True, [("hs-rtmlam", 256), ("wan0", 256), ("wan1", 256)]),
        (
            {"client_down_kbps": 2000, "client_up_kbps": 512, "throttle_kbps": 128},
            [],
            False,
            [("hs-rtmlam", 2000), ("wan0", 512)],
        ),
        ({"throttle_kbps": 128}, [], True, [("hs-rtmlam", 128), ("wan0", 128)]),
        # a direction without a rate gets no class, until the client is throttled
        ({"client_down_kbps": None}, [WAN1], False, [("wan0", 1000), ("wan1", 1000)]),
        ({"client_up_kbps": None}, [WAN1], False, [("hs-rtmlam", 4000)]),
        ({"client_down_kbps": None}, [], True, [("hs-rtmlam", 256), ("wan0", 256)]),
        ({"client_down_kbps": None, "client_up_kbps": None, "quota_mb": 50}, [], False, []),
        (
            {"client_down_kbps": None, "client_up_kbps": None, "quota_mb": 50},
            [],
            True,
            [("hs-rtmlam", 256), ("wan0", 256)],
        ),
    ],
)
def test_client_classes(
    access: dict[str, Any],
    uplinks: list[dict[str, Any]],
    throttled: bool,
    expected: list[tuple[str, int]],
) -> None:
    config = lab_with(access=access, uplinks=uplinks)
    assert client_classes(config, "rtm-lam", throttled) == expected


@pytest.mark.parametrize("throttled", [False, True])
def test_client_classes_are_the_sites_own(throttled: bool) -> None:
    """A client of taman-cik-puan is shaped on its own bridge, with its own site's policy."""
    config = lab_with(access={"client_down_kbps": 8000, "throttle_kbps": 64})
    rate = 256 if throttled else None
    assert client_classes(config, "taman-cik-puan", throttled) == [
        ("hs-cikpuan", rate or 4000),
        ("wan0", rate or 1000),
    ]
    own = 64 if throttled else 8000
    assert client_classes(config, "rtm-lam", throttled)[0] == ("hs-rtmlam", own)


def test_client_classes_unknown_site() -> None:
    with pytest.raises(KeyError):
        client_classes(LAB, "no-such-site", False)


# --------------------------------------------------------------------------------------------
# quota


@pytest.mark.parametrize(
    ("quota_mb", "moved", "over"),
    [
        (None, 0, False),
        (None, 10**15, False),  # no quota: never over
        (100, 0, False),
        (100, 99_999_999, False),
        (100, 100_000_000, True),  # megabytes are 10^6 bytes; the quota itself is over
        (100, 100_000_001, True),
        (1, 1_000_000, True),
        (1_000_000, 999_999_999_999, False),
        (1_000_000, 10**12, True),
    ],
)
def test_over_quota(quota_mb: int | None, moved: int, over: bool) -> None:
    config = lab_with(access={"quota_mb": quota_mb})
    assert over_quota(config, "rtm-lam", moved) is over
    assert over_quota(config, "taman-cik-puan", moved) is False  # no quota at the other site


# --------------------------------------------------------------------------------------------
# where a day starts


def local(zone_hours: int, *args: int) -> float:
    """A wall-clock time at UTC+`zone_hours` as a timestamp (Indonesia has no summer time)."""
    return datetime(*args, tzinfo=timezone(timedelta(hours=zone_hours))).timestamp()  # type: ignore[misc]


WIB, WITA, WIT = ZoneInfo("Asia/Jakarta"), ZoneInfo("Asia/Makassar"), ZoneInfo("Asia/Jayapura")


@pytest.mark.parametrize(
    ("now", "zone", "start"),
    [
        (local(8, 2026, 3, 10, 0, 30), WITA, local(8, 2026, 3, 10)),
        (local(7, 2026, 3, 10, 23, 59), WIB, local(7, 2026, 3, 10)),
        (local(7, 2026, 3, 10, 23, 59, 59) + 0.999, WIB, local(7, 2026, 3, 10)),
        (local(9, 2026, 3, 10), WIT, local(9, 2026, 3, 10)),  # midnight itself
        (local(9, 2026, 3, 10) - 0.001, WIT, local(9, 2026, 3, 9)),  # a moment before
        (local(7, 2026, 1, 1, 6), WIB, local(7, 2026, 1, 1)),
        (local(8, 2024, 3, 1, 12), WITA, local(8, 2024, 3, 1)),  # after a leap day
        # one instant, three local days: 23:30 WIB is already tomorrow in WITA and WIT
        (local(7, 2026, 3, 10, 23, 30), WIB, local(7, 2026, 3, 10)),
        (local(7, 2026, 3, 10, 23, 30), WITA, local(8, 2026, 3, 11)),
        (local(7, 2026, 3, 10, 23, 30), WIT, local(9, 2026, 3, 11)),
        # 20:00 UTC is the next day in every Indonesian zone
        (local(0, 2026, 3, 9, 20), WIB, local(7, 2026, 3, 10)),
        (local(0, 2026, 3, 9, 16, 59), WIB, local(7, 2026, 3, 9)),
        (local(0, 2026, 3, 9, 17), WIB, local(7, 2026, 3, 10)),
    ],
)
def test_day_start(now: float, zone: ZoneInfo, start: float) -> None:
    assert day_start(now, zone) == start
    assert start <= now < start + 86_400


@pytest.mark.parametrize(
    ("timezone_name", "hours"),
    [("WIB", 7), ("WITA", 8), ("WIT", 9), ("Asia/Jakarta", 7), ("Asia/Jayapura", 9)],
)
def test_day_start_in_the_nodes_zone(timezone_name: str, hours: int) -> None:
    data = config_to_data(LAB)
    data["node"]["timezone"] = timezone_name
    zone = parse_config(data).node.zoneinfo
    now = local(hours, 2026, 8, 17, 0, 30)
    assert day_start(now, zone) == local(hours, 2026, 8, 17)
    assert day_start(now - 3600, zone) == local(hours, 2026, 8, 16)
