"""Apply rendered rulesets and client changes to the kernel. The one place that writes nftables.

Every apply is checked first by the kernel (a dry-run of the exact same buffer), then loaded as one
transaction. A refused buffer changes nothing.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from ipaddress import IPv4Network
from pathlib import Path
from typing import Any

from netctl.libnft import Nft, NftError
from netctl.render import (
    AUTH_DL_SET,
    AUTH_SET,
    FAMILY,
    IDLE_SET,
    TABLE,
    Client,
    LiveState,
    Rendered,
    element_commands,
    grant_commands,
    learned_commands,
    render,
)
from simpul.config import Config


@dataclass(frozen=True)
class ClientCounters:
    """Kernel counters of one authorized client."""

    mac: str
    ip: str
    up_bytes: int
    up_packets: int
    down_bytes: int
    down_packets: int
    expires_s: int


def _elements(set_obj: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for item in set_obj.get("elem", []):
        out.append(item["elem"] if isinstance(item, dict) and "elem" in item else {"val": item})
    return out


_COUNTER = re.compile(r"counter packets (\d+) bytes (\d+)")
_EXPIRES = re.compile(r"expires ((?:\d+(?:ms|[dhms]))+)")
_DURATION_PART = re.compile(r"(\d+)(ms|[dhms])")
_UNIT_S = {"d": 86400.0, "h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}


def counter_in(text: str) -> tuple[int, int]:
    """(packets, bytes) of the counter in nft's text for one element (0, 0 if none)."""
    match = _COUNTER.search(text)
    return (int(match.group(1)), int(match.group(2))) if match else (0, 0)


def _expires_in(text: str) -> int:
    match = _EXPIRES.search(text)
    if not match:
        return 0
    return int(sum(int(n) * _UNIT_S[u] for n, u in _DURATION_PART.findall(match.group(1))))


def _key(val: Any) -> tuple[str, ...]:
    if isinstance(val, dict) and "concat" in val:
        return tuple(str(v) for v in val["concat"])
    return (str(val),)


