"""Running a Python snippet in a new, empty network namespace of our own (`unshare -rn`: no
privileges needed where user namespaces are allowed, no effect outside it)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def run_in_new_netns(script: str, *tools: str) -> subprocess.CompletedProcess[str]:
    """Run `script` with this Python inside `unshare -rn`; the test is skipped when unshare or
    one of `tools` is missing or namespaces are not allowed here."""
    unshare = shutil.which("unshare")
    missing = [t for t in ("unshare", *tools) if shutil.which(t) is None]
    if unshare is None or missing:
        pytest.skip(f"not installed: {', '.join(missing)}")
    probe = subprocess.run([unshare, "-rn", "true"], capture_output=True, timeout=30, check=False)
    if probe.returncode != 0:
        pytest.skip(f"cannot make a network namespace here: {probe.stderr!r}")
    return subprocess.run(
        [unshare, "-rn", sys.executable, "-c", script],
        cwd=ROOT, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
