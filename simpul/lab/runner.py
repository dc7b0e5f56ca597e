"""Build, inspect and remove the lab: namespaces, veths, bridges, addresses and daemons.

Everything the lab makes lives inside its own network namespaces (veth pairs are created directly
in them), so it never touches the machine's interfaces, routes or firewall. A manifest in the lab's
state directory lists what was made, and `down` also finds namespaces by prefix, so a crashed `up`
is cleaned up too.
"""

from __future__ import annotations

import contextlib
import grp
import json
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Interface
from pathlib import Path

from netctl.children import pid_alive
from simpul.config import Config
from simpul.config.model import Resolver
from simpul.lab import radius as radius_lab
from simpul.lab.snmpd import (
    snmpd_argv,
    snmpd_conf,
    snmpd_env,
    snmpd_started,
    write_pass_program,
)
from simpul.lab.tls import make_lab_tls
from simpul.lab.topology import (
    LAB_BULK,
    LAB_DNS,
    LAB_INFLUX,
    LAB_SMS_GATEWAY,
    LabPlan,
    lab_dns_records,
    plan,
)
from simpul.lab.victoria import victoria_argv
from simpul.store import Store

ROOT = Path(__file__).resolve().parents[2]
MEDIA = ROOT / "examples" / "media"
UNPRIVILEGED = ("nobody", "nogroup")  # the lab's stand-in for production's service users
PORTAL_PROCESSES = ("portal-http", "portal-https")
# The user lab's (prefix sp-) console port; other prefixes (the tests') derive theirs.
CONSOLE_PORT = 8080
CONSOLE_ADMIN = "admin"
REQUIRED_TOOLS = (
    "ip", "nft", "dnsmasq", "unbound", "busybox", "iperf3", "openssl", "setpriv", "curl",
    "freeradius", "victoria-metrics", "snmpd",
)  # fmt: skip
NETNS_ETC = Path("/etc/netns")
UDHCPC_SCRIPT = """#!/bin/sh
# udhcpc hook for lab hosts: configure only this namespace's eth0 (never resolv.conf).
case "$1" in
  deconfig) ip -4 addr flush dev "$interface"; ip link set "$interface" up ;;
  bound|renew)
    ip -4 addr flush dev "$interface"
    ip addr add "$ip/${mask:-24}" dev "$interface"
    [ -n "$router" ] && ip route replace default via "${router%% *}" dev "$interface"
    ;;
esac
exit 0
"""


class LabError(RuntimeError):
    """The lab cannot be built or used; the message says what to do."""


@dataclass(frozen=True)
class LabPaths:
    """Where a lab keeps its state (tmpfs: a reboot leaves nothing behind)."""

    root: Path

    @classmethod
    def for_prefix(cls, prefix: str, base: str = "/run/simpul-lab") -> LabPaths:
        """The state directory of the lab with this namespace prefix."""
        return cls(Path(base) / prefix.strip("-"))

    @property
    def manifest(self) -> Path:
        """What the lab made."""
        return self.root / "manifest.json"

    @property
    def db(self) -> Path:
        """The lab node's database."""
        return self.root / "simpul.db"

    @property
    def socket(self) -> Path:
        """netd's API socket (reachable from the host: Unix sockets cross namespaces)."""
        return self.root / "netd.sock"

    @property
    def config(self) -> Path:
        """The configuration the lab was built from."""
        return self.root / "config.yaml"

    @property
    def media(self) -> Path:
        """The videos the captive portal serves and the console uploads."""
        return self.root / "portal" / "media"

    @property
    def lists(self) -> Path:
        """Block lists uploaded in the console (its user's; readable by the DNS front end)."""
        return self.root / "lists"

    @property
    def console(self) -> Path:
        """The console's own directory (its user's): console.db and its signing key."""
        return self.root / "console"

    @property
    def console_db(self) -> Path:
        """The console's users, tokens and drafts."""
        return self.console / "console.db"

    @property
    def console_secret(self) -> Path:
        """The console's session signing key."""
        return self.console / "secret"

    @property
    def admin_password(self) -> Path:
        """The password of the console's `admin`, made on the lab's first up (root's, 0600)."""
        return self.root / "console-admin-password"

    def log(self, name: str) -> Path:
        """A daemon's log file."""
        return self.root / f"{name}.log"


