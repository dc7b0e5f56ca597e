"""netctl.apply's parsing of nft's text answers; `Kernel.client_counter` and
`Kernel.learn_garden` over a fake libnftables.

libnftables 1.0 prints `get element` as text even when asked for JSON, so one client's counters
and remaining time are read from text like the samples below (nft 1.0.6's own output). The last
test runs the real `Kernel` against nftables in a new network namespace (idle set, class map).
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from netctl.apply import ClientCounters, Kernel, _expires_in, counter_in
from netctl.libnft import NftError
from tests.unit.netns import run_in_new_netns

MAC = "02:5e:00:01:01:01"
IP = "10.40.1.50"

UP = """table inet simpul {
	set hs_auth {
		type ether_addr . ipv4_addr
		size 262144
		flags timeout
		elements = { 02:5e:00:01:01:01 . 10.40.1.50 counter packets 12 bytes 3456 timeout 1h expires 59m59s996ms }
	}
}
"""  # noqa: E501
DOWN = """table inet simpul {
	set hs_auth_dl {
		type ipv4_addr
		size 262144
		flags timeout
		elements = { 10.40.1.50 counter packets 78 bytes 901234 timeout 1h expires 59m58s }
	}
}
"""


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("counter packets 0 bytes 0", (0, 0)),
        ("counter packets 12 bytes 3456", (12, 3456)),
        ("x counter packets 18446744073709551615 bytes 7 y", (18446744073709551615, 7)),
        (UP, (12, 3456)),
        (DOWN, (78, 901234)),
        ("", (0, 0)),
        ("counter; size 262144;", (0, 0)),  # the set's counter flag is not a counter
        ("counter packets x bytes 1", (0, 0)),
        ("counter bytes 5 packets 6", (0, 0)),  # nft's order is packets, then bytes
        ("counter packets 1 bytes 2, counter packets 3 bytes 4", (1, 2)),  # the first one
    ],
)
def test_counter_in(text: str, expected: tuple[int, int]) -> None:
    assert counter_in(text) == expected


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("expires 59m59s996ms", 3599),
        ("expires 1d2h3m4s", 93784),
        ("expires 1h", 3600),
        ("expires 2h", 7200),
        ("expires 59m", 3540),
        ("expires 45s", 45),
        ("expires 1s999ms", 1),  # whole seconds, rounded down
        ("expires 999ms", 0),
        ("expires 3d", 259200),
        ("expires 1d1ms", 86400),
        ("timeout 2h expires 1h59m", 7140),  # the timeout is not the time left
        (UP, 3599),
        (DOWN, 3598),
        ("timeout 1h", 0),  # missing
        ("", 0),
        ("expires soon", 0),
    ],
)
def test_expires_in(text: str, seconds: int) -> None:
    assert _expires_in(text) == seconds


class FakeNft:
    """Answers `run` with the text given for each command; raises for the ones in `missing`."""

    def __init__(self, answers: dict[str, str], missing: tuple[str, ...] = ()) -> None:
        self.answers = answers
        self.missing = missing
        self.commands: list[str] = []

    def run(self, script: str, **kwargs: Any) -> str:
        self.commands.append(script)
        if script in self.missing:
            raise NftError("Error: Could not process rule: No such file or directory\n", script)
        return self.answers[script]


GET_UP = f"get element inet simpul hs_auth {{ {MAC} . {IP} }}"
GET_DOWN = f"get element inet simpul hs_auth_dl {{ {IP} }}"


def test_client_counter_reads_both_sets() -> None:
    nft = FakeNft({GET_UP: UP, GET_DOWN: DOWN})
    counters = Kernel(nft).client_counter(MAC, IP)  # type: ignore[arg-type]
    assert counters == ClientCounters(MAC, IP, 3456, 12, 901234, 78, 3599)
    assert nft.commands == [GET_UP, GET_DOWN]


@pytest.mark.parametrize("missing", [(GET_UP,), (GET_DOWN,), (GET_UP, GET_DOWN)])
def test_client_counter_is_none_when_the_kernel_lacks_the_client(
    missing: tuple[str, ...],
) -> None:
    nft = FakeNft({GET_UP: UP, GET_DOWN: DOWN}, missing)
    assert Kernel(nft).client_counter(MAC, IP) is None  # type: ignore[arg-type]


LEARN = (
    "add element inet simpul walled_garden_learned "
    "{ 198.51.100.20 timeout 300s, 203.0.113.7 timeout 300s }"
)


# any iterable of addresses: an iterator is read once
ITERABLES = {"list": list, "tuple": tuple, "iterator": iter}


@pytest.mark.parametrize("kind", list(ITERABLES))
def test_learn_garden_runs_one_command(kind: str) -> None:
    nft = FakeNft({LEARN: ""})
    addresses = ITERABLES[kind](["198.51.100.20", "203.0.113.7"])
    Kernel(nft).learn_garden(addresses, 300)  # type: ignore[arg-type]
    assert nft.commands == [LEARN]


@pytest.mark.parametrize("kind", list(ITERABLES))
def test_learn_garden_runs_nothing_for_no_addresses(kind: str) -> None:
    nft = FakeNft({})  # any command would raise KeyError
    Kernel(nft).learn_garden(ITERABLES[kind]([]), 300)  # type: ignore[arg-type]
    assert nft.commands == []


# --------------------------------------------------------------------------------------------
# the real Kernel against nftables, in a new, empty network namespace (`unshare -rn`)

KERNEL_SCRIPT = """
import json, time
from netctl.apply import Kernel
from netctl.libnft import NftError
from netctl.render import Client
from simpul.config import load_config_file

