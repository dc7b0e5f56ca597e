"""Reading set element and named counters over netlink, checked against nft's own listing in a
network namespace of our own (`unshare -rn`: no root needed where user namespaces are allowed)."""

from __future__ import annotations

import json

import pytest

from netctl.nftdump import _attrs, ip_key, mac_ip_key
from tests.unit.netns import run_in_new_netns

SCRIPT = r"""
import errno, json, subprocess
from netctl.nftdump import NftDump, ip_key, mac_ip_key
out = {}
with NftDump() as dump:
    try:
        dump.set_counters("simpul", "hs_acct")
    except OSError as exc:
        out["missing"] = exc.errno == errno.ENOENT
    elements = ", ".join(
        f"02:5c:00:00:{i >> 8:02x}:{i & 255:02x} . 10.40.{64 + i // 250}.{2 + i % 250} "
        f"counter packets {i} bytes {i * 1000 + 7}"
        for i in range(3000)
    )
    subprocess.run(["nft", "-f", "-"], check=True, text=True, input=f'''
        table inet simpul {{
            counter site_a_up {{ packets 5 bytes 12345678901 }}
            counter opd_b_down {{ }}
            set hs_acct {{ type ether_addr . ipv4_addr; counter; size 65536; }}
            set hs_acct_dl {{ type ipv4_addr; counter; size 65536;
                             elements = {{ 10.40.1.5 counter packets 2 bytes 300 }} }}
        }}
        add element inet simpul hs_acct {{ {elements} }}
    ''')
    up = dump.set_counters("simpul", "hs_acct")
    out["up"] = {"|".join(mac_ip_key(k)): v for k, v in up.items()}
    out["down"] = {ip_key(k): v for k, v in dump.set_counters("simpul", "hs_acct_dl").items()}
    out["named"] = dump.named_counters("simpul")
listed = json.loads(subprocess.run(["nft", "-j", "list", "set", "inet", "simpul", "hs_acct"],
                                   capture_output=True, text=True, check=True).stdout)
out["nft"] = {
    "|".join(e["elem"]["val"]["concat"]): [e["elem"]["counter"]["packets"],
                                          e["elem"]["counter"]["bytes"]]
    for o in listed["nftables"] if "set" in o for e in o["set"]["elem"]
}
print(json.dumps(out))
"""


def test_netlink_counters_match_nfts_listing() -> None:
    result = run_in_new_netns(SCRIPT, "nft")
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout.splitlines()[-1])
    assert out["missing"] is True  # no table: ENOENT, as the kernel says
    assert len(out["up"]) == 3000
    assert out["up"] == out["nft"]  # every element, every counter, as nft lists them
    assert out["up"]["02:5c:00:00:0b:b7|10.40.75.251"] == [2999, 2999007]
    assert out["down"] == {"10.40.1.5": [2, 300]}
    assert out["named"] == {"site_a_up": [5, 12345678901], "opd_b_down": [0, 0]}


def test_keys_decode_as_nft_pads_them() -> None:
    assert mac_ip_key(bytes.fromhex("025c0000bbb7") + b"\0\0" + bytes([10, 40, 75, 252])) == (
        "02:5c:00:00:bb:b7",
        "10.40.75.252",
    )
    assert ip_key(bytes([192, 0, 2, 1])) == "192.0.2.1"


def test_a_truncated_attribute_stops_the_walk() -> None:
    good = (8).to_bytes(2, "little") + (1).to_bytes(2, "little") + b"abcd"
    broken = (2).to_bytes(2, "little") + (1).to_bytes(2, "little")  # length below the header
    assert list(_attrs(good + broken)) == [(1, 4, 8)]
    assert list(_attrs(good[:6])) == []  # cut short: nothing read past the end


def test_a_malformed_answer_is_an_os_error_not_a_crash() -> None:
    """A short counter attribute, as a broken kernel or a fuzzer would send it."""
    import errno

    from netctl import nftdump

    class Fake(nftdump.NftDump):
        def __init__(self, payload: bytes) -> None:
            self.payload = payload

        def _dump(self, message: int, payload: bytes) -> object:
            yield self.payload, 0, len(self.payload)

    short_bytes = nftdump._attr(nftdump.COUNTER_BYTES, b"\x01\x02")  # 2 bytes, not 8
    data = (
        nftdump._attr(nftdump.OBJ_NAME, b"x\0")
        + nftdump._attr(nftdump.OBJ_TABLE, b"simpul\0")
        + nftdump._attr(nftdump.OBJ_DATA, short_bytes)
    )
    with pytest.raises(OSError) as info:
        Fake(data).named_counters("simpul")
    assert info.value.errno == errno.EPROTO
    bad_name = nftdump._attr(nftdump.OBJ_NAME, b"\xff\xfe\0") + nftdump._attr(
        nftdump.OBJ_TABLE, b"simpul\0"
    )
    with pytest.raises(OSError):
        Fake(bad_name).named_counters("simpul")
