"""Debian 12 root file systems for the deployment tests: made once with debootstrap and cached
as a tarball, unpacked fresh for each test, with /proc and the package caches mounted, and always
unmounted and removed afterwards.

Only the chroot's own /proc and two cache directories of ours are ever mounted into it (never
the host's /dev or /sys), and everything is unmounted before anything is deleted.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

CACHE = Path(os.environ.get("SIMPUL_TEST_CACHE", "/var/cache/simpul-test"))
MIRROR = "http://deb.debian.org/debian"
# Ansible needs Python on the target; python3-apt for its apt module.
INCLUDE = ("python3", "python3-apt")
APT_CACHE = CACHE / "apt-archives"
PIP_CACHE = CACHE / "pip"
PIP_CACHE_IN_ROOT = "/var/cache/simpul-pip"
HOST_CA = "/etc/simpul-test-host-ca.pem"


def run(argv: list[str], **kw: object) -> subprocess.CompletedProcess[str]:
    """Run `argv`; raise with its output when it fails."""
    proc = subprocess.run(argv, capture_output=True, text=True, **kw)  # type: ignore[call-overload]
    if proc.returncode != 0:
        raise AssertionError(
            f"{' '.join(argv)} failed ({proc.returncode}):\n{proc.stdout[-4000:]}\n"
            f"{proc.stderr[-4000:]}"
        )
    return proc


def tarball() -> Path:
    """The cached minbase bookworm (+ INCLUDE) tarball, made with debootstrap when missing."""
    key = hashlib.sha256(" ".join(("bookworm", "minbase", *INCLUDE)).encode()).hexdigest()[:10]
    path = CACHE / f"rootfs-bookworm-{key}.tar"
    if path.exists():
        return path
    CACHE.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=CACHE) as work:
        root = Path(work) / "root"
        run(["debootstrap", "--variant=minbase", f"--include={','.join(INCLUDE)}", "bookworm",
             str(root), MIRROR])  # fmt: skip
        partial = path.with_suffix(".partial")
        run(["tar", "-C", str(root), "-cf", str(partial), "."])
        partial.rename(path)
    return path


def _mounts_under(root: Path) -> list[str]:
    prefix = str(root.resolve()) + "/"
    with open("/proc/mounts", encoding="utf-8") as handle:
        points = [line.split()[1] for line in handle]
    return [p for p in points if p.startswith(prefix)]


@contextlib.contextmanager
def debian_root() -> Iterator[Path]:
    """A fresh Debian 12 root file system, torn down on exit (also on failure)."""
    image = tarball()
    work = Path(tempfile.mkdtemp(prefix="simpul-rootfs-", dir="/var/tmp"))
    root = work / "root"
    root.mkdir()
    try:
        run(["tar", "-C", str(root), "-xf", str(image)])
        # Installing packages must not start their services in the chroot.
        policy = root / "usr/sbin/policy-rc.d"
        policy.write_text("#!/bin/sh\nexit 101\n")
        policy.chmod(0o755)
        shutil.copy("/etc/resolv.conf", root / "etc/resolv.conf")
        # The host's trust store (a proxy's CA may be in it) for pip inside the root, where no
        # package's postinst rewrites it (ca-certificates regenerates /etc/ssl/certs).
        bundle = Path("/etc/ssl/certs/ca-certificates.crt")
        if bundle.exists():
            shutil.copy(bundle, root / HOST_CA.lstrip("/"))
        for cache, inside in ((APT_CACHE, "var/cache/apt/archives"),
                              (PIP_CACHE, PIP_CACHE_IN_ROOT.lstrip("/"))):  # fmt: skip
            cache.mkdir(parents=True, exist_ok=True)
            (root / inside).mkdir(parents=True, exist_ok=True)
            run(["mount", "--bind", str(cache), str(root / inside)])
        run(["mount", "-t", "proc", "proc", str(root / "proc")])
        yield root
    finally:
        for point in sorted(_mounts_under(root), key=len, reverse=True):
            subprocess.run(["umount", "-l", point], check=False)
        if _mounts_under(root):
            raise RuntimeError(f"still mounted under {root}: not deleting it")
        shutil.rmtree(work, ignore_errors=True)
