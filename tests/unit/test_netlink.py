"""netctl.netlink.Shaper against the real kernel: tc HTB classes on a bridge in a new, empty
network namespace (`unshare -rn`: no privileges needed, no effect outside).

Each test runs a small script in the namespace and reads back `tc class show` and what the
Shaper answered; skipped where unshare, ip or tc are missing or namespaces are not allowed.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]

PRELUDE = """
import json, subprocess
from netctl.netlink import Shaper

def sh(*argv):
    subprocess.run(argv, check=True, capture_output=True)

def bridge(name):
    sh("ip", "link", "add", name, "type", "bridge")
    sh("ip", "link", "set", name, "up")

def classes(device):
    return subprocess.run(
        ["tc", "class", "show", "dev", device], check=True, capture_output=True, text=True
    ).stdout

def attempt(call):
    try:
        value = call()
    except Exception as exc:
        return [type(exc).__name__, getattr(exc, "errno", None)]
    return sorted(value) if isinstance(value, set) else value

out = {}
"""


def in_namespace(body: str) -> dict[str, Any]:
    """Run PRELUDE + `body` in a new user and network namespace; its `out` as JSON."""
    unshare = shutil.which("unshare")
    tools = [shutil.which(t, path="/usr/sbin:/sbin:/usr/bin:/bin") for t in ("ip", "tc")]
    if unshare is None or None in tools:
        pytest.skip("unshare, ip or tc is not installed")
    probe = subprocess.run(
        [unshare, "-rn", "ip", "link", "add", "probe0", "type", "bridge"],
        capture_output=True,
        timeout=30,
        check=False,
    )
    if probe.returncode != 0:
        pytest.skip(f"cannot make a bridge in a network namespace here: {probe.stderr!r}")
    code = PRELUDE + textwrap.dedent(body) + "\nprint(json.dumps(out))\n"
    result = subprocess.run(
        [unshare, "-rn", sys.executable, "-c", code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/sbin:/sbin:/usr/bin:/bin"},
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.splitlines()[-1])


CLASS = re.compile(r"class htb (\S+) (?:parent (\S+)|root) .*?rate (\S+) ceil (\S+)")


def htb(listing: str) -> dict[str, tuple[str | None, str, str]]:
    """`tc class show` -> class id -> (parent, rate, ceil)."""
    found = {}
    for line in listing.splitlines():
        match = CLASS.match(line)
        assert match, line
        found[match[1]] = (match[2], match[3], match[4])
    return found


def test_shaper_builds_and_keeps_the_htb_tree() -> None:
    out = in_namespace(
        """
        bridge("hs0")
        s = Shaper()
        s.ensure_root("hs0", 20000)
        out["root"] = classes("hs0")
        s.set_client("hs0", 0x10, 4000)
        s.set_client("hs0", 0x11, 1000)
        s.set_client("hs0", 0x1ff, 256)
        out["clients"] = classes("hs0")
        out["minors"] = attempt(lambda: s.client_minors("hs0"))
        s.set_client("hs0", 0x10, 256)  # throttled: the class changes in place
        s.ensure_root("hs0", 30000)  # an apply: the root changes, client classes stay
        out["again"] = classes("hs0")
        out["removed"] = attempt(lambda: s.remove_client("hs0", 0x11))
        out["removed_twice"] = attempt(lambda: s.remove_client("hs0", 0x11))
        out["never_there"] = attempt(lambda: s.remove_client("hs0", 0x77))
        out["minors_after"] = attempt(lambda: s.client_minors("hs0"))
        s.ensure_root("hs0", None)  # no bandwidth known: "unlimited"
        out["unlimited"] = classes("hs0")
        """
    )
    assert htb(out["root"]) == {
        "1:1": (None, "20Mbit", "20Mbit"),
        "1:2": ("1:1", "20Mbit", "20Mbit"),  # the default class: unshaped traffic
    }
    assert htb(out["clients"]) == {
        "1:1": (None, "20Mbit", "20Mbit"),
        "1:2": ("1:1", "20Mbit", "20Mbit"),
        "1:10": ("1:1", "4Mbit", "4Mbit"),
        "1:11": ("1:1", "1Mbit", "1Mbit"),
        "1:1ff": ("1:1", "256Kbit", "256Kbit"),
    }
    assert out["minors"] == [0x10, 0x11, 0x1FF]  # never the default class 1:2
    assert htb(out["again"]) == {
        "1:1": (None, "30Mbit", "30Mbit"),
        "1:2": ("1:1", "30Mbit", "30Mbit"),
        "1:10": ("1:1", "256Kbit", "256Kbit"),
        "1:11": ("1:1", "1Mbit", "1Mbit"),
        "1:1ff": ("1:1", "256Kbit", "256Kbit"),
    }
    assert (out["removed"], out["removed_twice"], out["never_there"]) == (None, None, None)
    assert out["minors_after"] == [0x10, 0x1FF]
    unlimited = htb(out["unlimited"])
    assert (unlimited["1:1"], unlimited["1:2"][1:]) == (
        (None, "10Gbit", "10Gbit"),
        ("10Gbit", "10Gbit"),
    )


def test_shaper_refuses_an_unknown_device_with_oserror() -> None:
    out = in_namespace(
        """
        s = Shaper()
        out["root"] = attempt(lambda: s.ensure_root("nosuch0", 1000))
        out["client"] = attempt(lambda: s.set_client("nosuch0", 0x10, 1000))
        out["remove"] = attempt(lambda: s.remove_client("nosuch0", 0x10))
        out["minors"] = attempt(lambda: s.client_minors("nosuch0"))
        """
    )
    assert out == {
        "root": ["OSError", 19],
        "client": ["OSError", 19],
        "remove": ["OSError", 19],
        "minors": ["OSError", 19],
    }


def test_shaper_works_on_several_devices_at_once() -> None:
    out = in_namespace(
        """
        bridge("hs0")
        bridge("wan0")
        s = Shaper()
        s.ensure_root("hs0", 20000)
        s.ensure_root("wan0", 300000)
        s.set_client("hs0", 0x10, 4000)
        s.set_client("wan0", 0x10, 1000)
        s.set_client("wan0", 0x11, 1000)
        out["hs0"] = attempt(lambda: s.client_minors("hs0"))
        out["wan0"] = attempt(lambda: s.client_minors("wan0"))
        out["wan0_classes"] = classes("wan0")
        """
    )
    assert (out["hs0"], out["wan0"]) == ([0x10], [0x10, 0x11])
    assert htb(out["wan0_classes"])["1:10"] == ("1:1", "1Mbit", "1Mbit")


def test_shaper_follows_a_recreated_device() -> None:
    out = in_namespace(
        """
        bridge("hs0")
        s = Shaper()
        s.ensure_root("hs0", 20000)
        s.set_client("hs0", 0x10, 4000)
        sh("ip", "link", "del", "hs0")
        bridge("hs0")  # the same name, a new device
        out["root"] = attempt(lambda: s.ensure_root("hs0", 20000))
        out["client"] = attempt(lambda: s.set_client("hs0", 0x10, 4000))
        out["minors"] = attempt(lambda: s.client_minors("hs0"))
        """
    )
    assert out == {"root": None, "client": None, "minors": [0x10]}


def test_shaper_builds_the_download_ifb_with_an_unshaped_default() -> None:
    """The OPDs' download IFB: `1:1` (the downlink) holds the OPD and conferencing classes;
    the default `1:3` sits beside it, directly under the root, unlimited, so LAN traffic that
    nftables gave no class (OPD to OPD, management, the gateway's own answers) is not capped."""
    out = in_namespace(
        """
        s = Shaper()
        s.ensure_ifb("simpul-down", 20000)
        out["state"] = subprocess.run(
            ["ip", "-j", "-d", "link", "show", "simpul-down"], check=True, capture_output=True,
            text=True,
        ).stdout
        out["fresh"] = classes("simpul-down")
        s.set_class("simpul-down", 0xF000, 12000, 20000, 1)
        s.set_class("simpul-down", 0xFFF0, 4000, 20000, 0)
        out["minors"] = attempt(lambda: s.minors("simpul-down"))
        out["again"] = attempt(lambda: s.ensure_ifb("simpul-down", 30000))  # a reload
        out["kept"] = classes("simpul-down")
        out["qdisc"] = subprocess.run(
            ["tc", "qdisc", "show", "dev", "simpul-down"], check=True, capture_output=True,
            text=True,
        ).stdout
        """
    )
    (link,) = json.loads(out["state"])
    assert link["ifname"] == "simpul-down" and "UP" in link["flags"]
    assert link["linkinfo"]["info_kind"] == "ifb"
    assert htb(out["fresh"]) == {
        "1:1": (None, "20Mbit", "20Mbit"),  # the downlink, for classified packets only
        "1:3": (None, "10Gbit", "10Gbit"),  # the default: unshaped, not under 1:1
    }
    assert out["minors"] == [0xF000, 0xFFF0]  # never 1:3
    assert out["again"] is None
    assert htb(out["kept"]) == {
        "1:1": (None, "30Mbit", "30Mbit"),
        "1:3": (None, "10Gbit", "10Gbit"),
        "1:f000": ("1:1", "12Mbit", "20Mbit"),  # the classes survive the reload
        "1:fff0": ("1:1", "4Mbit", "20Mbit"),
    }
    assert re.search(r"qdisc htb 1: root .*default 0x3\b", out["qdisc"]), out["qdisc"]


def test_shaper_replaces_an_ifb_root_whose_default_is_under_the_shared_class() -> None:
    """An IFB left with the old layout (an `ensure_root` tree: default 1:2 under 1:1, which
    capped all LAN traffic at the downlink) gets the new root; netd then puts the OPD classes
    back (set_class right after ensure_ifb)."""
    out = in_namespace(
        """
        sh("ip", "link", "add", "simpul-down", "type", "ifb")
        s = Shaper()
        s.ensure_root("simpul-down", 20000)
        s.set_class("simpul-down", 0xF000, 12000, 20000, 1)
        out["old"] = classes("simpul-down")
        s.ensure_ifb("simpul-down", 20000)
        out["new"] = classes("simpul-down")
        out["qdisc"] = subprocess.run(
            ["tc", "qdisc", "show", "dev", "simpul-down"], check=True, capture_output=True,
            text=True,
        ).stdout
        out["twice"] = attempt(lambda: s.ensure_ifb("simpul-down", 20000))
        """
    )
    assert htb(out["old"])["1:2"] == ("1:1", "20Mbit", "20Mbit")
    assert htb(out["new"]) == {"1:1": (None, "20Mbit", "20Mbit"), "1:3": (None, "10Gbit", "10Gbit")}
    assert re.search(r"qdisc htb 1: root .*default 0x3\b", out["qdisc"]), out["qdisc"]
    assert out["twice"] is None


def test_shaper_reports_an_ifb_it_cannot_make_with_oserror() -> None:
    out = in_namespace(
        """
        bridge("hs0")
        s = Shaper()
        # a name too long for a device
        out["long"] = attempt(lambda: s.ensure_ifb("x" * 20, 1000))
        """
    )
    assert out["long"][0] == "OSError"
