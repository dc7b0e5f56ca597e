"""The playbook (ansible/site.yml) into a real Debian 12 root file system through Ansible's
community.general.chroot connection: what it installs, that systemd accepts the units, that a
second run changes nothing, that the unprivileged daemons as deployed cannot touch the firewall
but can ask netd, and that an upgrade over an older release migrates and keeps the data (and
rolls back).

Slow (a few minutes; debootstrap's tarball and the apt and pip downloads are cached in
/var/cache/simpul-test), root only, and nothing of the host is changed: the services are not
started (`simpul_manage_services: false`) and no kernel setting is applied.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sqlite3
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.deploy.rootfs import CACHE, HOST_CA, PIP_CACHE_IN_ROOT, debian_root, run

REPO = Path(__file__).resolve().parents[2]
PLAYBOOK = REPO / "ansible" / "site.yml"
CONFIG = REPO / "examples" / "vagrant.yaml"  # interfaces eth0-eth3: easy to make in a netns
# A release from before the last two store migrations (6: session indexes, 7: villages).
OLD_COMMIT = "1134343"
ADMIN_PASSWORD = "kata-sandi-lab-panjang"
NETNS = "spd-playbook"  # not a lab prefix: no lab teardown removes it
SERVICE_USERS = ("simpul-portal", "simpul-admin", "simpul-monitor", "simpul-dns")

pytestmark = [
    pytest.mark.root,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root (debootstrap, chroot)"),
    pytest.mark.skipif(
        not (shutil.which("debootstrap") and shutil.which("ansible-playbook")),
        reason="needs debootstrap and ansible (scripts/setup.sh installs them)",
    ),
]


@dataclass
class Deployment:
    """A root file system the playbook ran into, and that run's output."""

    root: Path
    first: str


def build_wheel(source: Path, out: Path) -> Path:
    """A wheel of the Simpul tree at `source`."""
    run([str(REPO / ".venv" / "bin" / "pip"), "wheel", "-q", "--no-deps", "-w", str(out),
         str(source)])  # fmt: skip
    (wheel,) = out.glob("simpul-*.whl")
    return wheel