def run(argv: Sequence[str], *, check: bool = True, input_text: str | None = None) -> str:
    """Run a command; raise LabError with its stderr when it fails."""
    proc = subprocess.run(list(argv), capture_output=True, text=True, input=input_text, check=False)
    if check and proc.returncode != 0:
        raise LabError(f"{' '.join(argv)} failed ({proc.returncode}): {proc.stderr.strip()}")
    return proc.stdout


def in_ns(ns: str, *argv: str) -> list[str]:
    """argv that runs a command inside network namespace `ns`."""
    return ["ip", "netns", "exec", ns, *argv]


def preflight() -> None:
    """Refuse clearly when not root or a needed tool is missing."""
    if os.geteuid() != 0:
        raise LabError("the lab builds network namespaces: run it as root")
    missing = [tool for tool in REQUIRED_TOOLS if shutil.which(tool) is None]
    if missing:
        raise LabError(
            f"missing tools: {', '.join(missing)} — run './run setup' (it installs iproute2, "
            "nftables, dnsmasq-base, unbound, busybox, iperf3, openssl, util-linux, curl, "
            "freeradius, victoria-metrics, snmpd)"
        )


def namespaces(prefix: str) -> list[str]:
    """Existing network namespaces whose names start with `prefix`."""
    out = run(["ip", "-o", "netns", "list"], check=False)
    return [line.split()[0] for line in out.splitlines() if line.startswith(prefix)]


class Manifest:
    """What a lab made, written as it goes so a crashed `up` can be undone."""

    def __init__(self, paths: LabPaths) -> None:
        self.paths = paths
        try:
            self.data = json.loads(paths.manifest.read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            self.data = {"namespaces": [], "processes": {}, "netns_etc": []}

    def add(self, key: str, value: object, name: str | None = None) -> None:
        """Record one made thing and write the manifest at once."""
        if name is None:
            self.data.setdefault(key, []).append(value)
        else:
            self.data.setdefault(key, {})[name] = value
        self.paths.root.mkdir(parents=True, exist_ok=True)
        tmp = self.paths.manifest.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.data, indent=1))
        os.replace(tmp, self.paths.manifest)


# The DNS front end's own uid (no account: the lab adds no user to the machine), so netd can
# tell it from the portal (`nobody`) and allow it only what it needs.
LAB_DNS_UID = "64053"


