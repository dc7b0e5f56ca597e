"""How netd runs the policy DNS front end: the JSON file it renders for it and its argv. Pure.

The file carries only the configuration sections the front end needs (never the OTP token, the
RADIUS secret or the admins), where its files are, and netd's socket.
"""

from __future__ import annotations

import grp
import json
import pwd
import sys

from simpul.config.load import config_to_data
from simpul.config.model import Config

SECTIONS = (
    "node", "uplinks", "zones", "opds", "services", "hotspot_sites", "remote_sites",
    "policies", "schedules", "filtering", "qos",
)  # fmt: skip


def render_dnsd_config(
    config: Config,
    *,
    db: str,
    control: str,
    pid_file: str,
    port: int = 53,
    netd_socket: str | None = None,
) -> str:
    """The JSON file netd writes for dnsd: the sections it needs, where its files are, and
    netd's socket (to open walled-garden addresses and cut flows at schedule edges)."""
    data = config_to_data(config)
    return json.dumps(
        {
            "config": {
                **{k: data[k] for k in SECTIONS},
                # The walled garden's names; never the OTP token or the RADIUS secret.
                "portal": {k: v for k, v in data["portal"].items() if k not in ("otp", "radius")},
            },
            "netd_socket": netd_socket,
            "port": port,
            "db": db,
            "control": control,
            "pid_file": pid_file,
        },
        indent=1,
        sort_keys=True,
    )


NOGROUP_GID = 65534


def user_ids(user: str) -> tuple[int, int]:
    """(uid, gid) of the front end's user: a name, or a bare uid with no account (then the
    group is nogroup), so the lab needs no user added to the machine."""
    if user.isdigit():
        try:
            return int(user), grp.getgrnam("nogroup").gr_gid
        except KeyError:
            return int(user), NOGROUP_GID
    entry = pwd.getpwnam(user)
    return entry.pw_uid, entry.pw_gid


def dnsd_command(conf_path: str, user: str) -> list[str]:
    """The argv that runs the front end as `user` with only the right to bind port 53."""
    uid, gid = user_ids(user)
    return [
        "setpriv", f"--reuid={uid}", f"--regid={gid}", "--clear-groups",
        "--inh-caps=-all,+net_bind_service", "--ambient-caps=-all,+net_bind_service",
        "--bounding-set=-all,+net_bind_service",
        sys.executable, "-m", "netctl.dnsd", "--config", conf_path,
    ]  # fmt: skip
