"""netd: the one privileged Simpul daemon.

It applies the ruleset rendered from the store's configuration, authorizes and expires hotspot
clients (set elements, never a rule or a process per client), restores everything at start, runs the
DHCP server and the resolver with configurations rendered from the same model, and answers a JSON
API on a Unix socket whose group decides who may call it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import difflib
import grp
import hashlib
import json
import logging
import os
import pwd
import queue
import re
import secrets
import signal
import socket
import sqlite3
import struct
import time
from collections.abc import Callable, Collection
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, replace
from ipaddress import IPv4Address, IPv4Network
from typing import Any

from netctl import bandwidth, fair_use, netlink
from netctl.accounting import Accounting
from netctl.apply import Kernel
from netctl.children import Child, write_atomic
from netctl.clients import (
    ClientError,
    ClientId,
    parse_client,
    parse_ip,
    parse_mac,
    parse_minutes,
)
from netctl.config_api import ConfigApi
from netctl.dhcp import dnsmasq_command, render_dnsmasq
from netctl.dns_child import dnsd_command, render_dnsd_config, user_ids
from netctl.errors import RequestError
from netctl.libnft import NftError
from netctl.protocol import DEFAULT_SOCKET, MAX_LINE, encode
from netctl.render import Client, build_ruleset
from netctl.resolver import render_unbound, unbound_command
from netctl.voucher_api import VoucherApi
from simpul import __version__, phones, pseudonyms, vouchers
from simpul.config import ConfigError
from simpul.filtering.addresses import AddressListError, doh_networks
from simpul.filtering.engine import check_lists
from simpul.filtering.lists import ListError
from simpul.store import Session, Store
from simpul.usage.db import USAGE_DB, CycleRecord, UsageDb

log = logging.getLogger("simpul.netd")
EXPIRY_INTERVAL_S = 10.0
PURGE_INTERVAL_S = 3600.0
# The conntrack walk scans the kernel's whole hash table (~10 ms of CPU on 262,144 buckets, empty
# or not): in a login storm at most this often, every grant waiting by then in one walk.
FORGET_INTERVAL_S = 0.1
READ_METHODS = frozenset(
    {"ping", "status", "clients", "diff", "counters", "whois", "usage_buckets",
     "config_pending", "config_revisions", "audit_log", "voucher_batches"}
)  # fmt: skip
# Reads that carry secrets (SNMP keys, the InfluxDB token, the RADIUS secret and OTP gateway
# token): the socket's group (portal, exporter, monitor and console) and root only, never the
# DNS front end.
SECRET_METHODS = frozenset({"export_config", "monitor_config", "config_document",
                            "config_preview", "portal_config"})  # fmt: skip
FIVE_MINUTES, MAX_EXPORT_BUCKETS = 300, 288
# Only the DNS front end (its own uid) and root may call these; the front end, which parses
# whatever the network sends, may call nothing else that changes anything.
DNS_METHODS = frozenset({"garden_learn", "cut_flows"})
ON_BEHALF = re.compile(r"^[a-z0-9][a-z0-9._-]{0,31}$")


GARDEN_MIN_TTL_S, GARDEN_MAX_TTL_S = 30, 86_400
GARDEN_TRACKED = 65_536
MAX_ADDRESSES = 1024


def _openable(config: Any, address: str) -> bool:
    """Whether a walled-garden answer may be opened: a unicast address outside the node's
    own networks (whatever a DNS answer says, it never opens the way to the LANs)."""
    ip = IPv4Address(address)
    if ip.is_loopback or ip.is_link_local or ip.is_multicast or ip.is_unspecified:
        return False
    return not any(ip in net for net in config.zones.networks)


def _addresses(value: Any) -> list[str]:
    """A list of IPv4 addresses from a request, or RequestError."""
    if not isinstance(value, list) or not 0 < len(value) <= MAX_ADDRESSES:
        raise RequestError("invalid", f"addresses must be a list of 1-{MAX_ADDRESSES} addresses")
    try:
        return sorted({str(IPv4Address(str(a))) for a in value})
    except ValueError:
        raise RequestError("invalid", "addresses must be IPv4 addresses") from None


class Netd:
    """The daemon's state and its API methods. Methods run one at a time (under `lock`)."""

    def __init__(
        self,
        store: Store,
        kernel: Kernel,
        state_dir: str,
        *,
        supervise: bool = False,
        clock: Callable[[], float] = time.time,
        mac_of: Callable[[str], str | None] | None = None,
        forget_redirected: Callable[[Collection[str]], int] = netlink.forget_redirected,
        cut_connections: Callable[[IPv4Network, Collection[str]], int] = netlink.cut_connections,
        shaper: Any = None,
        run_later: Callable[[Callable[[], None]], object] | None = None,
        dns_user: str = "nobody",
        socket_path: str = DEFAULT_SOCKET,
        accounting: Accounting | None = None,
    ) -> None:
        self.store = store
        self.kernel = kernel
        self.state_dir = state_dir
        self.clock = clock
        self.mac_of = mac_of or self._neighbour_mac
        self._neighbours: netlink.Neighbours | None = None
        self.forget_redirected = forget_redirected
        self.cut_connections = cut_connections
        self._garden: dict[str, float] = {}  # walled-garden address -> until when it is open
        self.shaper = shaper
        self.secret = _node_secret(os.path.join(state_dir, "node.key"))
        store.pseudonymize = lambda mac: pseudonyms.device(self.secret, mac)
        self._next_purge = 0.0
        self._config_cache: tuple[int, Any] | None = None
        self._to_forget: queue.SimpleQueue[str] = queue.SimpleQueue()
        self._forgot_at = -FORGET_INTERVAL_S
        self._background = ThreadPoolExecutor(max_workers=1, thread_name_prefix="netd-later")
        self.run_later = run_later or self._background.submit
        self.started_at = clock()
        self.lock = asyncio.Lock()
        self.applied_path = os.path.join(state_dir, "applied.nft")
        self.last_apply: dict[str, Any] | None = None
        self.children: list[Child] = []
        self.accounting = accounting
        self._next_cycle = 0.0
        # The configuration the kernel's ruleset was rendered from: its named counters are
        # what the kernel counts, even after an import not yet applied.
        self._applied_config: Any = None
        self.dns_dir = os.path.join(state_dir, "dnsd")
        self.dns_user = dns_user
        self.dns_uid = user_ids(dns_user)[0] if supervise else None
        self.socket_path = socket_path
        if supervise:
            self.children = [
                Child(
                    name,
                    os.path.join(state_dir, f"{name}.conf"),
                    argv,
                    os.path.join(state_dir, f"{name}.log"),
                    os.path.join(state_dir, f"{name}.pid"),
                )
                for name, argv in (("dnsmasq", dnsmasq_command), ("unbound", unbound_command))
            ]
            # The policy DNS front end: unprivileged, reloads on SIGHUP.
            self.children.append(
                Child(
                    "dnsd",
                    os.path.join(state_dir, "dnsd.json"),
                    lambda conf: dnsd_command(conf, dns_user),
                    os.path.join(state_dir, "dnsd.log"),
                    os.path.join(self.dns_dir, "dnsd.pid"),
                    reload_signal=signal.SIGHUP,
                )
            )
        self.changes = ConfigApi(
            store, self.apply, self.applied_path, os.path.join(state_dir, "pending-change.json"),
            clock, self._end_device,
        )  # fmt: skip
        self.voucher_api = VoucherApi(store, clock)
        self.methods: dict[str, Callable[[dict[str, Any]], Any]] = {
            "ping": self.ping,
            "status": self.status,
            "apply": self.apply,
            "diff": self.diff,
            "authorize": self.authorize,
            "deauthorize": self.deauthorize,
            "logout": self.logout,
            "redeem_voucher": self.redeem_voucher,
            "otp_issue": self.otp_issue,
            "otp_verify": self.otp_verify,
            "whois": self.whois,
            "garden_learn": self.garden_learn,
            "cut_flows": self.cut_flows,
            "portal_config": self.portal_config,
            "clients": self.clients,
            "counters": self.counters,
            "account": self.account_now,
            "export_config": self.export_config,
            "monitor_config": self.monitor_config,
            "usage_buckets": self.usage_buckets,
            "config_document": self.changes.document,
            "config_preview": self.changes.preview,
            "config_apply": self.changes.apply_document,
            "config_confirm": self.changes.confirm,
            "config_pending": self.changes.pending_info,
            "config_revisions": self.changes.revisions,
            "client_block": self.changes.block,
            "audit_log": self.changes.audit_log,
            "audit_record": self.changes.audit_record,
            "voucher_create": self.voucher_api.create,
            "voucher_batches": self.voucher_api.batches,
        }

    # -- helpers -------------------------------------------------------------------------------

    def _client(self, config: Any, session: Session) -> Client:
        """The kernel's view of a session: expiry, the site's idle time, its shaping class."""
        try:
            idle_s = config.site(session.site).access.idle_minutes * 60
        except KeyError:  # a site removed from the configuration: no idle limit known
            idle_s = None
        return Client(session.mac, session.ip, session.expires_at, idle_s, session.class_id)

    def _sessions(self, config: Any) -> list[Client]:
        return [self._client(config, s) for s in self.store.active_sessions()]

    def _shape(self, config: Any, sessions: list[Session], *, sync: bool = False) -> None:
        """Give `sessions` their HTB classes; with `sync`, also set up every shaped device and
        drop classes no open session holds (after an apply or a restart)."""
        if self.shaper is None:
            return
        try:
            if sync:
                shaped = fair_use.shaped_devices(config)
                planned = {p.device: p for p in bandwidth.plans(config)}
                for device in fair_use.shapeable_devices(config):
                    if device in shaped:
                        self.shaper.ensure_root(device, shaped[device])
                    elif device in planned:
                        self.shaper.ensure_root(device, planned[device].rate_kbit)
                    else:
                        self.shaper.remove_root(device)
                self._share_between_opds(config, planned)
            wanted: dict[str, set[int]] = {}
            for s in sessions:
                if s.class_id is None or s.site is None:
                    continue
                for device, rate in fair_use.client_classes(config, s.site, bool(s.throttled)):
                    self.shaper.set_client(device, s.class_id, rate)
                    wanted.setdefault(device, set()).add(s.class_id)
            if sync:
                for device in fair_use.shaped_devices(config):
                    for minor in self.shaper.client_minors(device) - wanted.get(device, set()):
                        self.shaper.remove_client(device, minor)
        except (OSError, KeyError) as exc:
            log.error("shaping failed: %s", exc)

    def _share_between_opds(self, config: Any, planned: dict[str, bandwidth.DevicePlan]) -> None:
        """The OPDs' classes on the uplinks and on the shared download IFB (`netctl.bandwidth`)."""
        assert self.shaper is not None
        if bandwidth.DOWN_IFB in planned:
            self.shaper.ensure_ifb(bandwidth.DOWN_IFB, planned[bandwidth.DOWN_IFB].rate_kbit)
            for device in bandwidth.redirected_devices(config):
                self.shaper.redirect_egress(device, bandwidth.DOWN_IFB)
        else:
            for opd in config.opds:
                self.shaper.stop_redirect(opd.interface)
            self.shaper.remove_link(bandwidth.DOWN_IFB)
        rooted = set(planned) | set(fair_use.shaped_devices(config))
        for device in sorted(rooted):
            plan = planned.get(device)
            wanted = {c.minor for c in plan.classes} if plan else set()
            for c in plan.classes if plan else ():
                self.shaper.set_class(device, c.minor, c.rate_kbit, c.ceil_kbit, c.prio)
            for minor in self.shaper.minors(device) - wanted:
                if minor >= bandwidth.FIRST_OPD_MINOR:
                    self.shaper.remove_client(device, minor)

    def _unshape(self, config: Any, sessions: list[Session]) -> None:
        if self.shaper is None:
            return
        devices = fair_use.shaped_devices(config)
        for s in sessions:
            if s.class_id is None:
                continue
            for device in devices:
                try:
                    self.shaper.remove_client(device, s.class_id)
                except OSError as exc:
                    log.warning("could not remove class 1:%x on %s: %s", s.class_id, device, exc)

    def _end(self, config: Any, sessions: list[Session]) -> None:
        """Take ended sessions out of the kernel: set elements (their bytes booked once no
        more can pass) and shaping classes."""
        if sessions:
            self._deauthorize(sessions)
            self._unshape(config, sessions)

    def _deauthorize(self, sessions: list[Session]) -> None:
        self.kernel.deauthorize([Client(s.mac, s.ip, 0) for s in sessions])
        if self.accounting is not None:
            try:
                held = self.store.held_ips(s.ip for s in sessions)
                self.accounting.settle(sessions, self.clock(), held)
            except (NftError, sqlite3.Error, OSError) as exc:  # the next cycle settles them
                log.error("could not book the last bytes of %d session(s): %s", len(sessions), exc)

    def account_now(self, params: dict[str, Any]) -> dict[str, Any]:
        """Run an accounting cycle now (e.g. before a report); what it booked."""
        if self.accounting is None:
            raise RequestError("unavailable", "accounting is not running in this netd")
        record = self.account(self._config())
        if record is None:
            raise RequestError("accounting-failed", "the cycle failed: see netd's log")
        return asdict(record)

    def account(self, config: Any) -> CycleRecord | None:
        """One accounting cycle now (`netctl.accounting`); a failure is logged, never fatal."""
        if self.accounting is None:
            return None
        config = self._applied_config or config
        try:
            record = self.accounting.cycle(
                config, self.store.open_sessions(), self.clock(), self.store
            )
        except (NftError, sqlite3.Error, OSError) as exc:
            log.error("accounting cycle failed: %s", exc)
            return None
        self._next_cycle = time.monotonic() + config.accounting.interval_s
        log.debug("accounting: %s", record)
        return record

    def _config(self) -> Any:
        """The stored configuration, parsed once per revision (every request needs it)."""
        try:
            revision = self.store.config_revision()
            if self._config_cache is None or self._config_cache[0] != revision:
                self._config_cache = (revision, self.store.config())
            return self._config_cache[1]
        except LookupError as exc:
            raise RequestError("no-config", str(exc)) from None
        except ConfigError as exc:
            raise RequestError("invalid-config", exc.render()) from None

    def _configure_children(self, config: Any) -> None:
        for child in self.children:
            if child.name == "dnsmasq":
                text = render_dnsmasq(
                    config,
                    lease_file=os.path.join(self.state_dir, "dnsmasq.leases"),
                    pid_file=child.pid_file,
                    # RFC 8910: tell clients where the RFC 8908 captive-portal API is.
                    hotspot_options=[f'114,"{config.portal_api_url}"'],
                )
            elif child.name == "unbound":
                # Only the DNS front end asks Unbound, on loopback.
                text = render_unbound(
                    config,
                    forwarders=[str(a) for a in config.resolver.forwarders],
                    pid_file=child.pid_file,
                    directory=self.state_dir,
                    port=config.filtering.resolver_port,
                    listen=("127.0.0.1",),
                )
            else:
                self._dns_dir()
                text = render_dnsd_config(
                    config,
                    db=os.path.join(self.dns_dir, "dns.db"),
                    control=self.dns_socket,
                    pid_file=child.pid_file,
                    netd_socket=self.socket_path,
                )
            child.configure(text)

    @property
    def dns_socket(self) -> str:
        """The DNS front end's control socket (explain, status)."""
        return os.path.join(self.dns_dir, "control.sock")

    def _dns_dir(self) -> None:
        """The front end's own directory (its database, pid file and socket), owned by it."""
        os.makedirs(self.dns_dir, mode=0o755, exist_ok=True)
        if os.geteuid() == 0:
            os.chown(self.dns_dir, *user_ids(self.dns_user))

    # -- API methods ---------------------------------------------------------------------------

    def ping(self, params: dict[str, Any]) -> dict[str, Any]:
        """Liveness and version."""
        return {"version": __version__, "pid": os.getpid()}

    def status(self, params: dict[str, Any]) -> dict[str, Any]:
        """What netd holds: table, last apply, clients, helper daemons."""
        objects = self.kernel.table(elements=False)
        return {
            "version": __version__,
            "uptime_s": round(self.clock() - self.started_at, 1),
            "table_present": bool(objects),
            "chains": sum(1 for o in objects if "chain" in o),
            "rules": sum(1 for o in objects if "rule" in o),
            "sessions": len(self.store.active_sessions()),
            "last_apply": self.last_apply,
            "last_accounting": (
                asdict(record)
                if self.accounting and (record := self.accounting.usage.last_cycle())
                else None
            ),
            "children": {c.name: c.status() for c in self.children},
        }

    def apply(self, params: dict[str, Any]) -> dict[str, Any]:
        """Render the stored configuration and load it atomically (or only check it)."""
        check_only = bool(params.get("check_only", False))
        config = self._config()
        try:
            doh = doh_networks(config.filtering)
            check_lists(config)
        except (AddressListError, ListError) as exc:
            raise RequestError("invalid-list", str(exc)) from None
        fresh = not self.kernel.table(elements=False)
        if not check_only and not fresh:
            # Counters the new ruleset drops (an OPD removed) are booked to their last byte.
            self.account(config)
        try:
            rendered = self.kernel.apply(
                config, self._sessions(config), self.clock(), check_only=check_only, doh=doh
            )
        except NftError as exc:
            raise RequestError("kernel-refused", f"nftables refused the ruleset: {exc}") from None
        result = {"check_only": check_only, **rendered.stats}
        if not check_only:
            if fresh and self.accounting is not None:
                # A table made anew (a reboot, the lab brought up again): its counters start
                # from zero whatever the boot; the old table's meters must not hide that.
                self.accounting.forget_kernel_meters()
            write_atomic(self.applied_path, rendered.ruleset.document())
            self._shape(config, self.store.active_sessions(), sync=True)
            self._configure_children(config)
            self.last_apply = {"at": self.clock(), **rendered.stats}
            self._applied_config = config
            self.store.audit(params.get("_actor", "netd"), "ruleset.apply", rendered.stats)
        return result

    def diff(self, params: dict[str, Any]) -> dict[str, Any]:
        """Unified diff of the applied ruleset against the one the stored configuration renders."""
        config = self._config()
        try:
            doh = doh_networks(config.filtering)
        except AddressListError as exc:
            raise RequestError("invalid-list", str(exc)) from None
        new = build_ruleset(config, doh).document()
        try:
            with open(self.applied_path, encoding="utf-8") as handle:
                old = handle.read()
        except FileNotFoundError:
            old = ""
        lines = difflib.unified_diff(
            old.splitlines(keepends=True),
            new.splitlines(keepends=True),
            "applied",
            "configured",
        )
        text = "".join(lines)
        return {"changed": bool(text), "diff": text}

    def _client_id(self, config: Any, params: dict[str, Any]) -> ClientId:
        """The hotspot client a request names (its MAC given or looked up, and its IP)."""
        mac = self._client_mac(params)
        try:
            return parse_client(config, mac, params.get("ip", ""))
        except ClientError as exc:
            raise RequestError("invalid", str(exc)) from None

    def _client_mac(self, params: dict[str, Any]) -> str:
        """The MAC given, or (the portal's way) the one the kernel's neighbour table holds."""
        if params.get("mac"):
            return str(params["mac"])
        try:
            ip = parse_ip(params.get("ip", ""))
        except ClientError as exc:
            raise RequestError("invalid", str(exc)) from None
        mac = self.mac_of(ip)
        if mac is None:
            raise RequestError(
                "unknown-client", f"no MAC address is known for {ip}: is it still connected?"
            )
        return mac

    def authorize(self, params: dict[str, Any]) -> dict[str, Any]:
        """Let a hotspot client (MAC . IP) through for `minutes` (default: the portal's session).

        Without `mac`, the MAC is taken from the gateway's neighbour table.
        """
        config = self._config()
        mac = self._client_mac(params)
        try:
            client = parse_client(config, mac, params.get("ip", ""))
            minutes = parse_minutes(
                params.get("minutes"), config.site(client.site).access.session_minutes
            )
        except ClientError as exc:
            raise RequestError("invalid", str(exc)) from None
        seconds = self._allowed_seconds(config, client.site, client.mac, minutes * 60)
        method = str(params.get("method", "admin"))[:32]
        credential = params.get("credential")
        if credential:  # proved by the caller (e.g. the portal's RADIUS login): may move here
            return self._grant_to_holder(
                config, client, str(credential)[:80], seconds, method, params
            )
        return self._grant(config, client, seconds, method, params.get("_actor", "netd"))

    def _grant(
        self,
        config: Any,
        client: ClientId,
        seconds: float,
        method: str,
        actor: str,
        credential: str | None = None,
    ) -> dict[str, Any]:
        """Open the session and let the client through (set elements, shaping, stale flows)."""
        # An address belongs to one device at a time: a session another device left on it ends.
        others = [s for s in self.store.open_sessions_at(client.ip) if s.mac != client.mac]
        for s in others:
            self.store.end_session(s.mac, s.ip, reason="address-reused", actor=actor)
        self._end(config, others)
        session = self.store.open_session(
            client.mac,
            client.ip,
            site=client.site,
            method=method,
            duration_s=seconds,
            actor=actor,
            shaped=fair_use.is_shaped(config, client.site),
            credential=credential,
        )
        try:
            self.kernel.authorize([self._client(config, session)], self.clock())
        except NftError as exc:
            self.store.end_session(client.mac, client.ip, reason="kernel-refused", actor="netd")
            raise RequestError("kernel-refused", str(exc)) from None
        self._shape(config, [session])
        # Walking conntrack costs ~10 ms whatever the load: done after the answer, off the lock,
        # one walk for all the grants waiting by then (see FORGET_INTERVAL_S).
        self._to_forget.put(client.ip)
        self.run_later(self._forget_redirected)
        return {
            "mac": client.mac,
            "ip": client.ip,
            "site": client.site,
            "expires_at": session.expires_at,
        }

    def redeem_voucher(self, params: dict[str, Any]) -> dict[str, Any]:
        """Let the client at `ip` through with a voucher `code`, for what is left of the voucher's
        time since its first use. A voucher still running on another device moves here (a
        phone that changed its randomized MAC, or a second device of the same person)."""
        config = self._config()
        client = self._client_id(config, params)
        try:
            code = vouchers.normalize(params.get("code", ""))
        except vouchers.VoucherError as exc:
            raise RequestError("voucher-invalid", str(exc)) from None
        if "voucher" not in config.site(client.site).access.methods:
            raise RequestError("method-not-offered", f"{client.site} does not take vouchers")
        voucher = self.store.voucher(code)
        if voucher is None or voucher.site not in (None, client.site):
            raise RequestError("voucher-unknown", "no such voucher for this site")
        first_use = self.store.first_use_of(code)
        left = first_use + voucher.minutes * 60 - self.clock()
        if left < 30:
            raise RequestError("voucher-used", "this voucher's time is used up")
        return self._grant_to_holder(config, client, code, left, "voucher", params)

    def _grant_to_holder(
        self,
        config: Any,
        client: ClientId,
        credential: str,
        seconds: float,
        method: str,
        params: dict[str, Any],
    ) -> dict[str, Any]:
        """Let in whoever proved `credential`; its sessions on other devices move here, with
        the time they had left (reclaim after a phone randomized its MAC)."""
        moved = [
            s
            for s in self.store.sessions_with(credential)
            if (s.mac, s.ip) != (client.mac, client.ip)
        ]
        if moved:
            seconds = max(s.expires_at for s in moved) - self.clock()
        actor = params.get("_actor", "netd")
        for s in moved:
            self.store.end_session(s.mac, s.ip, reason="moved", actor=actor)
        self._end(config, moved)
        result = self._grant(config, client, seconds, method, actor, credential=credential)
        return {**result, "moved_from": len(moved)}

    def _forget_redirected(self) -> None:
        if self._to_forget.empty():
            return  # an earlier walk took these grants along
        wait = self._forgot_at + FORGET_INTERVAL_S - time.monotonic()
        if wait > 0:
            time.sleep(wait)  # off the lock, in the background thread: grants keep coming
        self._forgot_at = time.monotonic()
        ips = set()
        with contextlib.suppress(queue.Empty):
            while True:
                ips.add(self._to_forget.get_nowait())
        if not ips:
            return
        try:
            self.forget_redirected(ips)
        except OSError as exc:  # the grant stands; at worst a stale socket shows the portal once
            log.warning("could not forget redirected connections: %s", exc)

    def _neighbour_mac(self, ip: str) -> str | None:
        """The MAC the kernel's neighbour table holds for `ip` on its site's bridge."""
        site = self._config().site_of(IPv4Address(ip))
        if site is None:
            return None
        if self._neighbours is None:
            self._neighbours = netlink.Neighbours()
        return self._neighbours.mac_of(ip, site.interface)

    def _otp_client(self, params: dict[str, Any]) -> tuple[Any, ClientId, str]:
        config = self._config()
        client = self._client_id(config, params)
        if "otp" not in config.site(client.site).access.methods or config.portal.otp is None:
            raise RequestError("method-not-offered", f"{client.site} does not offer phone OTP")
        try:
            e164 = phones.normalize(params.get("phone", ""))
        except phones.PhoneError as exc:
            raise RequestError("phone-invalid", str(exc)) from None
        return config, client, e164

    @staticmethod
    def _otp_hash(pseudonym: str, code: str) -> str:
        return hashlib.sha256(f"{pseudonym}:{code}".encode()).hexdigest()

    def otp_issue(self, params: dict[str, Any]) -> dict[str, Any]:
        """A one-time code for `phone`, for the portal to send through the configured gateway.
        Only a pseudonym of the number and a hash of the code are kept."""
        config, _client, e164 = self._otp_client(params)
        pseudonym = phones.pseudonym(self.secret, e164)
        code = f"{secrets.randbelow(10**6):06d}"
        ttl_s = config.portal.otp.code_minutes * 60
        if not self.store.otp_issue(pseudonym, self._otp_hash(pseudonym, code), ttl_s):
            raise RequestError("otp-too-many", "too many codes for this number lately")
        return {"code": code, "to": e164, "masked": phones.masked(e164), "expires_in": ttl_s}

    def otp_verify(self, params: dict[str, Any]) -> dict[str, Any]:
        """Let the client through when `code` is the one sent to `phone`; a session of the same
        number on another device moves here."""
        config, client, e164 = self._otp_client(params)
        pseudonym = phones.pseudonym(self.secret, e164)
        code = str(params.get("code", "")).strip()[:12]
        verdict = self.store.otp_check(pseudonym, self._otp_hash(pseudonym, code))
        if verdict != "ok":
            raise RequestError(f"otp-{verdict}", f"the code is {verdict}")
        seconds = self._allowed_seconds(
            config, client.site, client.mac, config.site(client.site).access.session_minutes * 60
        )
        return self._grant_to_holder(config, client, f"otp:{pseudonym}", seconds, "otp", params)

    def deauthorize(self, params: dict[str, Any]) -> dict[str, Any]:
        """End a client's session and remove it from the kernel at once."""
        try:
            mac = parse_mac(params.get("mac", ""))
            ip = parse_ip(params.get("ip", ""))
        except ClientError as exc:
            raise RequestError("invalid", str(exc)) from None
        session = self.store.active_session_of(ip)
        ended = self.store.end_session(
            mac,
            ip,
            reason=str(params.get("reason", "admin"))[:32],
            actor=params.get("_actor", "netd"),
        )
        if session is not None and session.mac == mac:
            self._deauthorize([session])
            if self.store.has_config():
                self._unshape(self._config(), [session])
        else:  # no session of that device: elements only (an orphan's bytes: the next cycle)
            self.kernel.deauthorize([Client(mac, ip, 0)])
        return {"ended": ended}

    def _end_device(self, mac: str, actor: str) -> int:
        """End every open session of the device `mac` (it was blocked); how many."""
        sessions = [s for s in self.store.open_sessions() if s.mac == mac]
        for s in sessions:
            self.store.end_session(s.mac, s.ip, reason="blocked", actor=actor)
        if sessions:
            self._end(self._config(), sessions)
        return len(sessions)

    def _allowed_seconds(self, config: Any, site: str, mac: str, wanted_s: float) -> float:
        """The session length a daily allowance leaves (the whole `wanted_s` without one)."""
        daily = config.site(site).access.daily_minutes
        if daily is None:
            return wanted_s
        now = self.clock()
        since = fair_use.day_start(now, config.node.zoneinfo)
        left = daily * 60 - self.store.seconds_online_since(mac, since)
        if left < 60:
            raise RequestError(
                "allowance-used",
                f"this device has used its {daily} minutes for today; it may connect again "
                "tomorrow",
            )
        return min(wanted_s, left)

    def logout(self, params: dict[str, Any]) -> dict[str, Any]:
        """End the session of the client at `ip` (the portal's logout button)."""
        try:
            ip = parse_ip(params.get("ip", ""))
        except ClientError as exc:
            raise RequestError("invalid", str(exc)) from None
        session = self.store.active_session_of(ip)
        if session is None:
            return {"ended": False}
        return self.deauthorize({**params, "mac": session.mac, "ip": ip, "reason": "logout"})

    def garden_learn(self, params: dict[str, Any]) -> dict[str, Any]:
        """Open addresses the DNS front end answered for walled-garden names, for their TTL
        (never shortening one already open longer)."""
        config = self._config()
        addresses = [a for a in _addresses(params.get("addresses")) if _openable(config, a)]
        ttl = params.get("ttl_s")
        if not isinstance(ttl, int) or isinstance(ttl, bool):
            raise RequestError("invalid", "ttl_s must be a number of seconds")
        ttl = min(max(ttl, GARDEN_MIN_TTL_S), GARDEN_MAX_TTL_S)
        now = self.clock()
        longer = [a for a in addresses if self._garden.get(a, 0) < now + ttl]
        # Kernels before 6.10 do not renew the timeout of an element added again: an address
        # still open is taken out first (an error there means it has just expired).
        for address in (a for a in longer if self._garden.get(a, 0) > now):
            with contextlib.suppress(NftError):
                self.kernel.forget_garden([address])
        try:
            self.kernel.learn_garden(longer, ttl)
        except NftError as exc:
            raise RequestError("kernel-refused", str(exc)) from None
        self._garden.update((a, now + ttl) for a in longer)
        if len(self._garden) > GARDEN_TRACKED:
            self._garden = {a: t for a, t in self._garden.items() if t > now}
        return {"opened": len(longer), "ttl_s": ttl}

    def cut_flows(self, params: dict[str, Any]) -> dict[str, Any]:
        """End open connections from a zone's subnet to addresses whose names a schedule
        window has just blocked (their next packet needs a new DNS answer). The conntrack walk
        runs in the background, not under netd's lock."""
        try:
            subnet = IPv4Network(str(params.get("subnet", "")))
        except ValueError:
            raise RequestError("invalid", "subnet must be an IPv4 network") from None
        config = self._config()
        zones = [o.subnet for o in config.opds] + [s.subnet for s in config.hotspot_sites]
        if subnet not in zones:
            raise RequestError("invalid", f"{subnet} is not an OPD's or hotspot's subnet")
        addresses = _addresses(params.get("addresses"))
        self.store.audit(
            params.get("_actor", "netd"),
            "flows.cut",
            {"subnet": str(subnet), "addresses": len(addresses)},
        )
        self.run_later(lambda: self._cut(subnet, addresses))
        return {"scheduled": len(addresses)}

    def _cut(self, subnet: IPv4Network, addresses: list[str]) -> None:
        try:
            cut = self.cut_connections(subnet, addresses)
        except OSError as exc:
            log.warning("could not cut flows from %s: %s", subnet, exc)
            return
        log.info("cut %d flows from %s to %d addresses", cut, subnet, len(addresses))

    def whois(self, params: dict[str, Any]) -> dict[str, Any]:
        """What the gateway knows of the client at `ip`: site, MAC, session and its counters."""
        config = self._config()
        try:
            ip = parse_ip(params.get("ip", ""))
        except ClientError as exc:
            raise RequestError("invalid", str(exc)) from None
        site = config.site_of(IPv4Address(ip))
        session = self.store.active_session_of(ip)
        mac = self.mac_of(ip)
        info: dict[str, Any] = {
            "ip": ip,
            "site": site.slug if site else None,
            "mac": mac,
            "authorized": False,
            "session": None,
        }
        if session is not None and (mac is None or mac == session.mac):
            counters = self.kernel.client_counter(session.mac, ip)
            info["authorized"] = counters is not None
            info["session"] = {
                "started_at": session.started_at,
                "expires_at": session.expires_at,
                "seconds_remaining": max(0, int(session.expires_at - self.clock())),
                "up_bytes": counters.up_bytes if counters else 0,
                "down_bytes": counters.down_bytes if counters else 0,
                "method": session.method,
            }
        return info

    def portal_config(self, params: dict[str, Any]) -> dict[str, Any]:
        """What the captive portal needs of the configuration."""
        config = self._config()
        portal = config.portal
        return {
            "regency": config.node.regency,
            "hostname": portal.hostname,
            "address": str(config.portal_address) if config.portal_address else None,
            "http_port": portal.http_port,
            "https_port": portal.https_port,
            "news_url": portal.news_url,
            "video_seconds": portal.video_seconds,
            "videos": [v.model_dump() for v in portal.videos],
            "otp": portal.otp.model_dump() if portal.otp else None,
            "radius": portal.radius.model_dump(mode="json") if portal.radius else None,
            "retention_days": config.privacy.session_days,
            "dns_socket": self.dns_socket,
            "opd_subnets": {o.slug: str(o.subnet) for o in config.opds},
            "sites": {
                s.slug: {"name": s.name, "kecamatan": s.kecamatan, "methods": s.access.methods}
                for s in config.hotspot_sites
            },
        }

    def export_config(self, params: dict[str, Any]) -> dict[str, Any]:
        """What the exporter (monitoring/) needs of the configuration."""
        config = self._config()
        return {
            "node": config.node.name,
            "timezone": config.node.timezone,
            "interval_s": config.accounting.interval_s,
            "export": config.export.model_dump(mode="json"),
        }

    def monitor_config(self, params: dict[str, Any]) -> dict[str, Any]:
        """What the link monitor (monitoring/) needs of the configuration: the node, its
        section (SNMP credentials included: the socket's group is trusted), the sites it
        watches, its export spool's bound and how long rollups are kept."""
        config = self._config()
        return {
            "node": config.node.model_dump(mode="json"),
            "monitoring": config.monitoring.model_dump(mode="json"),
            "remote_sites": [s.model_dump(mode="json") for s in config.remote_sites],
            "hotspot_sites": [s.model_dump(mode="json") for s in config.hotspot_sites],
            "spool_mb": config.export.spool_mb,
            "retention": config.accounting.retention.model_dump(),
        }

    def usage_buckets(self, params: dict[str, Any]) -> dict[str, Any]:
        """Closed 5-minute buckets of every site, OPD, uplink, remote site and zone (never a
        device) that start after `after` (default: the oldest kept), oldest first, at most
        `buckets` of them (≤ 288), with the sites' peak clients; `next` is the `after` of the
        next call."""
        if self.accounting is None:
            raise RequestError("unavailable", "accounting is not running in this netd")
        try:
            after = int(params.get("after", 0))
            count = int(params.get("buckets", 96))
        except (TypeError, ValueError):
            raise RequestError("invalid", "after and buckets are whole numbers") from None
        if not 1 <= count <= MAX_EXPORT_BUCKETS:
            raise RequestError("invalid", f"buckets must be 1 to {MAX_EXPORT_BUCKETS}")
        closed = (int(self.clock()) // FIVE_MINUTES - 1) * FIVE_MINUTES  # the last closed start
        page = self.accounting.usage.five_minute_page(after, closed, count)
        return {**page, "closed": closed}

    def clients(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        """Authorized clients with their kernel counters."""
        counted = {(c.mac, c.ip): c for c in self.kernel.client_counters()}
        out = []
        for s in self.store.active_sessions():
            c = counted.get((s.mac, s.ip))
            out.append(
                {
                    "mac": s.mac,
                    "ip": s.ip,
                    "site": s.site,
                    "method": s.method,
                    "started_at": s.started_at,
                    "expires_at": s.expires_at,
                    "in_kernel": c is not None,
                    **({"up_bytes": c.up_bytes, "down_bytes": c.down_bytes} if c else {}),
                }
            )
        return out

    def counters(self, params: dict[str, Any]) -> dict[str, Any]:
        """Named counters (zones, OPDs, sites), uplink interfaces and per-client counters."""
        uplinks = {u.interface: u.name for u in self._config().uplinks}
        return {
            "named": {
                k: {"packets": p, "bytes": b} for k, (p, b) in self.kernel.counters().items()
            },
            "uplinks": {
                uplinks[name]: stats
                for name, stats in self.kernel.interface_counters(uplinks).items()
            },
            "clients": [asdict(c) for c in self.kernel.client_counters()],
        }

    # -- housekeeping --------------------------------------------------------------------------

    def housekeeping(self) -> None:
        """Close expired and idle sessions, slow down clients over their quota, mind helpers."""
        try:
            self.changes.roll_back_if_due()
        except (RequestError, ConfigError, LookupError) as exc:
            log.error("could not roll the unconfirmed change back: %s", exc)
        expired = self.store.expire_sessions()
        try:
            config = self._config()  # parsed once per revision, not every 10 s
        except RequestError:
            config = None
        if expired:
            log.info("expired %d session(s)", len(expired))
            if config is not None:
                self._end(config, expired)
            else:
                self._deauthorize(expired)
        if config is not None:
            self._end_idle(config)
            self._throttle(config)
            if time.monotonic() >= self._next_cycle:
                self.account(config)
            if time.monotonic() >= self._next_purge:
                self._next_purge = time.monotonic() + PURGE_INTERVAL_S
                cutoff = self.clock() - config.privacy.session_days * 86400
                purged = self.store.purge_sessions(cutoff)
                if purged:
                    log.info("deleted %d session(s) past the retention limit", purged)
                if self.accounting is not None:
                    try:
                        self.accounting.usage.purge(config.accounting.retention, self.clock())
                    except sqlite3.Error as exc:
                        log.error("usage rollups past their retention not deleted: %s", exc)
        now = time.monotonic()
        for child in self.children:
            child.watch(now)

    def _end_idle(self, config: Any) -> None:
        """Sessions whose idle element the kernel let expire (no packet for the site's idle
        time) end now."""
        active = self.store.active_sessions()
        if not active:
            return
        try:
            seen = self.kernel.idle_ips()
        except NftError as exc:  # no table yet (a failed restore): nothing to judge idle by
            log.warning("cannot read the idle set: %s", exc)
            return
        idle = [s for s in active if s.ip not in seen]
        for s in idle:
            self.store.end_session(s.mac, s.ip, reason="idle", actor="netd")
        if idle:
            log.info("%d idle session(s) ended", len(idle))
            self._end(config, idle)

    def _throttle(self, config: Any) -> None:
        """Clients past their session's quota are slowed to the fair-use rate, not cut."""
        candidates = [
            s
            for s in self.store.active_sessions()
            if not s.throttled
            and s.site is not None
            and s.site in {site.slug for site in config.hotspot_sites}
            and config.site(s.site).access.quota_mb is not None
        ]
        if not candidates:
            return
        counters = {(c.mac, c.ip): c for c in self.kernel.client_counters()}
        for s in candidates:
            c = counters.get((s.mac, s.ip))
            if c is not None and fair_use.over_quota(config, s.site, c.up_bytes + c.down_bytes):
                self.store.set_throttled(s.id)
                log.info("a client of %s used its quota: slowed down", s.site)
                self._shape(config, [replace(s, throttled=1)])

    def shutdown(self) -> None:
        """Book the counters a last time and stop helper daemons. The ruleset stays: clients
        keep working while netd restarts."""
        with contextlib.suppress(RequestError):
            self.account(self._config())
        self._background.shutdown(wait=True)
        for child in self.children:
            child.stop()


def _node_secret(path: str) -> bytes:
    """The node's key for pseudonyms, made at the first start and kept (mode 0600)."""
    try:
        with open(path, "rb") as handle:
            key = handle.read()
        if len(key) >= 32:
            return key
    except FileNotFoundError:
        pass
    key = secrets.token_bytes(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(key)
    return key


def _peer(sock: socket.socket) -> tuple[int, int, int]:
    creds = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    pid, uid, gid = struct.unpack("3i", creds)
    return pid, uid, gid


def _actor(uid: int) -> str:
    try:
        return f"{pwd.getpwuid(uid).pw_name}(uid {uid})"
    except KeyError:
        return f"uid {uid}"


def _permitted(method: str, uid: int, may_change: bool, dns_uid: int | None) -> bool:
    """Whether a peer (uid, group membership) may call `method`."""
    privileged = uid in (0, os.geteuid())
    if method in DNS_METHODS:
        return privileged or (dns_uid is not None and uid == dns_uid)
    if dns_uid is not None and uid == dns_uid and not privileged:
        return method in READ_METHODS
    if method in SECRET_METHODS:
        return may_change
    return method in READ_METHODS or may_change


def _may_change(uid: int, gid: int, group_gid: int | None) -> bool:
    if uid == 0 or uid == os.geteuid():
        return True
    if group_gid is None:
        return False
    if gid == group_gid:
        return True
    try:
        name = pwd.getpwuid(uid).pw_name
    except KeyError:
        return False
    return group_gid in os.getgrouplist(name, gid)


class Server:
    """The Unix-socket front of a `Netd`."""

    def __init__(self, netd: Netd, path: str, group: str | None) -> None:
        self.netd = netd
        self.path = path
        self.group_gid = grp.getgrnam(group).gr_gid if group else None

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Serve one connection until the peer closes it."""
        _pid, uid, gid = _peer(writer.get_extra_info("socket"))
        actor = _actor(uid)
        may_change = _may_change(uid, gid, self.group_gid)
        dns_uid = self.netd.dns_uid

        def permitted(method: str) -> bool:
            return _permitted(method, uid, may_change, dns_uid)

        try:
            while True:
                try:
                    line = await reader.readuntil(b"\n")
                except asyncio.IncompleteReadError:
                    return
                except asyncio.LimitOverrunError:
                    writer.write(encode(_error(None, "invalid", "request line too long")))
                    return
                writer.write(encode(await self._answer(line, actor, permitted)))
                await writer.drain()
        except ConnectionError:
            return
        finally:
            writer.close()

    async def _answer(
        self, line: bytes, actor: str, permitted: Callable[[str], bool]
    ) -> dict[str, Any]:
        try:
            request = json.loads(line)
        except (json.JSONDecodeError, UnicodeDecodeError):
            return _error(None, "invalid", "request is not JSON")
        if not isinstance(request, dict):
            return _error(None, "invalid", "request must be a JSON object")
        rid = request.get("id")
        method = request.get("method")
        params = request.get("params")
        params = {} if params is None else params
        if not isinstance(method, str) or method not in self.netd.methods:
            return _error(rid, "unknown-method", f"no method {method!r}")
        if not isinstance(params, dict):
            return _error(rid, "invalid", "params must be a JSON object")
        if not permitted(method):
            return _error(rid, "forbidden", f"{actor} may not call {method}")
        on_behalf = params.pop("on_behalf", None)
        params = {k: v for k, v in params.items() if not str(k).startswith("_")}
        params["_actor"] = actor
        if on_behalf is not None:
            # The console names the person it acts for; only a peer that may change things
            # may name one, and the record keeps both.
            if not (isinstance(on_behalf, str) and ON_BEHALF.fullmatch(on_behalf)):
                return _error(rid, "invalid", "on_behalf must be a user name (a-z, 0-9, . _ -)")
            if not permitted("config_apply"):
                return _error(rid, "forbidden", f"{actor} may not act on behalf of anyone")
            params["_actor"] = f"{on_behalf} via {actor}"
        async with self.netd.lock:
            try:
                result = self.netd.methods[method](params)
            except RequestError as exc:
                return _error(rid, exc.code, str(exc))
            except Exception as exc:  # report, keep serving
                log.exception("%s failed", method)
                return _error(rid, "internal", f"{type(exc).__name__}: {exc}")
        return {"id": rid, "ok": True, "result": result}

    async def serve(self, stop: asyncio.Event) -> None:
        """Listen until `stop` is set; housekeeping runs alongside."""
        if os.path.exists(self.path):
            os.unlink(self.path)
        os.makedirs(os.path.dirname(self.path), exist_ok=True)
        old_umask = os.umask(0o117)
        try:
            server = await asyncio.start_unix_server(self.handle, self.path, limit=MAX_LINE)
        finally:
            os.umask(old_umask)
        if self.group_gid is not None:
            os.chown(self.path, -1, self.group_gid)
        os.chmod(self.path, 0o660)
        log.info("listening on %s", self.path)
        self._wake = asyncio.Event()
        self.netd.changes.wake = self._wake.set
        async with server, asyncio.TaskGroup() as tasks:
            tasks.create_task(self._housekeeping(stop))
            await stop.wait()
            server.close()
        if os.path.exists(self.path):
            os.unlink(self.path)

    async def _housekeeping(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            async with self.netd.lock:
                try:
                    self.netd.housekeeping()
                except Exception:
                    log.exception("housekeeping failed")
            due = self.netd.changes.seconds_until_due()
            wait_s = EXPIRY_INTERVAL_S if due is None else min(EXPIRY_INTERVAL_S, due + 0.05)
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(_either(stop, self._wake), wait_s)


async def _either(first: asyncio.Event, second: asyncio.Event) -> None:
    """Return once either event is set."""
    waits = [asyncio.ensure_future(e.wait()) for e in (first, second)]
    try:
        await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for w in waits:
            w.cancel()


def _error(rid: Any, code: str, message: str) -> dict[str, Any]:
    return {"id": rid, "ok": False, "error": {"code": code, "message": message}}


async def run(args: argparse.Namespace) -> None:
    """Start netd: restore the ruleset and sessions from the store, then serve the API."""
    os.makedirs(args.state_dir, exist_ok=True)
    store = Store(args.db)
    usage = UsageDb(os.path.join(os.path.dirname(os.path.abspath(args.db)), USAGE_DB))
    netd = Netd(
        store, Kernel(), args.state_dir, supervise=args.supervise, shaper=netlink.Shaper(),
        dns_user=args.dns_user, socket_path=args.socket, accounting=Accounting(usage),
    )  # fmt: skip
    if store.has_config():
        try:
            # A change still on probation when netd stopped was never confirmed: undo it.
            netd.changes.roll_back_if_due(now_anyway=True)
        except (RequestError, ConfigError, LookupError) as exc:
            log.error("could not roll the unconfirmed change back: %s", exc)
        try:
            result = netd.apply({"_actor": "netd (start)"})
            log.info("restored ruleset: %s", result)
        except RequestError as exc:
            log.error("could not restore the ruleset: %s", exc)
    else:
        log.warning("no configuration yet: import one with 'simpul config import FILE'")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await Server(netd, args.socket, args.group).serve(stop)
    finally:
        netd.shutdown()
        store.close()
        usage.close()


def main(argv: list[str] | None = None) -> None:
    """Entry point: `python -m netctl.netd`."""
    parser = argparse.ArgumentParser(prog="simpul-netd", description=__doc__)
    parser.add_argument("--db", default="/var/lib/simpul/simpul.db")
    parser.add_argument("--socket", default=DEFAULT_SOCKET)
    parser.add_argument("--state-dir", default="/var/lib/simpul/netd")
    parser.add_argument("--group", default=None, help="group whose members may change things")
    parser.add_argument(
        "--supervise", action="store_true", help="run dnsmasq, Unbound and the DNS front end"
    )
    parser.add_argument("--dns-user", default="nobody", help="the DNS front end's user")
    parser.add_argument("--log-level", default="INFO")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s netd %(levelname)s %(message)s"
    )
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
