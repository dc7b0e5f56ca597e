"""Fixtures for tests that build the lab in network namespaces (root only; skipped otherwise).

Every namespace gets the `spt-` prefix (`spu-` for the up/down tests) so a running user lab (`sp-`)
is never touched, and each fixture tears down what it built even when the test fails.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from simpul.config import load_config_file
from simpul.lab.runner import REQUIRED_TOOLS, Lab
from tests.integration.helpers import LabHandle, lab_data, mac_of

PREFIX = "spt-"


def _skip_reason() -> str | None:
    if os.geteuid() != 0:
        return "needs root to build network namespaces"
    missing = [t for t in (*REQUIRED_TOOLS, "curl") if shutil.which(t) is None]
    return f"missing tools: {', '.join(missing)}" if missing else None


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test here `root` and skip them all cleanly when they cannot run."""
    reason = _skip_reason()
    for item in items:
        if Path(str(item.fspath)).is_relative_to(Path(__file__).parent):
            item.add_marker(pytest.mark.root)
            if reason:
                item.add_marker(pytest.mark.skip(reason=reason))


@pytest.fixture(scope="session")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabHandle]:
    """The lab built from examples/lab.yaml with the `spt-` prefix, torn down at the end.

    The welcome video need only play VIDEO_SECONDS here, so the browser test is quick, and
    devices are not rate-limited unless a test says so (see test_fair_use).
    """
    path = tmp_path_factory.mktemp("lab") / "lab.yaml"
    path.write_text(yaml.safe_dump(lab_data()))
    built = Lab(load_config_file(str(path)), prefix=PREFIX)
    try:
        built.up(str(path))
        yield LabHandle(built)
    finally:
        built.down()


@pytest.fixture
def authorized(lab: LabHandle) -> Iterator[tuple[str, str]]:
    """hs-1 authorized through netd for the test, deauthorized after it."""
    mac, ip = mac_of(lab.ns("hs-1")), lab.ip("hs-1")
    lab.call("authorize", mac=mac, ip=ip, minutes=30)
    try:
        yield mac, ip
    finally:
        lab.call("deauthorize", mac=mac, ip=ip)