def playbook(root: Path, package: Path, *args: str, **extra: object) -> str:
    """Run site.yml into `root`; its output (AssertionError with it on failure)."""
    work = Path(tempfile.mkdtemp(prefix="simpul-ansible-"))
    try:
        inventory = work / "hosts.yml"
        inventory.write_text(json.dumps({"simpul_gateways": {"hosts": {str(root): {
            "ansible_connection": "community.general.chroot",
            "ansible_python_interpreter": "/usr/bin/python3"}}}}))  # fmt: skip
        variables = {
            "simpul_package": str(package),
            "simpul_config_file": str(CONFIG),
            "simpul_manage_services": False,
            "simpul_pip_cache_dir": PIP_CACHE_IN_ROOT,
            "simpul_console_users": [
                {"name": "admin", "role": "admin", "password": ADMIN_PASSWORD}
            ],
            **extra,
        }
        (work / "vars.json").write_text(json.dumps(variables))
        env = {**os.environ, "ANSIBLE_CONFIG": str(REPO / "ansible" / "ansible.cfg"),
               "ANSIBLE_NOCOLOR": "1", "ANSIBLE_LOCAL_TEMP": str(work / "tmp")}  # fmt: skip
        if (root / HOST_CA.lstrip("/")).exists():
            # pip in the root trusts what the host trusts; requests prefers its environment
            # variables to pip's --cert, so they must point there too.
            for name in ("PIP_CERT", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
                env[name] = HOST_CA
        proc = run(["ansible-playbook", "-i", str(inventory), str(PLAYBOOK),
                    "-e", f"@{work / 'vars.json'}", *args], env=env)  # fmt: skip
        return proc.stdout
    finally:
        shutil.rmtree(work, ignore_errors=True)


def recap(output: str) -> dict[str, int]:
    """The PLAY RECAP's counts for the one host."""
    match = re.search(r"ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", output)
    assert match, output[-2000:]
    return dict(zip(("ok", "changed", "unreachable", "failed"), map(int, match.groups()),
                    strict=True))  # fmt: skip


def in_root(root: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["chroot", str(root), *argv], capture_output=True, text=True)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_wheel(REPO, tmp_path_factory.mktemp("dist"))


@pytest.fixture(scope="module")
def deployed(wheel: Path) -> Iterator[Deployment]:
    with debian_root() as root:
        yield Deployment(root, playbook(root, wheel))


def test_the_playbook_installs_users_release_units_and_configuration(
    deployed: Deployment,
) -> None:
    root = deployed.root
    assert recap(deployed.first)["failed"] == 0
    passwd = (root / "etc/passwd").read_text()
    group = (root / "etc/group").read_text()
    for user in SERVICE_USERS:
        assert re.search(rf"^{user}:x:\d+:\d+:.*:/usr/sbin/nologin$", passwd, re.M), user
    members = re.search(r"^simpul:x:(\d+):(.*)$", group, re.M)
    assert members and set(members.group(2).split(",")) == {
        "simpul-portal",
        "simpul-admin",
        "simpul-monitor",
    }
    # The DNS front end: only its primary group is the socket's (netd confines it by uid).
    dns = re.search(r"^simpul-dns:x:\d+:(\d+):", passwd, re.M)
    assert dns and dns.group(1) == members.group(1)
    link = root / "opt/simpul/current"
    assert link.is_symlink()
    current = root / os.readlink(link).lstrip("/")  # the link is absolute inside the root
    assert (current / "venv/bin/simpul").exists()
    assert (current / "venv/share/simpul/filter-lists/categories/gambling.txt").exists()
    units = root / "etc/systemd/system"
    for unit in ("simpul-netd", "simpul-portal-http", "simpul-portal-https", "simpul-admin",
                 "simpul-monitor", "simpul-exporter", "simpul-metrics"):  # fmt: skip
        assert (units / f"{unit}.service").exists(), unit
        assert (units / "multi-user.target.wants" / f"{unit}.service").is_symlink(), unit
    assert (units / "timers.target.wants" / "simpul-backup.timer").is_symlink()
    for secret in ("portal", "admin"):
        assert oct((root / f"etc/simpul/{secret}.secret").stat().st_mode)[-3:] == "640"
    assert "ip_forward = 1" in (root / "etc/sysctl.d/90-simpul.conf").read_text()
    store = sqlite3.connect(root / "var/lib/simpul/simpul.db")
    assert store.execute("SELECT count(*) FROM config_revision").fetchone()[0] == 1
    store.close()


def test_only_netd_holds_network_privileges(deployed: Deployment) -> None:
    units = deployed.root / "etc/systemd/system"
    netd = (units / "simpul-netd.service").read_text()
    assert "CAP_NET_ADMIN" in netd
    for unit in ("simpul-portal-http", "simpul-admin", "simpul-monitor", "simpul-exporter"):
        text = (units / f"{unit}.service").read_text()
        assert "CAP_NET_ADMIN" not in text and re.search(r"^User=simpul-", text, re.M), unit
        for setting in ("NoNewPrivileges=yes", "ProtectSystem=strict", "PrivateTmp=yes"):
            assert setting in text, (unit, setting)


def test_systemd_accepts_the_units(deployed: Deployment) -> None:
    units = sorted(p.name for p in (deployed.root / "etc/systemd/system").glob("simpul-*.*"))
    proc = in_root(deployed.root, "systemd-analyze", "verify", "--man=no",
                   *[f"/etc/systemd/system/{u}" for u in units])  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "simpul" not in proc.stderr, proc.stderr  # no complaint about any of ours


def test_the_deployed_cli_validates_the_configuration(deployed: Deployment) -> None:
    proc = in_root(deployed.root, "/opt/simpul/current/venv/bin/simpul", "config", "validate",
                   "/etc/simpul/simpul.yaml")  # fmt: skip
    assert proc.returncode == 0 and "valid" in proc.stdout, proc.stdout + proc.stderr


def test_the_console_user_was_made_by_the_console_s_user(deployed: Deployment) -> None:
    db = deployed.root / "var/lib/simpul/console/console.db"
    admin_uid = int(
        re.search(
            r"^simpul-admin:x:(\d+):", (deployed.root / "etc/passwd").read_text(), re.M
        ).group(1)
    )  # type: ignore[union-attr]
    assert db.stat().st_uid == admin_uid
    conn = sqlite3.connect(db)
    assert conn.execute("SELECT name, role FROM user").fetchall() == [("admin", "admin")]
    conn.close()


def test_a_second_run_changes_nothing(deployed: Deployment, wheel: Path) -> None:
    again = recap(playbook(deployed.root, wheel))
    assert again["changed"] == 0 and again["failed"] == 0, again


def test_check_mode_runs_and_changes_nothing(deployed: Deployment, wheel: Path) -> None:
    checked = recap(playbook(deployed.root, wheel, "--check"))
    assert checked["changed"] == 0 and checked["failed"] == 0, checked


# -- privileges as deployed --------------------------------------------------------------------


def unit_identity(unit_text: str) -> list[str]:
    """The setpriv arguments that give a process what the unit gives its service: user,
    groups, capabilities (ambient and bounding) and no new privileges."""
    settings = dict(re.findall(r"^(\w+)=(.*)$", unit_text, re.M))
    caps = [c.lower().removeprefix("cap_") for c in settings.get("AmbientCapabilities", "").split()]
    wanted = ",".join(["-all", *[f"+{c}" for c in caps]])
    return ["setpriv", f"--reuid={settings['User']}", f"--regid={settings['Group']}",
            "--init-groups", f"--inh-caps={wanted}", f"--ambient-caps={wanted}",
            f"--bounding-set={wanted}", "--no-new-privs"]  # fmt: skip


@pytest.fixture
def netd_in_namespace(deployed: Deployment) -> Iterator[Path]:
    """The deployed netd (as its unit runs it, without helpers) in a throwaway namespace with
    the configuration's interfaces."""
    root = deployed.root
    run(["ip", "netns", "add", NETNS])
    proc = None
    try:
        for index in range(4):
            run(["ip", "-n", NETNS, "link", "add", f"eth{index}", "type", "veth", "peer", "name",
                 f"peer{index}"])  # fmt: skip
            run(["ip", "-n", NETNS, "link", "set", f"eth{index}", "up"])
        (root / "run/simpul").mkdir(parents=True, exist_ok=True)
        with (root / "var/tmp/netd.log").open("w") as log:
            proc = subprocess.Popen(
                ["ip", "netns", "exec", NETNS, "chroot", str(root),
                 "/opt/simpul/current/venv/bin/python", "-m", "netctl.netd",
                 "--db", "/var/lib/simpul/simpul.db", "--socket", "/run/simpul/netd.sock",
                 "--state-dir", "/var/lib/simpul/netd", "--group", "simpul"],
                stdout=log, stderr=subprocess.STDOUT,
            )  # fmt: skip
        socket = root / "run/simpul/netd.sock"
        for _ in range(100):
            if socket.exists() or proc.poll() is not None:
                break
            time.sleep(0.1)
        assert socket.exists(), (root / "var/tmp/netd.log").read_text()
        yield root
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(timeout=10)
        subprocess.run(["ip", "netns", "del", NETNS], check=False)


@pytest.mark.parametrize("unit", ["simpul-portal-http", "simpul-admin"])
def test_web_processes_cannot_touch_the_firewall_but_can_ask_netd(
    netd_in_namespace: Path, unit: str
) -> None:
    root = netd_in_namespace
    identity = unit_identity((root / f"etc/systemd/system/{unit}.service").read_text())
    as_service = ["ip", "netns", "exec", NETNS, "chroot", str(root), *identity]
    direct = subprocess.run([*as_service, "nft", "add", "table", "inet", "intruder"],
                            capture_output=True, text=True)  # fmt: skip
    assert direct.returncode != 0
    assert "Operation not permitted" in direct.stderr, direct.stderr
    ask = subprocess.run(
        [*as_service, "/opt/simpul/current/venv/bin/python", "-c",
         "from netctl.protocol import NetdClient; "
         "print(NetdClient('/run/simpul/netd.sock').call('apply')['chains'])"],
        capture_output=True, text=True,
    )  # fmt: skip
    assert ask.returncode == 0, ask.stderr
    assert int(ask.stdout) > 0
    tables = run(["ip", "netns", "exec", NETNS, "nft", "list", "tables"]).stdout
    assert "inet simpul" in tables and "intruder" not in tables


# -- upgrade --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def old_wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    cached = CACHE / "wheels" / OLD_COMMIT
    if not list(cached.glob("simpul-*.whl")):
        source = tmp_path_factory.mktemp("old-source")
        archive = subprocess.run(["git", "-C", str(REPO), "archive", OLD_COMMIT],
                                 capture_output=True)  # fmt: skip
        if archive.returncode != 0:
            pytest.skip(f"the older release {OLD_COMMIT} is not in this checkout's history")
        subprocess.run(["tar", "-x", "-C", str(source)], input=archive.stdout, check=True)
        cached.mkdir(parents=True, exist_ok=True)
        build_wheel(source, cached)
    (wheel,) = cached.glob("simpul-*.whl")
    return wheel


def test_an_upgrade_migrates_keeps_the_data_and_can_roll_back(old_wheel: Path, wheel: Path) -> None:
    with debian_root() as root:
        # That release had no console yet: no console users to make.
        assert recap(playbook(root, old_wheel, simpul_console_users=[]))["failed"] == 0
        old_release = os.readlink(root / "opt/simpul/current")
        db = root / "var/lib/simpul/simpul.db"
        conn = sqlite3.connect(db)
        old_schema = conn.execute("PRAGMA user_version").fetchone()[0]
        conn.execute("INSERT INTO audit (at, actor, action, detail) "
                     "VALUES (1, 'test', 'before-upgrade', '{}')")  # fmt: skip
        conn.commit()
        conn.close()

        upgraded = playbook(root, wheel)
        assert recap(upgraded)["failed"] == 0
        assert os.readlink(root / "opt/simpul/current") != old_release
        conn = sqlite3.connect(db)
        assert conn.execute("PRAGMA user_version").fetchone()[0] > old_schema
        assert conn.execute("SELECT count(*) FROM audit WHERE action = 'before-upgrade'"
                            ).fetchone()[0] == 1  # fmt: skip
        assert conn.execute("SELECT count(*) FROM config_revision").fetchone()[0] >= 1
        conn.close()
        backups = list((root / "var/backups/simpul").glob("pre-upgrade-*.db"))
        assert len(backups) == 1

        assert recap(playbook(root, wheel, simpul_rollback=True))["failed"] == 0
        assert os.readlink(root / "opt/simpul/current") == old_release
        conn = sqlite3.connect(db)
        assert conn.execute("PRAGMA user_version").fetchone()[0] == old_schema
        assert conn.execute("SELECT count(*) FROM audit WHERE action = 'before-upgrade'"
                            ).fetchone()[0] == 1  # fmt: skip
        conn.close()
