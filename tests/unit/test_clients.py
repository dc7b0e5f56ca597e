"""Hotspot client identities: MAC and IP parsing against the configuration, session minutes."""

from __future__ import annotations

from pathlib import Path

import pytest

from netctl.clients import (
    MAX_SESSION_MINUTES,
    ClientError,
    ClientId,
    parse_client,
    parse_mac,
    parse_minutes,
)
from simpul.config import load_config_file

ROOT = Path(__file__).resolve().parents[2]
LAB = load_config_file(str(ROOT / "examples" / "lab.yaml"))  # rtm-lam 10.40.1.0/24, cik-puan .2
MAC = "02:1a:2b:3c:4d:5e"


# --------------------------------------------------------------------------------------------
# MAC


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("02:1a:2b:3c:4d:5e", MAC),
        ("02-1a-2b-3c-4d-5e", MAC),
        ("02:1A:2B:3C:4D:5E", MAC),
        ("02-1A-2b-3C-4d-5E", MAC),
        ("  02:1a:2b:3c:4d:5e\n", MAC),
        ("a4:5e:60:e1:02:03", "a4:5e:60:e1:02:03"),  # a universally administered unicast MAC
        ("fe:ff:ff:ff:ff:ff", "fe:ff:ff:ff:ff:ff"),  # lowest bit of the first octet clear
    ],
)
def test_parse_mac_accepts(text: str, expected: str) -> None:
    assert parse_mac(text) == expected


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("01:00:5e:00:00:fb", "multicast"),  # IPv4 multicast
        ("33:33:00:00:00:01", "multicast"),  # IPv6 multicast
        ("03:1a:2b:3c:4d:5e", "multicast"),
        ("ff:ff:ff:ff:ff:ff", "multicast/broadcast"),
        ("FF-FF-FF-FF-FF-FF", "multicast/broadcast"),
        ("00:00:00:00:00:00", "zero MAC"),
        ("00-00-00-00-00-00", "zero MAC"),
    ],
)
def test_parse_mac_rejects_non_clients(text: str, why: str) -> None:
    with pytest.raises(ClientError, match=why):
        parse_mac(text)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "021a2b3c4d5e",
        "021a.2b3c.4d5e",
        "02.1a.2b.3c.4d.5e",
        "02:1a:2b:3c:4d",
        "02:1a:2b:3c:4d:5e:6f",
        "02:1a:2b:3c:4d:5",
        "2:1a:2b:3c:4d:5e",
        "02:1a:2b:3c:4d:5g",
        "02:1a-2b:3c:4d:5e",  # mixed separators
        "02:1a:2b:3c:4d:5e:",
        "02::1a:2b:3c:4d:5e",
        "02 1a 2b 3c 4d 5e",
        "02:1a:2b:3c:4d:5e junk",
        "０２:1a:2b:3c:4d:5e",  # fullwidth digits
        "10.40.1.10",
    ],
)
def test_parse_mac_rejects_malformed(text: str) -> None:
    with pytest.raises(ClientError, match="is not a MAC address"):
        parse_mac(text)


@pytest.mark.parametrize("value", [None, 42, ["02:1a:2b:3c:4d:5e"]])
def test_parse_mac_rejects_non_text(value: object) -> None:
    with pytest.raises(ClientError):
        parse_mac(value)  # type: ignore[arg-type]


def test_client_error_is_a_value_error() -> None:
    assert issubclass(ClientError, ValueError)


# --------------------------------------------------------------------------------------------
# client address


@pytest.mark.parametrize(
    ("ip", "site", "normal"),
    [
        ("10.40.1.2", "rtm-lam", "10.40.1.2"),
        ("10.40.1.50", "rtm-lam", "10.40.1.50"),
        ("10.40.1.254", "rtm-lam", "10.40.1.254"),
        ("10.40.2.10", "taman-cik-puan", "10.40.2.10"),
        (" 10.40.2.200 ", "taman-cik-puan", "10.40.2.200"),
    ],
)
def test_parse_client_maps_ip_to_site(ip: str, site: str, normal: str) -> None:
    assert parse_client(LAB, "02-1A-2B-3C-4D-5E", ip) == ClientId(MAC, normal, site)