def attempt(call):
    try:
        value = call()
    except NftError as exc:
        return ["NftError", "No such file or directory" in str(exc)]
    return sorted(value) if isinstance(value, set) else value

config = load_config_file("examples/lab.yaml")
now = time.time()
a = Client("02:5e:00:01:01:01", "10.40.1.50", now + 600, 900, 0x10)  # shaped
b = Client("02:5e:00:01:01:02", "10.40.2.20", now + 600, 300, None)  # not rate-limited
k = Kernel()
out = {"before": attempt(k.idle_ips)}
k.apply(config, [a, b], now)
live = k.read_live([a, b], now)
out["sets"] = sorted(live.sets)
out["maps"] = sorted(live.maps)
out["auth"] = sorted(map(list, live.auth_elements))
out["idle"] = attempt(k.idle_ips)
k.learn_garden(["198.51.100.20", "203.0.113.7"], 300)
k.learn_garden([], 300)
k.apply(config, [a], now)  # b's session is gone from the store
out["learned_after_reload"] = sorted(
    [e["elem"]["val"], e["elem"]["timeout"]]
    for obj in k.nft.query("list set inet simpul walled_garden_learned")
    for e in obj.get("set", {}).get("elem", [])
)
out["after_reload"] = attempt(k.idle_ips)
k.authorize([b], now)
out["after_authorize"] = attempt(k.idle_ips)
k.deauthorize([Client(a.mac, a.ip, 0), Client(b.mac, b.ip, 0)])  # b has no class element
out["after_deauthorize"] = attempt(k.idle_ips)
out["counters"] = k.client_counters()
print(json.dumps(out))
"""


def test_kernel_reads_the_idle_set_and_the_class_map_from_nftables() -> None:
    result = run_in_new_netns(KERNEL_SCRIPT)
    if "libnftables" in result.stderr and result.returncode != 0:
        pytest.skip("libnftables is not available")
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout.splitlines()[-1])
    assert out == {
        "before": ["NftError", True],  # no table yet: the kernel says so, nothing is made up
        "sets": [
            "doh_addresses",
            "hs_acct",
            "hs_acct_dl",
            "hs_auth",
            "hs_auth_dl",
            "hs_idle",
            "mac_allow",
            "mac_block",
            "walled_garden",
            "walled_garden_learned",
        ],
        "maps": ["client_class"],
        "auth": [["02:5e:00:01:01:01", "10.40.1.50"], ["02:5e:00:01:01:02", "10.40.2.20"]],
        "idle": ["10.40.1.50", "10.40.2.20"],
        # what the DNS front end learned survives a reload, each element with its timeout
        "learned_after_reload": [["198.51.100.20", 300], ["203.0.113.7", 300]],
        "after_reload": ["10.40.1.50"],
        "after_authorize": ["10.40.1.50", "10.40.2.20"],
        "after_deauthorize": [],
        "counters": [],
    }
