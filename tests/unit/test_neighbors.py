"""The gateway's IPv4 neighbour table (/proc/net/arp): which MAC holds an IP.

Only complete entries (flag 0x2, ATF_COM) count: an incomplete one (0x0, all-zero MAC) is a
neighbour the kernel is still asking for, and must never let a client through as someone else.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from netctl.neighbors import PROC_ARP, mac_of, parse_proc_arp

HEADER = "IP address       HW type     Flags       HW address            Mask     Device\n"


def arp(*rows: str) -> str:
    return HEADER + "".join(f"{row}\n" for row in rows)


COMPLETE = "10.40.1.50       0x1         0x2         02:5e:00:01:01:01     *        hs-rtmlam"
TABLE = arp(
    COMPLETE,
    "10.40.1.51       0x1         0x0         00:00:00:00:00:00     *        hs-rtmlam",
    "10.40.1.52       0x1         0x6         02:5E:00:01:01:AB     *        hs-rtmlam",
    "10.40.2.60       0x1         0x2         02:5e:00:02:02:02     *        hs-cikpuan",
    "10.40.2.61       0x1         0x4         02:5e:00:02:02:03     *        hs-cikpuan",
    "10.40.2.62       0x1         0x2         00:00:00:00:00:00     *        hs-cikpuan",
    "10.40.2.63       0x1         0xzz        02:5e:00:02:02:04     *        hs-cikpuan",
    "10.40.2.64       0x1         0x2         02:5e:00:02:02:05",
    "garbage",
    "",
)


def test_parse_proc_arp_keeps_complete_entries_only() -> None:
    assert parse_proc_arp(TABLE) == {
        "10.40.1.50": "02:5e:00:01:01:01",
        "10.40.1.52": "02:5e:00:01:01:ab",  # complete and permanent (0x6); lowercased
        "10.40.2.60": "02:5e:00:02:02:02",
    }


@pytest.mark.parametrize(
    ("row", "expected"),
    [
        (COMPLETE, {"10.40.1.50": "02:5e:00:01:01:01"}),
        ("10.40.1.50 0x1 0x2 02:5E:00:01:01:0F * hs-rtmlam", {"10.40.1.50": "02:5e:00:01:01:0f"}),
        ("10.40.1.50 0x1 0x0 00:00:00:00:00:00 * hs-rtmlam", {}),  # incomplete
        ("10.40.1.50 0x1 0x0 02:5e:00:01:01:01 * hs-rtmlam", {}),  # stale, not complete
        ("10.40.1.50 0x1 0x4 02:5e:00:01:01:01 * hs-rtmlam", {}),  # permanent, not complete
        ("10.40.1.50 0x1 0x2 00:00:00:00:00:00 * hs-rtmlam", {}),  # the zero MAC
        ("10.40.1.50 0x1 0xc 02:5e:00:01:01:01 * hs-rtmlam", {}),  # 0x8 | 0x4: no 0x2
        ("10.40.1.50 0x1 0xe 02:5e:00:01:01:01 * hs-rtmlam", {"10.40.1.50": "02:5e:00:01:01:01"}),
        ("10.40.1.50 0x1 2 02:5e:00:01:01:01 * hs-rtmlam", {"10.40.1.50": "02:5e:00:01:01:01"}),
        ("10.40.1.50 0x1 flags 02:5e:00:01:01:01 * hs-rtmlam", {}),  # not hex
        ("10.40.1.50 0x1 0x2 02:5e:00:01:01:01 *", {}),  # short line
        ("10.40.1.50", {}),
        ("", {}),
    ],
)
def test_parse_proc_arp_line(row: str, expected: dict[str, str]) -> None:
    assert parse_proc_arp(arp(row)) == expected


@pytest.mark.parametrize("text", ["", HEADER, HEADER.rstrip("\n"), COMPLETE + "\n"])
def test_parse_proc_arp_without_entries(text: str) -> None:
    """The first line is always the header, even when it does not look like one."""
    assert parse_proc_arp(text) == {}


def test_mac_of_reads_the_table(tmp_path: Path) -> None:
    path = tmp_path / "arp"
    path.write_text(TABLE)
    assert mac_of("10.40.1.50", path) == "02:5e:00:01:01:01"
    assert mac_of("10.40.1.52", path) == "02:5e:00:01:01:ab"
    assert mac_of("10.40.1.51", path) is None  # incomplete
    assert mac_of("10.40.2.61", path) is None
    assert mac_of("10.40.9.9", path) is None  # not a neighbour
    path.write_text(arp("10.40.1.50 0x1 0x2 02:5e:00:0a:0b:0c * hs-rtmlam"))
    assert mac_of("10.40.1.50", path) == "02:5e:00:0a:0b:0c"  # read afresh every time


def test_mac_of_unreadable_table_is_unknown(tmp_path: Path) -> None:
    assert mac_of("10.40.1.50", tmp_path / "absent") is None
    assert mac_of("10.40.1.50", tmp_path) is None  # a directory


def test_mac_of_defaults_to_the_kernels_table() -> None:
    assert Path("/proc/net/arp") == PROC_ARP
    assert mac_of.__defaults__ == (PROC_ARP,)
    if PROC_ARP.exists():
        assert mac_of("192.0.2.255") is None  # TEST-NET-1 broadcast: never a neighbour
