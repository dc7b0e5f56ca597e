"""The lab's RADIUS server: Debian's FreeRADIUS with a copy of its stock configuration, one
client (the gateway) and a few citizens' accounts."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

STOCK = Path("/etc/freeradius/3.0")
LAB_SECRET = "lab-radius-secret"
LAB_USERS = {"warga": ("rahasia123", 1800), "tamu": ("tamu2026", 600)}  # password, seconds


def prepare(directory: Path, client: str, secret: str = LAB_SECRET) -> Path:
    """A FreeRADIUS configuration in `directory` that trusts `client` and knows LAB_USERS;
    returns the directory to pass as `freeradius -d`."""
    if directory.exists():
        shutil.rmtree(directory)
    shutil.copytree(STOCK, directory, symlinks=True)
    conf = directory / "radiusd.conf"
    text = conf.read_text()
    text = re.sub(r"(?m)^(\s*)(user|group) = freerad", r"\1# \2 = freerad", text)
    text = re.sub(r"(?m)^run_dir = .*$", f"run_dir = {directory}", text)
    text = re.sub(r"(?m)^logdir = .*$", f"logdir = {directory}", text)
    conf.write_text(text)
    (directory / "clients.conf").write_text(
        f"client simpul-gateway {{\n\tipaddr = {client}\n\tsecret = {secret}\n}}\n"
    )
    users = "".join(
        f'{name} Cleartext-Password := "{password}"\n\tSession-Timeout = {seconds}\n\n'
        for name, (password, seconds) in LAB_USERS.items()
    )
    authorize = directory / "mods-config" / "files" / "authorize"
    authorize.write_text(users + authorize.read_text())
    return directory
