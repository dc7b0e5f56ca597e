"""Debian's net-snmp snmpd for the SNMP tests, the benchmark and the lab's V-Sat offices: started
with its own configuration and state directory (never the system's), on 127.0.0.1 or inside a
network namespace, and always stopped; network namespaces named `spt-snmp*` that are always
deleted; and running the calling thread inside a namespace (sockets opened there stay there)."""

from __future__ import annotations

import ctypes
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

SNMPD = "/usr/sbin/snmpd"
NS_PREFIX = "spt-snmp"  # the benchmark uses spb-snmp
CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(None, use_errno=True)

# A `pass` program for snmpd serving one iDirect remote (DID 4242) as the hub's NMS proxy would:
# netModemTable nmstate and remotestatusTable downsnr / rstxpower / rsrxpower / rstemp.
IDIRECT_PASS = """\
#!/usr/bin/python3
import sys
DATA = {
    (1, 3, 6, 1, 4, 1, 13732, 1, 1, 1, 1, 12, 4242): ("integer", "0"),
    (1, 3, 6, 1, 4, 1, 13732, 1, 4, 3, 1, 2, 4242): ("string", "11.2"),
    (1, 3, 6, 1, 4, 1, 13732, 1, 4, 3, 1, 3, 4242): ("string", "-12.5"),
    (1, 3, 6, 1, 4, 1, 13732, 1, 4, 3, 1, 4, 4242): ("string", "-40.1"),
    (1, 3, 6, 1, 4, 1, 13732, 1, 4, 3, 1, 8, 4242): ("string", "38"),
}
mode, oid = sys.argv[1], tuple(int(x) for x in sys.argv[2].strip(".").split("."))
if mode == "-g":
    found = oid if oid in DATA else None
elif mode == "-n":
    found = next((k for k in sorted(DATA) if k > oid), None)
else:
    found = None
if found is not None:
    print("." + ".".join(map(str, found)))
    print(DATA[found][0])
    print(DATA[found][1])
"""


def free_udp_port(host: str = "127.0.0.1") -> int:
    """A UDP port nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def snmpd_conf(
    community: str = "public",
    v3: Sequence[tuple[str, str, str]] = (),
    extra: Sequence[str] = (),
) -> str:
    """snmpd.conf text: read-only `community` from anywhere, SHA/AES authPriv v3 users given as
    (user, auth password, privacy password), and `extra` lines (e.g. `pass ...`)."""
    lines = [f"rocommunity {community} default"]
    for user, auth, priv in v3:
        lines += [f"createUser {user} SHA {auth} AES {priv}", f"rouser {user} authpriv"]
    return "\n".join([*lines, *extra]) + "\n"


def snmpd_argv(conf_path: Path, addresses: Sequence[str]) -> list[str]:
    """snmpd in the foreground, logging to standard output, with only the configuration at
    `conf_path` (not the system's) and no MIB files, listening on `addresses`."""
    return [SNMPD, "-f", "-Lo", "-C", "-c", str(conf_path), "-m", "", ",".join(addresses)]


def snmpd_env(directory: Path) -> dict[str, str]:
    """The environment that keeps snmpd's persistent state in `directory`/state and loads no
    MIBs."""
    return {"SNMP_PERSISTENT_DIR": str(directory / "state"), "MIBS": ""}


def snmpd_started(log: Path) -> bool:
    """Whether snmpd, logging to `log`, listens: it logs its version once its sockets are open."""
    return b"NET-SNMP version" in log.read_bytes()


class Snmpd:
    """One snmpd process listening on `addresses` (e.g. ["udp:127.0.0.1:16100"])."""

    def __init__(
        self, directory: Path, addresses: Sequence[str], conf: str, netns: str | None = None
    ) -> None:
        self.directory = directory
        self.addresses = list(addresses)
        self.netns = netns
        self.conf_path = directory / "snmpd.conf"
        self.log_path = directory / "snmpd.log"
        directory.mkdir(parents=True, exist_ok=True)
        self.conf_path.write_text(conf)
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout_s: float = 10.0) -> Snmpd:
        """Start and wait until it listens."""
        prefix = ["ip", "netns", "exec", self.netns] if self.netns else []
        argv = [*prefix, *snmpd_argv(self.conf_path, self.addresses)]
        env = {**os.environ, **snmpd_env(self.directory)}
        with self.log_path.open("wb") as log:
            self.proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=env)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"snmpd exited: {self.log_path.read_text()[-2000:]}")
            if snmpd_started(self.log_path):
                return self
            time.sleep(0.02)
        self.stop()
        raise RuntimeError(f"snmpd did not start in {timeout_s} s")

    def stop(self) -> None:
        """Stop it (SIGTERM, then SIGKILL)."""
        if self.proc is None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc = None

    def restart(self) -> None:
        """Stop and start again on the same addresses (a device restart, as SNMP sees it)."""
        self.stop()
        self.start()

    def __enter__(self) -> Snmpd:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()


def write_pass_program(directory: Path, program: str = IDIRECT_PASS) -> Path:
    """The iDirect `pass` program (or another `program` text), executable, in `directory`."""
    path = directory / "idirect_pass.py"
    path.write_text(program)
    path.chmod(0o755)
    return path


def ip(*args: str) -> None:
    """Run `ip` (raises with its message on failure)."""
    proc = subprocess.run(["ip", *args], capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)}: {proc.stderr.strip()}")


@contextmanager
def namespaces(*names: str, prefix: str = NS_PREFIX) -> Iterator[list[str]]:
    """Fresh network namespaces (names must start with `prefix`), with lo up and IPv6 off so
    no stray traffic counts; deleted afterwards, also when the test fails."""
    for name in names:
        if not name.startswith(prefix):
            raise ValueError(f"namespace {name!r} must start with {prefix!r}")
    made: list[str] = []
    try:
        for name in names:
            subprocess.run(["ip", "netns", "del", name], capture_output=True)  # a leftover
            ip("netns", "add", name)
            made.append(name)
            subprocess.run(
                ["ip", "netns", "exec", name, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1",
                 "net.ipv6.conf.default.disable_ipv6=1"],
                check=True,
            )  # fmt: skip
            ip("-n", name, "link", "set", "lo", "up")
        yield made
    finally:
        for name in reversed(made):
            subprocess.run(["ip", "netns", "del", name], capture_output=True)


def _setns(fd: int) -> None:
    if _libc.setns(fd, CLONE_NEWNET) != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"setns: {os.strerror(errno)}")


@contextmanager
def in_netns(name: str) -> Iterator[None]:
    """Run the calling thread inside network namespace `name` (Python 3.11 has no os.setns)."""
    home = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    try:
        target = os.open(f"/run/netns/{name}", os.O_RDONLY)
        try:
            _setns(target)
            try:
                yield
            finally:
                _setns(home)
        finally:
            os.close(target)
    finally:
        os.close(home)


def have_snmpd() -> bool:
    """Whether snmpd and the net-snmp tools are installed."""
    return os.access(SNMPD, os.X_OK) and shutil.which("snmpbulkget") is not None