@pytest.mark.parametrize(
    ("ip", "why"),
    [
        ("10.40.1.0", "not a host address of 10.40.1.0/24"),
        ("10.40.1.255", "not a host address of 10.40.1.0/24"),
        ("10.40.2.255", "not a host address of 10.40.2.0/24"),
        ("10.40.1.1", "the gateway's own address on rtm-lam"),
        ("10.40.2.1", "the gateway's own address on taman-cik-puan"),
        ("10.40.3.10", "not inside any hotspot site's subnet"),  # hotspot zone, no site
        ("10.20.2.50", "not inside any hotspot site's subnet"),  # an OPD
        ("10.255.0.10", "not inside any hotspot site's subnet"),  # management
        ("10.60.1.2", "not inside any hotspot site's subnet"),  # a remote site's router
        ("192.0.2.2", "not inside any hotspot site's subnet"),  # the uplink
        ("8.8.8.8", "not inside any hotspot site's subnet"),
        ("0.0.0.0", "not inside any hotspot site's subnet"),
        ("255.255.255.255", "not inside any hotspot site's subnet"),
    ],
)
def test_parse_client_rejects_addresses(ip: str, why: str) -> None:
    with pytest.raises(ClientError, match=why):
        parse_client(LAB, MAC, ip)


@pytest.mark.parametrize(
    "ip",
    ["", "not-an-ip", "10.40.1", "10.40.1.256", "10.40.1.10/24", "010.040.001.010", "fe80::1"],
)
def test_parse_client_rejects_non_ipv4(ip: str) -> None:
    with pytest.raises(ClientError, match="is not an IPv4 address"):
        parse_client(LAB, MAC, ip)


def test_parse_client_checks_the_mac_too() -> None:
    with pytest.raises(ClientError, match="multicast"):
        parse_client(LAB, "01:00:5e:00:00:fb", "10.40.1.10")
    with pytest.raises(ClientError, match="not a MAC"):
        parse_client(LAB, "nonsense", "10.40.1.10")


def test_parse_client_without_hotspot_sites() -> None:
    bare = LAB.model_copy(update={"hotspot_sites": []})
    with pytest.raises(ClientError, match="not inside any hotspot site's subnet"):
        parse_client(bare, MAC, "10.40.1.10")


# --------------------------------------------------------------------------------------------
# minutes


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, 120),
        (1, 1),
        (30, 30),
        (MAX_SESSION_MINUTES, MAX_SESSION_MINUTES),
        ("45", 45),
        (" 45 ", 45),
        (60.0, 60),
    ],
)
def test_parse_minutes_accepts(value: object, expected: int) -> None:
    assert parse_minutes(value, 120) == expected


def test_max_session_is_a_week() -> None:
    assert MAX_SESSION_MINUTES == 7 * 24 * 60


@pytest.mark.parametrize("value", [0, -1, MAX_SESSION_MINUTES + 1, "0", "10081", 10**12, 20000.0])
def test_parse_minutes_bounds(value: object) -> None:
    with pytest.raises(ClientError, match=f"between 1 and {MAX_SESSION_MINUTES}"):
        parse_minutes(value, 120)


@pytest.mark.parametrize("value", [True, False, [30], {"m": 30}, (30,), b"30", object()])
def test_parse_minutes_types(value: object) -> None:
    with pytest.raises(ClientError, match="must be a number"):
        parse_minutes(value, 120)


@pytest.mark.parametrize("value", ["", "abc", "1.5", "30m", "1e3", float("nan"), "9" * 5000])
def test_parse_minutes_not_whole(value: object) -> None:
    with pytest.raises(ClientError, match="whole number"):
        parse_minutes(value, 120)


@pytest.mark.parametrize("value", [float("inf"), float("-inf")])
def test_parse_minutes_rejects_infinity(value: float) -> None:
    with pytest.raises(ClientError):
        parse_minutes(value, 120)