class Kernel:
    """nftables state of table `inet simpul` in the current network namespace."""

    def __init__(self, nft: Nft | None = None) -> None:
        self.nft = nft or Nft()

    def table(self, *, elements: bool = True) -> list[dict[str, Any]]:
        """The JSON objects of the table, or [] if it does not exist (`elements=False` is cheap
        with many clients: set elements are left out)."""
        try:
            return self.nft.query(f"list table {FAMILY} {TABLE}", terse=not elements)
        except NftError as exc:
            if "No such file or directory" in str(exc):
                return []
            raise

    def read_live(self, clients: Iterable[Client], now: float) -> LiveState:
        """What the kernel holds, together with the store's authorized `clients`."""
        objects = self.table()
        chains, sets, maps, counters = set(), set(), set(), set()
        auth: set[tuple[str, str]] = set()
        auth_dl: set[str] = set()
        for obj in objects:
            if "chain" in obj:
                chains.add(obj["chain"]["name"])
            elif "map" in obj:
                maps.add(obj["map"]["name"])
            elif "counter" in obj:
                counters.add(obj["counter"]["name"])
            elif "set" in obj:
                name = obj["set"]["name"]
                sets.add(name)
                if name == AUTH_SET:
                    auth = {(k[0], k[1]) for e in _elements(obj["set"]) for k in [_key(e["val"])]}
                elif name == AUTH_DL_SET:
                    auth_dl = {_key(e["val"])[0] for e in _elements(obj["set"])}
        return LiveState(
            now=now,
            clients=tuple(clients),
            table_exists=bool(objects),
            chains=frozenset(chains),
            sets=frozenset(sets),
            maps=frozenset(maps),
            counters=frozenset(counters),
            auth_elements=frozenset(auth),
            auth_dl_elements=frozenset(auth_dl),
        )

    def apply(
        self,
        config: Config,
        clients: Iterable[Client],
        now: float,
        *,
        check_only: bool = False,
        doh: Sequence[IPv4Network] = (),
    ) -> Rendered:
        """Render `config` over the live table; the kernel checks it, then it loads atomically."""
        rendered = render(config, self.read_live(clients, now), doh)
        # A throwaway context checks: a dry run leaves libnftables' cache believing in objects
        # the kernel never got, and the real run would then merge intervals against them.
        with Nft() as checker:
            checker.run(rendered.script, check_only=True)
        if not check_only:
            self.nft.run(rendered.script)
        return rendered

    def authorize(self, clients: Iterable[Client], now: float) -> None:
        """Add (or extend) authorized clients in one transaction."""
        commands = grant_commands(clients, now)
        if commands:
            self.nft.run("\n".join(commands))

    def learn_garden(self, addresses: Iterable[str], ttl_s: int) -> None:
        """Open addresses answered for walled-garden names for `ttl_s` seconds."""
        addresses = list(addresses)
        if addresses:
            self.nft.run(learned_commands(addresses, ttl_s))

    def forget_garden(self, addresses: Iterable[str]) -> None:
        """Take learned walled-garden addresses out (NftError if one is not there)."""
        addresses = list(addresses)
        if addresses:
            self.nft.run(learned_commands(addresses, 0, verb="delete"))

    def deauthorize(self, clients: Iterable[Client]) -> None:
        """Remove clients; ones already gone (expired in the kernel) are ignored."""
        for client in clients:
            for command in element_commands([client], 0, verb="delete"):
                try:
                    self.nft.run(command)
                except NftError as exc:
                    if "No such file or directory" not in str(exc):
                        raise

    def counters(self) -> dict[str, tuple[int, int]]:
        """Named counters: name -> (packets, bytes)."""
        out = {}
        for obj in self.nft.query(f"list counters table {FAMILY} {TABLE}"):
            if "counter" in obj:
                c = obj["counter"]
                out[c["name"]] = (int(c["packets"]), int(c["bytes"]))
        return out

    @staticmethod
    def interface_counters(interfaces: Iterable[str]) -> dict[str, dict[str, int]]:
        """Byte and packet counters the kernel keeps for each interface anyway (uplinks are
        counted this way: no extra per-packet work in nftables)."""
        out = {}
        for name in interfaces:
            stats = Path("/sys/class/net") / name / "statistics"
            try:
                out[name] = {
                    key: int((stats / key).read_text())
                    for key in ("rx_bytes", "tx_bytes", "rx_packets", "tx_packets")
                }
            except OSError:
                continue
        return out

    def idle_ips(self) -> set[str]:
        """Clients the kernel has seen within their idle time (elements of the idle set)."""
        return {
            _key(e["val"])[0]
            for obj in self.nft.query(f"list set {FAMILY} {TABLE} {IDLE_SET}")
            for e in _elements(obj.get("set", {}))
        }

    def client_counter(self, mac: str, ip: str) -> ClientCounters | None:
        """One client's counters (a lookup by key: cheap however many clients there are)."""
        try:
            # libnftables 1.0 prints `get element` as text even when asked for JSON.
            up = self.nft.run(f"get element {FAMILY} {TABLE} {AUTH_SET} {{ {mac} . {ip} }}")
            down = self.nft.run(f"get element {FAMILY} {TABLE} {AUTH_DL_SET} {{ {ip} }}")
        except NftError:
            return None
        up_packets, up_bytes = counter_in(up)
        down_packets, down_bytes = counter_in(down)
        return ClientCounters(
            mac, ip, up_bytes, up_packets, down_bytes, down_packets, _expires_in(up)
        )

    def client_counters(self) -> list[ClientCounters]:
        """Per-client counters from the authorization sets."""
        down: dict[str, tuple[int, int]] = {}
        for obj in self.nft.query(f"list set {FAMILY} {TABLE} {AUTH_DL_SET}"):
            for e in _elements(obj.get("set", {})):
                counter = e.get("counter", {})
                down[_key(e["val"])[0]] = (counter.get("packets", 0), counter.get("bytes", 0))
        out = []
        for obj in self.nft.query(f"list set {FAMILY} {TABLE} {AUTH_SET}"):
            for e in _elements(obj.get("set", {})):
                mac, ip = _key(e["val"])
                counter = e.get("counter", {})
                d_packets, d_bytes = down.get(ip, (0, 0))
                out.append(
                    ClientCounters(
                        mac,
                        ip,
                        up_bytes=counter.get("bytes", 0),
                        up_packets=counter.get("packets", 0),
                        down_bytes=d_bytes,
                        down_packets=d_packets,
                        expires_s=int(e.get("expires", 0)),
                    )
                )
        return out

    def remove_table(self) -> bool:
        """Delete table `inet simpul` (used by lab teardown and tests); False if it was absent."""
        try:
            self.nft.run(f"delete table {FAMILY} {TABLE}")
        except NftError as exc:
            if "No such file or directory" in str(exc):
                return False
            raise
        return True
