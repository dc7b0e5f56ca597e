"""The Vagrantfile is valid for Vagrant (Debian's package), whatever provider is at hand."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.skipif(shutil.which("vagrant") is None, reason="needs vagrant (scripts/setup.sh)")
def test_vagrant_validates_the_vagrantfile(tmp_path: Path) -> None:
    env = {**os.environ, "VAGRANT_DOTFILE_PATH": str(tmp_path / "dot"),
           "VAGRANT_HOME": str(tmp_path / "home"), "VAGRANT_CHECKPOINT_DISABLE": "1"}  # fmt: skip
    proc = subprocess.run(["vagrant", "validate", "--ignore-provider"], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=300)  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "validated successfully" in proc.stdout
    assert not (REPO / ".vagrant").exists(), "vagrant wrote into the checkout"


def test_the_vagrant_gateway_configuration_is_valid() -> None:
    from simpul.config import load_config_file

    config = load_config_file(str(REPO / "examples" / "vagrant.yaml"))
    assert {o.interface for o in config.opds} | {s.interface for s in config.hotspot_sites} == {
        "eth2",
        "eth3",
    }
