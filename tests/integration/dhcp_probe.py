"""Send one DHCPDISCOVER with scapy and print the offer's options as JSON (run in a lab host).

    ip netns exec spt-hs-1 .venv/bin/python tests/integration/dhcp_probe.py eth0

A random locally administered MAC is used, so the exchange never disturbs the host's own lease.
"""

from __future__ import annotations

import json
import random
import sys

from scapy.all import BOOTP, DHCP, IP, UDP, Ether, conf, srp1  # type: ignore[attr-defined]


def main(iface: str) -> dict[str, object]:
    conf.checkIPaddr = False
    mac = ":".join(["02", *(f"{random.randrange(256):02x}" for _ in range(5))])
    chaddr = bytes.fromhex(mac.replace(":", ""))
    discover = (
        Ether(src=mac, dst="ff:ff:ff:ff:ff:ff")
        / IP(src="0.0.0.0", dst="255.255.255.255")
        / UDP(sport=68, dport=67)
        / BOOTP(chaddr=chaddr, xid=random.randrange(1 << 32), flags=0x8000)
        / DHCP(options=[("message-type", "discover"), ("param_req_list", [1, 3, 6, 114]), "end"])
    )
    offer = srp1(discover, iface=iface, timeout=10, verbose=False)
    if offer is None:
        raise SystemExit("no DHCP offer within 10 s")
    options = {}
    for option in offer[DHCP].options:
        if isinstance(option, tuple) and len(option) >= 2:
            options[option[0]] = option[1]
    portal = options.get("captive-portal", options.get(114))
    return {
        "message_type": options.get("message-type"),
        "server_id": options.get("server_id"),
        "router": options.get("router"),
        "captive_portal": portal.decode() if isinstance(portal, bytes) else portal,
    }


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1])))
