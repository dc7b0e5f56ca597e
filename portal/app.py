"""The captive portal's app factory (gunicorn: `portal.app:create_captive_app()`).

Nothing is configured at import time: settings come from `test_config` or the environment
(SIMPUL_NETD_SOCKET, SIMPUL_PORTAL_SECRET_FILE, SIMPUL_MEDIA_DIR) when the factory runs.
Injectable through `test_config`: NETD_FACTORY (a zero-argument callable returning a client with
`call` and `close`), CLOCK (seconds since the epoch), NEXT_VISIT (a zero-argument callable counting
visits, which picks the video), RATE_LIMIT ((burst, refill per second)), CONFIG_TTL (seconds),
POSTER_MAX_BYTES.
"""

from __future__ import annotations

import hashlib
import itertools
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from flask import Flask

from netctl.protocol import ApiError, NetdClient
from portal.captive.errors import register_error_handlers
from portal.captive.netd_access import close_netd
from portal.captive.ratelimit import TokenBucket
from portal.captive.redirects import CaptiveRedirects
from portal.captive.runtime import EXTENSION, NetdLike, Runtime
from portal.captive.security_headers import apply_security_headers
from portal.captive.ttl_cache import TtlCache
from portal.captive.views import bp
from portal.settings import load_settings, read_secret

DEFAULTS: dict[str, Any] = {
    "MAX_CONTENT_LENGTH": 4096,
    "SEND_FILE_MAX_AGE_DEFAULT": 3600,
    "CONFIG_TTL": 10.0,
    # Per client and worker: 10 requests at once, then one every 2 s.
    "RATE_LIMIT": (10, 0.5),
    # The page, its CSS and JS weigh ~10 KB; the whole before-video budget is 100 KB.
    "POSTER_MAX_BYTES": 80_000,
    "NETD_TIMEOUT_S": 5.0,
}
STATIC_FILES = ("captive/portal.css", "captive/portal.js")


def _static_version(static_dir: Path) -> str:
    digest = hashlib.sha256()
    for name in STATIC_FILES:
        digest.update((static_dir / name).read_bytes())
    return digest.hexdigest()[:12]


def create_captive_app(test_config: dict[str, Any] | None = None) -> Flask:
    """The captive portal app; raises `PortalStartupError` if its secret file is unusable."""
    app = Flask(__name__, static_folder="static", template_folder="templates")
    app.config.from_mapping(DEFAULTS)
    if test_config:
        app.config.update(test_config)
    settings = load_settings(app.config, os.environ)
    secret = read_secret(settings.secret_file)

    clock: Callable[[], float] = app.config.get("CLOCK") or time.time
    netd_factory: Callable[[], NetdLike] = app.config.get("NETD_FACTORY") or (
        lambda: NetdClient(settings.netd_socket, timeout_s=app.config["NETD_TIMEOUT_S"])
    )
    burst, per_second = app.config["RATE_LIMIT"]
    runtime = app.extensions[EXTENSION] = Runtime(
        settings=settings,
        secret=secret,
        clock=clock,
        netd_factory=netd_factory,
        config_cache=TtlCache(app.config["CONFIG_TTL"], clock, stale_on=(ApiError,)),
        limiter=TokenBucket(burst, per_second, clock),
        next_visit=app.config.get("NEXT_VISIT") or itertools.count().__next__,
        poster_max_bytes=app.config["POSTER_MAX_BYTES"],
        static_version=_static_version(Path(app.static_folder or "")),
    )

    app.register_blueprint(bp)
    # Captive clients' requests for other sites are answered before Flask once the
    # configuration is cached (the busiest path on a hotspot: every phone's probes).
    app.wsgi_app = CaptiveRedirects(app.wsgi_app, runtime.config_cache.fresh)  # type: ignore[method-assign]
    register_error_handlers(app)
    app.after_request(apply_security_headers)
    app.teardown_appcontext(close_netd)
    return app
