"""Where the portal finds netd, its signing key and its media, from test config or environment."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from netctl.protocol import DEFAULT_SOCKET

ENV_NETD_SOCKET = "SIMPUL_NETD_SOCKET"
ENV_SECRET_FILE = "SIMPUL_PORTAL_SECRET_FILE"
ENV_MEDIA_DIR = "SIMPUL_MEDIA_DIR"
DEFAULT_MEDIA_DIR = "/var/lib/simpul/media"
MIN_SECRET_BYTES = 32


class PortalStartupError(RuntimeError):
    """The portal cannot start: the message says what to fix."""


@dataclass(frozen=True)
class PortalSettings:
    """The portal's deployment settings."""

    netd_socket: str
    secret_file: Path | None
    media_dir: Path


def load_settings(config: Mapping[str, Any], environ: Mapping[str, str]) -> PortalSettings:
    """Settings from `config` keys NETD_SOCKET, PORTAL_SECRET_FILE, MEDIA_DIR, else `environ`."""
    secret_file = config.get("PORTAL_SECRET_FILE") or environ.get(ENV_SECRET_FILE)
    return PortalSettings(
        netd_socket=str(
            config.get("NETD_SOCKET") or environ.get(ENV_NETD_SOCKET) or DEFAULT_SOCKET
        ),
        secret_file=Path(secret_file) if secret_file else None,
        media_dir=Path(config.get("MEDIA_DIR") or environ.get(ENV_MEDIA_DIR) or DEFAULT_MEDIA_DIR),
    )


def read_secret(path: Path | None, env: str = ENV_SECRET_FILE, owner: str = "portal") -> bytes:
    """The key in `path`, whitespace-trimmed: at least 32 bytes, else a clear error naming the
    environment variable `env` that points at it and the service (`owner`) that reads it."""
    hint = (
        f"create it with `head -c 32 /dev/urandom | base64 > FILE`, readable only by the "
        f"{owner}'s user, and point {env} at it"
    )
    if path is None:
        raise PortalStartupError(f"the {owner} needs a signing key: {env} is not set; {hint}")
    try:
        secret = path.read_bytes().strip()
    except FileNotFoundError:
        raise PortalStartupError(
            f"the {owner}'s secret file {path} does not exist; {hint}"
        ) from None
    except OSError as exc:
        raise PortalStartupError(f"cannot read the {owner}'s secret file {path}: {exc}") from None
    if not secret:
        raise PortalStartupError(f"the {owner}'s secret file {path} is empty; {hint}")
    if len(secret) < MIN_SECRET_BYTES:
        raise PortalStartupError(
            f"the {owner}'s secret file {path} holds {len(secret)} bytes, fewer than "
            f"{MIN_SECRET_BYTES}; {hint}"
        )
    return secret
