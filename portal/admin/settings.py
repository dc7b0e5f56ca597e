"""Where the console finds netd, its signing key and its databases (test config or environment).

Environment: SIMPUL_NETD_SOCKET, SIMPUL_ADMIN_SECRET_FILE, SIMPUL_ADMIN_DB, SIMPUL_STATE_DIR
(the directory of simpul.db, usage.db, monitor/monitor.db and netd/dnsd/dns.db, read only),
SIMPUL_MEDIA_DIR, SIMPUL_LISTS_UPLOAD_DIR (uploaded block lists, readable by the DNS front
end; default STATE_DIR/lists), SIMPUL_ADMIN_INSECURE_COOKIES (`1` only for a console reached
over plain HTTP on loopback, as in the lab).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from netctl.protocol import DEFAULT_SOCKET
from portal.settings import DEFAULT_MEDIA_DIR, PortalStartupError

DEFAULT_STATE_DIR = "/var/lib/simpul"


@dataclass(frozen=True)
class AdminSettings:
    """The console's deployment settings."""

    netd_socket: str
    secret_file: Path | None
    console_db: Path
    state_dir: Path
    media_dir: Path
    lists_dir: Path
    secure_cookies: bool

    @property
    def usage_db(self) -> Path:
        """netd's accounting rollups (read only)."""
        return self.state_dir / "usage.db"

    @property
    def monitor_db(self) -> Path:
        """The monitor's samples, alerts and outage ledger (read; acknowledgements written)."""
        return self.state_dir / "monitor" / "monitor.db"

    @property
    def store_db(self) -> Path:
        """netd's store (read only: the village register, sessions started)."""
        return self.state_dir / "simpul.db"

    @property
    def dns_db(self) -> Path:
        """The DNS front end's counts (blocked categories)."""
        return self.state_dir / "netd" / "dnsd" / "dns.db"


def _pick(config: Mapping[str, Any], environ: Mapping[str, str], key: str, env: str) -> Any:
    return config.get(key) or environ.get(env)


def load_admin_settings(config: Mapping[str, Any], environ: Mapping[str, str]) -> AdminSettings:
    """Settings from `config` keys (NETD_SOCKET, ADMIN_SECRET_FILE, ADMIN_DB, STATE_DIR,
    MEDIA_DIR, LISTS_DIR, INSECURE_COOKIES), else the environment."""
    state_dir = Path(_pick(config, environ, "STATE_DIR", "SIMPUL_STATE_DIR") or DEFAULT_STATE_DIR)
    console_db = _pick(config, environ, "ADMIN_DB", "SIMPUL_ADMIN_DB")
    if not console_db:
        raise PortalStartupError(
            "the console needs its database: set SIMPUL_ADMIN_DB (e.g. "
            "/var/lib/simpul/console/console.db, writable by the console's user)"
        )
    secret = _pick(config, environ, "ADMIN_SECRET_FILE", "SIMPUL_ADMIN_SECRET_FILE")
    insecure = config.get("INSECURE_COOKIES", environ.get("SIMPUL_ADMIN_INSECURE_COOKIES") == "1")
    return AdminSettings(
        netd_socket=str(_pick(config, environ, "NETD_SOCKET", "SIMPUL_NETD_SOCKET")
                        or DEFAULT_SOCKET),
        secret_file=Path(secret) if secret else None,
        console_db=Path(console_db),
        state_dir=state_dir,
        media_dir=Path(_pick(config, environ, "MEDIA_DIR", "SIMPUL_MEDIA_DIR")
                       or DEFAULT_MEDIA_DIR),
        # Uploaded block lists: written by the console, read by netd and the DNS front end.
        lists_dir=Path(_pick(config, environ, "LISTS_DIR", "SIMPUL_LISTS_UPLOAD_DIR")
                       or state_dir / "lists"),
        secure_cookies=not insecure,
    )  # fmt: skip
