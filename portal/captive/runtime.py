"""The portal's per-process state, kept in `app.extensions` (no globals at import time)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from flask import current_app

from portal.captive.netd_replies import PortalConfig
from portal.captive.ratelimit import TokenBucket
from portal.captive.ttl_cache import TtlCache
from portal.settings import PortalSettings

EXTENSION = "simpul_captive"


class NetdLike(Protocol):
    """What the portal uses of `netctl.protocol.NetdClient` (tests pass a fake)."""

    def call(self, api_method: str, **params: Any) -> Any:
        """Call one method; returns its result or raises `ApiError`."""
        ...

    def close(self) -> None:
        """Close the connection."""
        ...


@dataclass
class Runtime:
    """Everything the views need besides the request."""

    settings: PortalSettings
    secret: bytes
    clock: Callable[[], float]
    netd_factory: Callable[[], NetdLike]
    config_cache: TtlCache[PortalConfig]
    limiter: TokenBucket
    next_visit: Callable[[], int]
    poster_max_bytes: int
    static_version: str
    warned: set[str] = field(default_factory=set)


def runtime() -> Runtime:
    """The current app's `Runtime`."""
    return current_app.extensions[EXTENSION]