class Lab:
    """One lab: a plan, its state directory and what it made."""

    def __init__(
        self,
        config: Config,
        prefix: str = "sp-",
        clients_per_site: int = 1,
        base: str = "/run/simpul-lab",
    ) -> None:
        # The lab's internet has no real root servers: resolve through its DNS.
        self.config = config.model_copy(
            update={"resolver": Resolver(forwarders=[IPv4Address(LAB_DNS)])}
        )
        self.prefix = prefix
        self.plan: LabPlan = plan(config, prefix, clients_per_site)
        self.paths = LabPaths.for_prefix(prefix, base)
        self.python = sys.executable
        self.gunicorn = str(Path(self.python).with_name("gunicorn"))
        self._procs: list[subprocess.Popen[bytes]] = []

    # -- build ---------------------------------------------------------------------------------

    def up(self, config_path: str, progress: Callable[[str], None] = lambda _m: None) -> None:
        """Build the whole lab and start its daemons (a lab already up is left as it is)."""
        preflight()
        if self.is_up():
            progress("the lab is already up")
            return
        if namespaces(self.prefix) or self.paths.manifest.exists():
            progress("removing what a previous lab left behind")
            self.down()
        self.paths.root.mkdir(parents=True, exist_ok=True)
        manifest = Manifest(self.paths)
        shutil.copyfile(config_path, self.paths.config)
        try:
            progress("creating namespaces")
            self._namespaces(manifest)
            progress("wiring links, bridges and addresses")
            self._links()
            progress("starting the internet (DNS, web, iperf3)")
            self._start_inet(manifest)
            progress("starting the V-Sat offices' SNMP agents")
            self._start_sites(manifest)
            progress("importing the configuration and starting netd")
            self._start_gateway(manifest)
            progress("starting the captive portal (HTTP and HTTPS)")
            self._start_portal(manifest)
            progress("starting the exporter (InfluxDB, Prometheus) and the link monitor")
            self._start_monitoring(manifest)
            progress("starting the admin console")
            self._start_console(manifest)
            progress("hosts asking for addresses by DHCP")
            self._start_dhcp_clients(manifest)
            self.wait_for_addresses()
        except BaseException:
            progress("failed: removing what was made")
            self.down()
            raise

    def _namespaces(self, manifest: Manifest) -> None:
        for host in self.plan.hosts:
            manifest.add("namespaces", host.ns)
            run(["ip", "netns", "add", host.ns])
            run(["ip", "-n", host.ns, "link", "set", "lo", "up"])
            if host.ns != self.plan.gateway_ns:
                run(in_ns(host.ns, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1"))
            if host.resolver:
                etc = NETNS_ETC / host.ns
                manifest.add("netns_etc", str(etc))
                etc.mkdir(parents=True, exist_ok=True)
                (etc / "resolv.conf").write_text(f"nameserver {host.resolver}\n")
        gw = self.plan.gateway_ns
        run(in_ns(gw, "sysctl", "-qw", "net.ipv4.ip_forward=1"))
        run(in_ns(gw, "sysctl", "-qw", "net.ipv6.conf.all.forwarding=0"))
        # The monitor's ICMP probes use datagram sockets, unprivileged (as Debian allows them
        # on the host; a new namespace allows no group).
        run(in_ns(gw, "sysctl", "-qw", "net.ipv4.ping_group_range=0 2147483647"))

    def _links(self) -> None:
        batch: dict[str, list[str]] = {}
        for ns, bridge, cidr in self.plan.bridges:
            batch.setdefault(ns, []).extend(
                [
                    f"link add {bridge} type bridge",
                    f"addr add {cidr} dev {bridge}",
                    f"link set {bridge} up",
                ]
            )
        for link in self.plan.links:
            run(
                [
                    "ip",
                    "link",
                    "add",
                    link.a_if,
                    "netns",
                    link.a_ns,
                    "type",
                    "veth",
                    "peer",
                    "name",
                    link.b_if,
                    "netns",
                    link.b_ns,
                ]
            )
            a = batch.setdefault(link.a_ns, [])
            b = batch.setdefault(link.b_ns, [])
            if link.a_master:
                a.append(f"link set {link.a_if} master {link.a_master}")
            if link.a_addr:
                a.append(f"addr add {link.a_addr} dev {link.a_if}")
            a.append(f"link set {link.a_if} up")
            if link.b_mac:
                b.append(f"link set {link.b_if} address {link.b_mac}")
            if link.b_addr:
                b.append(f"addr add {link.b_addr} dev {link.b_if}")
            b.append(f"link set {link.b_if} up")
        for ns, dev, cidr in self.plan.extra_addresses:
            batch.setdefault(ns, []).append(f"addr add {cidr} dev {dev}")
        for host in self.plan.hosts:
            if host.gateway and not host.dhcp:
                batch.setdefault(host.ns, []).append(f"route add default via {host.gateway}")
        uplink = self.config.uplinks[0]
        batch.setdefault(self.plan.gateway_ns, []).append(
            f"route add default via {uplink.gateway} dev {uplink.interface}"
        )
        for ns, commands in batch.items():
            run(["ip", "-n", ns, "-batch", "-"], input_text="\n".join(commands) + "\n")

    def _spawn(
        self,
        manifest: Manifest,
        name: str,
        ns: str | None,
        argv: Sequence[str],
        env: dict[str, str] | None = None,
    ) -> int:
        """Start a daemon in namespace `ns` (None: on the host) and record it."""
        with open(self.paths.log(name), "ab") as out:
            proc = subprocess.Popen(
                in_ns(ns, *argv) if ns else list(argv),
                env={**os.environ, **(env or {})},
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                close_fds=True,
            )
        self._procs.append(proc)  # kept to reap it; the manifest finds it after we exit
        manifest.add("processes", {"ns": ns, "pid": proc.pid, "argv": list(argv)}, name)
        return proc.pid

    def _start_inet(self, manifest: Manifest) -> None:
        inet = self.plan.inet_ns
        dns_conf = self.paths.root / "inet-dns.conf"
        dns_conf.write_text(
            "# the lab internet's authoritative names\nno-resolv\nno-hosts\nbind-interfaces\n"
            # An hour, as real zones give: the gateway clamps it to schedule edges.
            f"listen-address={LAB_DNS}\nlog-queries\nlocal-ttl=3600\n"
            + "\n".join(lab_dns_records())
            + "\n"
        )
        self._spawn(
            manifest,
            "inet-dns",
            inet,
            [
                "dnsmasq",
                "--keep-in-foreground",
                f"--conf-file={dns_conf}",
                "--log-facility=-",
                f"--pid-file={self.paths.root / 'inet-dns.pid'}",
            ],
        )
        self._spawn(
            manifest,
            "inet-web",
            inet,
            [self.python, "-m", "simpul.lab.inet", "--listen", "0.0.0.0", "--port", "80"],
        )
        self._spawn(
            manifest,
            "inet-iperf3",
            inet,
            ["iperf3", "--server", "--bind", LAB_BULK],
        )
        radius = radius_lab.prepare(
            self.paths.root / "freeradius", str(self.config.uplinks[0].address.ip)
        )
        self._spawn(
            manifest, "inet-radius", inet, ["freeradius", "-f", "-d", str(radius), "-l", "stdout"]
        )
        self._spawn(
            manifest,
            "inet-influx",
            inet,
            victoria_argv(f"{LAB_INFLUX}:8086", self.paths.root / "influx"),
        )
        gateway = ["--listen", LAB_SMS_GATEWAY, "--port", "8025", "--token", "lab-token"]
        self._spawn(
            manifest,
            "inet-sms-gateway",
            inet,
            [self.python, "-m", "simpul.lab.sms_gateway", *gateway],
        )

    def _start_sites(self, manifest: Manifest) -> None:
        """net-snmp's snmpd in each V-Sat office, on its router's address, answering the
        monitor's targets for that site (their community or SNMPv3 user), and serving an iDirect
        remote's status (DID 4242) as the operator hub's proxy would (`pass`)."""
        for remote in self.config.remote_sites:
            self._spawn_snmpd(manifest, remote.slug)

    def restart_snmpd(self, slug: str) -> None:
        """Stop a V-Sat office's snmpd and start it again: to the monitor, the device
        restarted (sysUpTime from zero), as after a power cut."""
        self._spawn_snmpd(self._stop_recorded(f"snmpd-{slug}"), slug)

    def _spawn_snmpd(self, manifest: Manifest, slug: str) -> None:
        remote = next(r for r in self.config.remote_sites if r.slug == slug)
        targets = [t for t in self.config.monitoring.targets if t.address == remote.router]
        communities = sorted({t.snmp.community for t in targets if t.snmp.version == "2c"})
        users = sorted({(t.snmp.user, t.snmp.auth_key, t.snmp.priv_key) for t in targets
                        if t.snmp.version == "3"})  # fmt: skip
        root = self.paths.root / "snmp" / slug
        (root / "state").mkdir(parents=True, exist_ok=True)
        script = write_pass_program(root)
        conf = snmpd_conf(
            communities[0] if communities else "public",
            users,  # type: ignore[arg-type]
            [*(f"rocommunity {c} default" for c in communities[1:]),
             f"pass .1.3.6.1.4.1.13732 /usr/bin/python3 {script}"],
        )  # fmt: skip
        (root / "snmpd.conf").write_text(conf)
        host = f"{self.prefix}site-{slug}"
        argv = snmpd_argv(root / "snmpd.conf", [f"udp:{remote.router}:161"])
        self._spawn(manifest, f"snmpd-{slug}", host, argv, snmpd_env(root))
        log = self.paths.log(f"snmpd-{slug}")
        self.wait_for(lambda: snmpd_started(log), 10, f"snmpd did not start in {host}: see {log}")

    def _start_gateway(self, manifest: Manifest) -> None:
        with Store(str(self.paths.db)) as store:
            store.import_config(self.config, actor="lab", replace=True, comment="simpul lab up")
        self._spawn_netd(manifest)

    def _start_portal(self, manifest: Manifest) -> None:
        """The captive portal under gunicorn in the gateway, as an unprivileged user that may
        bind ports 80 and 443 (production: the `simpul-portal` unit's ambient capability)."""
        root = self.paths.root / "portal"
        self.paths.media.mkdir(parents=True, exist_ok=True)
        for video in self.config.portal.videos:
            for name in (video.file, video.poster):
                if name and (MEDIA / name).exists():
                    shutil.copyfile(MEDIA / name, self.paths.media / name)
        address = str(self.config.portal_address)
        tls = make_lab_tls(root / "tls", self.config.portal.hostname, address)
        secret = root / "secret"
        secret.write_text(secrets.token_hex(32))
        _give_unprivileged(secret, tls.key)
        for private in (secret, tls.key):
            private.chmod(0o400)
        self._spawn_portal(manifest)

    def _start_monitoring(self, manifest: Manifest) -> None:
        """The export loop and its /metrics, and the link monitor, unprivileged (production:
        `simpul-monitor`)."""
        state, monitor = self.paths.root / "export", self.paths.root / "monitor"
        for directory in (state, monitor):
            directory.mkdir(exist_ok=True)
        _give_unprivileged(state, monitor)
        drop = unprivileged()
        self._spawn(manifest, "monitor", self.plan.gateway_ns, [
            *drop, self.python, "-m", "monitoring.monitor", "--socket", str(self.paths.socket),
            "--state-dir", str(monitor), "--export-dir", str(state),
        ])  # fmt: skip
        self._spawn(manifest, "exporter", self.plan.gateway_ns, [
            *drop, self.python, "-m", "monitoring.exporter", "--socket", str(self.paths.socket),
            "--state-dir", str(state), "--interval", "10",
        ])  # fmt: skip
        listen = self.config.export.prometheus_listen
        if listen:
            self._spawn(
                manifest, "metrics", self.plan.gateway_ns,
                [*drop, self.gunicorn, "--workers", "1",
                 "--bind", listen, "monitoring.exporter:metrics()"],
                {"SIMPUL_EXPORT_DIR": str(state)},
            )  # fmt: skip

    def _start_console(self, manifest: Manifest) -> None:
        """The admin console on the host's loopback (it reaches netd through its socket, which
        crosses namespaces), as the unprivileged user, which owns console.db, its key and the
        portal's media (it uploads videos); `admin` is made on the lab's first up."""
        self.paths.console.mkdir(mode=0o700, exist_ok=True)
        self.paths.lists.mkdir(mode=0o755, exist_ok=True)
        secret = self.paths.console_secret
        if not secret.exists():
            secret.write_text(secrets.token_hex(32))
        _give_unprivileged(self.paths.console, self.paths.lists, self.paths.media,
                           *self.paths.media.iterdir(), secret)  # fmt: skip
        secret.chmod(0o600)
        if not self.paths.admin_password.exists():
            self._make_admin()
        self._spawn_console(manifest)

    def _make_admin(self) -> None:
        """`admin` with a random password, made as the console's user with `simpul admin` (a
        kept console.db already has one: its password is reset)."""
        password = secrets.token_urlsafe(12)
        command = "passwd" if self.paths.console_db.exists() else "add"
        role = ["--role", "admin"] if command == "add" else []
        run([*unprivileged(), self.python, "-m", "simpul.cli", "admin", "user", command,
             CONSOLE_ADMIN, *role, "--db", str(self.paths.console_db), "--password-file", "-"],
            input_text=password + "\n")  # fmt: skip
        fd = os.open(self.paths.admin_password, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(password + "\n")

    def _spawn_console(self, manifest: Manifest) -> None:
        env = {
            "SIMPUL_NETD_SOCKET": str(self.paths.socket),
            "SIMPUL_ADMIN_DB": str(self.paths.console_db),
            "SIMPUL_ADMIN_SECRET_FILE": str(self.paths.console_secret),
            "SIMPUL_STATE_DIR": str(self.paths.root),
            "SIMPUL_MEDIA_DIR": str(self.paths.media),
            "SIMPUL_LISTS_UPLOAD_DIR": str(self.paths.lists),
            "SIMPUL_ADMIN_INSECURE_COOKIES": "1",  # plain HTTP, on loopback only
        }
        listen = f"127.0.0.1:{console_port(self.prefix)}"
        argv = [*unprivileged(), self.gunicorn,
                "--worker-class", "gthread", "--workers", "2", "--threads", "8",
                "--worker-tmp-dir", "/dev/shm", "--graceful-timeout", "3", "--chdir", str(ROOT),
                "--bind", listen, "portal.admin.app:create_admin_app()"]  # fmt: skip
        self._spawn(manifest, "console", None, argv, env)
        manifest.add("console", f"http://{listen}", "url")
        try:
            self.wait_for(lambda: _answers(f"http://{listen}/masuk"), 20, "")
        except LabError:
            # `up` removes the lab directory when it fails: show the log's end here.
            log = self.paths.log("console").read_text(errors="replace").splitlines()
            raise LabError("the admin console did not start:\n" + "\n".join(log[-15:])) from None

    def restart_portal(self) -> None:
        """Start the portal's gunicorn processes again (after a crash or kill -9)."""
        self._spawn_portal(self._stop_recorded(*PORTAL_PROCESSES))

    def _stop_recorded(self, *names: str) -> Manifest:
        """Stop the daemons the manifest records under `names` (to start them again); the
        manifest."""
        manifest = Manifest(self.paths)
        for name in names:
            old = manifest.data["processes"].get(name)
            if old:
                _terminate(old["pid"], old["argv"])
        return manifest

    def _spawn_portal(self, manifest: Manifest) -> None:
        root = self.paths.root / "portal"
        env = {
            "SIMPUL_NETD_SOCKET": str(self.paths.socket),
            "SIMPUL_PORTAL_SECRET_FILE": str(root / "secret"),
            "SIMPUL_MEDIA_DIR": str(self.paths.media),
        }
        drop = [*unprivileged(), "--inh-caps=+net_bind_service",
                "--ambient-caps=+net_bind_service"]  # fmt: skip
        gunicorn = [self.gunicorn, "--worker-class", "gthread", "--workers", "2", "--threads", "32",
                    "--worker-tmp-dir", "/dev/shm"]  # fmt: skip
        portal = self.config.portal
        tls = root / "tls"
        listeners = {
            "portal-http": ["--bind", f"0.0.0.0:{portal.http_port}"],
            "portal-https": ["--bind", f"0.0.0.0:{portal.https_port}",
                             "--certfile", str(tls / "portal.crt"),
                             "--keyfile", str(tls / "portal.key")],
        }  # fmt: skip
        for name, args in listeners.items():
            argv = [*drop, *gunicorn, *args, "portal.app:create_captive_app()"]
            self._spawn(manifest, name, self.plan.gateway_ns, argv, env)
        probe = f"http://127.0.0.1:{portal.http_port}/healthz"
        self.wait_for(
            lambda: (
                run(in_ns(self.plan.gateway_ns, "curl", "-sf", "-m", "1", probe), check=False)
                == "ok"
            ),
            20,
            "the captive portal did not start: see portal-http.log in the lab directory",
        )

    def restart_netd(self) -> None:
        """Start netd again (after a crash or kill -9); wait until it has restored the ruleset."""
        self._spawn_netd(self._stop_recorded("netd"))

    def _spawn_netd(self, manifest: Manifest) -> None:
        self._spawn(manifest, "netd", self.plan.gateway_ns, [
            self.python, "-m", "netctl.netd", "--db", str(self.paths.db),
            "--socket", str(self.paths.socket), "--state-dir", str(self.paths.root / "netd"),
            "--supervise", "--group", UNPRIVILEGED[1], "--dns-user", LAB_DNS_UID,
        ])  # fmt: skip
        self.wait_for(self._netd_ready, 20, "netd did not restore the ruleset")

    def _netd_ready(self) -> bool:
        from netctl.protocol import ApiError, NetdClient

        try:
            with NetdClient(str(self.paths.socket), timeout_s=2) as client:
                status = client.call("status")
        except ApiError:
            return False
        return bool(status["table_present"]) and all(
            c["running"] for c in status["children"].values()
        )

    def _start_dhcp_clients(self, manifest: Manifest) -> None:
        script = self.paths.root / "udhcpc.sh"
        script.write_text(UDHCPC_SCRIPT)
        script.chmod(0o755)
        for host in self.plan.hosts:
            if host.dhcp:
                self._spawn(
                    manifest,
                    f"udhcpc-{host.ns}",
                    host.ns,
                    [
                        *[
                            "busybox",
                            "udhcpc",
                            "-f",
                            "-i",
                            "eth0",
                            "-t",
                            "10",
                            "-T",
                            "2",
                            "-A",
                            "2",
                        ],
                        *("-s", str(script), "-x", f"hostname:{host.ns}"),
                    ],
                )

    def address_of(self, ns: str, dev: str = "eth0") -> IPv4Interface | None:
        """The IPv4 address of a host's interface, or None."""
        out = run(["ip", "-n", ns, "-j", "-4", "addr", "show", "dev", dev], check=False)
        try:
            infos = json.loads(out or "[]")
        except json.JSONDecodeError:
            return None
        for info in infos:
            for addr in info.get("addr_info", []):
                return IPv4Interface(f"{addr['local']}/{addr['prefixlen']}")
        return None

    def wait_for_addresses(self, timeout_s: float = 30) -> None:
        """Wait until every DHCP host has an address."""
        pending = [h.ns for h in self.plan.hosts if h.dhcp]
        self.wait_for(
            lambda: all(self.address_of(ns) for ns in pending),
            timeout_s,
            "hosts got no DHCP address: see dnsmasq.log in the lab directory",
        )

    @staticmethod
    def wait_for(predicate: Callable[[], bool], timeout_s: float, failure: str) -> None:
        """Poll `predicate` until true or raise LabError(failure)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if predicate():
                return
            time.sleep(0.1)
        raise LabError(failure)

    # -- inspect and remove --------------------------------------------------------------------

    def is_up(self) -> bool:
        """Whether every namespace exists and every daemon runs."""
        if not self.paths.manifest.exists():
            return False
        present = set(namespaces(self.prefix))
        if any(h.ns not in present for h in self.plan.hosts):
            return False
        processes = Manifest(self.paths).data["processes"]
        return bool(processes) and all(pid_alive(p["pid"]) for p in processes.values())

    def status(self) -> dict[str, object]:
        """Hosts with their addresses and roles, daemons with their state."""
        present = set(namespaces(self.prefix))
        manifest = Manifest(self.paths)
        hosts = []
        for host in self.plan.hosts:
            addr = self.address_of(host.ns) if host.ns in present else None
            hosts.append(
                {
                    "host": host.ns,
                    "up": host.ns in present,
                    "role": host.role,
                    "address": str(addr) if addr else "",
                }
            )
        daemons = {
            name: {"ns": p["ns"] or "(host)", "pid": p["pid"], "running": pid_alive(p["pid"])}
            for name, p in manifest.data["processes"].items()
        }
        return {
            "hosts": hosts,
            "daemons": daemons,
            "socket": str(self.paths.socket),
            "state_dir": str(self.paths.root),
            "console": self.console_access(),
        }

    def console_access(self) -> dict[str, str] | None:
        """Where the admin console listens and how to sign in as `admin`, once it was started."""
        url = Manifest(self.paths).data.get("console", {}).get("url")
        try:
            password = self.paths.admin_password.read_text().strip()
        except FileNotFoundError:
            return None
        if not url:
            return None
        return {"url": url, "user": CONSOLE_ADMIN, "password": password,
                "password_file": str(self.paths.admin_password)}  # fmt: skip

    def down(self, *, keep_state: bool = False) -> list[str]:
        """Remove everything this lab made (see `teardown`)."""
        removed = teardown(self.prefix, self.paths, keep_state=keep_state)
        for proc in self._procs:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=5)
        self._procs.clear()
        return removed


def _unprivileged_ids() -> tuple[int, int]:
    return pwd.getpwnam(UNPRIVILEGED[0]).pw_uid, grp.getgrnam(UNPRIVILEGED[1]).gr_gid


def _give_unprivileged(*paths: Path) -> None:
    """Make the unprivileged user and group own `paths`."""
    uid, gid = _unprivileged_ids()
    for path in paths:
        os.chown(path, uid, gid)


def unprivileged() -> list[str]:
    """argv prefix that runs a command as the unprivileged user, with no other group."""
    uid, gid = _unprivileged_ids()
    return ["setpriv", f"--reuid={uid}", f"--regid={gid}", "--clear-groups"]


def console_port(prefix: str) -> int:
    """The first free loopback port from the lab's own: CONSOLE_PORT for the user lab (sp-),
    and for any other prefix one derived from it above, so the tests' lab never takes it."""
    start = CONSOLE_PORT
    if prefix != "sp-":
        start += 20 + zlib.crc32(prefix.encode()) % 900
    for port in range(start, start + 20):
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise LabError(f"no free port for the admin console on 127.0.0.1:{start}–{start + 19}")


def _answers(url: str) -> bool:
    """Whether an HTTP server answers `url` with a success."""
    try:
        with urllib.request.urlopen(url, timeout=1) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def _program(argv: Sequence[str]) -> str:
    """The program a recorded command ends up running: setpriv executes the one after its
    options."""
    rest = list(argv)
    if rest and rest[0] == "setpriv":
        rest = [arg for arg in rest[1:] if not arg.startswith("--")]
    return rest[0] if rest else ""


def _terminate(pid: int, argv: Sequence[str]) -> None:
    """Stop a process we started, checking its command line so a reused pid is left alone."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return
    if argv and _program(argv).encode() not in cmdline:
        return
    stop_pids([pid])


def _kill_namespace_processes(ns: str) -> None:
    out = run(["ip", "netns", "pids", ns], check=False)
    stop_pids([int(p) for p in out.split() if p.isdigit()])


def stop_pids(pids: list[int], timeout_s: float = 5.0) -> None:
    """SIGTERM `pids`, then SIGKILL what still runs after `timeout_s`."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and any(pid_alive(p) for p in pids):
            time.sleep(0.05)
        if not any(pid_alive(p) for p in pids):
            return


# What `down --keep-state` leaves, as a reboot leaves /var/lib/simpul: the store, the leases and
# the console's users.
KEPT_STATE = (
    "simpul.db", "simpul.db-wal", "simpul.db-shm", "netd/dnsmasq.leases",
    "console/console.db", "console/console.db-wal", "console/console.db-shm", "console/secret",
    "console-admin-password",
)  # fmt: skip


def teardown(prefix: str, paths: LabPaths, *, keep_state: bool = False) -> list[str]:
    """Remove every namespace, process and file a lab made, also after a crashed `up`
    (with `keep_state`, all but the store and the DHCP leases, for the next `up`)."""
    manifest = Manifest(paths)
    made = set(manifest.data["namespaces"]) | set(namespaces(prefix))
    for ns in sorted(made):
        _kill_namespace_processes(ns)
    for proc in manifest.data["processes"].values():
        _terminate(proc["pid"], proc.get("argv", []))
    removed = []
    present = set(namespaces(prefix))
    for ns in sorted(made & present):
        run(["ip", "netns", "del", ns], check=False)
        removed.append(ns)
    for etc in {*manifest.data["netns_etc"], *(str(NETNS_ETC / ns) for ns in made)}:
        shutil.rmtree(etc, ignore_errors=True)
    if keep_state:
        kept = {paths.root / name for name in KEPT_STATE}
        for path in sorted(paths.root.rglob("*"), reverse=True):
            if path in kept or any(k.is_relative_to(path) for k in kept):
                continue
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)
    else:
        shutil.rmtree(paths.root, ignore_errors=True)
    return removed
