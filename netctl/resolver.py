"""Render the gateway's caching resolver (Unbound) configuration from the model. Pure: no I/O.

Every zone network may query it; anything else is refused. With forwarders (the lab, whose
"internet" has its own fake root) Unbound forwards everything and does not validate; without them
it resolves from the real roots with the DNSSEC validator.
"""

from __future__ import annotations

from collections.abc import Sequence
from ipaddress import IPv4Network, ip_address

from simpul.config.model import Config

UNBOUND = "/usr/sbin/unbound"


def client_networks(config: Config) -> list[IPv4Network]:
    """The networks allowed to query: management, every OPD, hotspot and remote-site subnet."""
    nets = [config.zones.management.address.network]
    nets += [o.subnet for o in config.opds]
    nets += [s.subnet for s in config.hotspot_sites]
    nets += [r.subnet for r in config.remote_sites]
    return nets


def _address(what: str, value: str, *, port_allowed: bool = False) -> str:
    """`value` if it is an IP address (or ``address@port`` where allowed), else ValueError."""
    host, sep, port = value.partition("@") if port_allowed else (value, "", "")
    try:
        ip_address(host)
    except ValueError:
        raise ValueError(f"{what} {value!r} is not an IP address") from None
    if sep and not (port.isdigit() and 1 <= int(port) <= 65535):
        raise ValueError(f"{what} {value!r}: the port after '@' must be 1-65535")
    return value


def _quoted(what: str, value: str) -> str:
    if any(c in value for c in '"\n\r'):
        raise ValueError(f"{what} must be one line without '\"': {value!r}")
    return f'"{value}"'


def render_unbound(
    config: Config,
    *,
    forwarders: Sequence[str],
    pid_file: str,
    directory: str,
    port: int = 53,
    listen: Sequence[str] = ("0.0.0.0",),
) -> str:
    """The Unbound configuration of the gateway's resolver, run in the foreground as the caller.

    `forwarders` are addresses (``192.0.2.53`` or ``192.0.2.53@5353``) that receive every query;
    when empty, Unbound iterates from the root servers itself and validates DNSSEC.
    """
    if not 1 <= port <= 65535:
        raise ValueError(f"port {port} is not 1-65535")
    addresses = [_address("listen address", a) for a in listen]
    upstream = [_address("forwarder", f, port_allowed=True) for f in forwarders]
    lines = [
        f"# Rendered by Simpul for node {config.node.name!r} ({config.node.regency}).",
        "# Do not edit: netd rewrites this file from the configuration.",
        "",
        "server:",
    ]
    lines += [f"    interface: {a}" for a in addresses]
    if any(ip_address(a).is_unspecified for a in addresses):
        # On a wildcard socket, answer from the address each query was sent to.
        lines.append("    interface-automatic: yes")
    lines += [
        f"    port: {port}",
        "    do-daemonize: no",
        '    username: ""',
        '    chroot: ""',
        f"    directory: {_quoted('directory', directory)}",
        f"    pidfile: {_quoted('pid_file', pid_file)}",
        "    use-syslog: no",
        '    logfile: ""',
        "    verbosity: 1",
        "    do-ip4: yes",
        "    do-ip6: no",
        "    ip-freebind: yes",
        "    so-reuseport: yes",
        "    hide-identity: yes",
        "    hide-version: yes",
        "    prefetch: yes",
        "",
        "    access-control: 0.0.0.0/0 refuse",
        "    access-control: ::0/0 refuse",
        "    access-control: 127.0.0.0/8 allow",
    ]
    lines += [f"    access-control: {net} allow" for net in client_networks(config)]
    portal = config.portal_address
    if portal is not None:
        host = config.portal.hostname
        lines += [
            "",
            "    # The captive portal's name points at the gateway itself.",
            f'    local-zone: "{host}." static',
            f'    local-data: "{host}. 60 IN A {portal}"',
        ]
    lines.append("")
    if upstream:
        lines += [
            "    # Lab: upstream is a fake root, so no DNSSEC validation.",
            '    module-config: "iterator"',
            "    # Forwarders may be on this host: Unbound will not query 127.0.0.0/8 by default.",
            "    do-not-query-localhost: no",
        ]
    else:
        lines += [
            "    # No trust anchor here: production adds Debian's auto-trust-anchor-file",
            "    # (/var/lib/unbound/root.key, kept current by unbound-anchor).",
            '    module-config: "validator iterator"',
        ]
    lines += ["", "remote-control:", "    control-enable: no"]
    if upstream:
        lines += ["", "forward-zone:", '    name: "."']
        lines += [f"    forward-addr: {f}" for f in upstream]
    return "\n".join(lines) + "\n"


def unbound_command(conf_path: str) -> list[str]:
    """The argv that runs Unbound on `conf_path` in the foreground (it logs to stderr)."""
    return [UNBOUND, "-d", "-c", conf_path]
