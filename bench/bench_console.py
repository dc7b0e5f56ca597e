"""The admin console's dashboard and monthly report pages over a year of a regency's data.

`bench.console_data` writes a year of rollups for 100 hotspot sites, 50 OPDs, 2 uplinks and 100
remote sites (usage.db, monitor.db, dns.db, the store with its village register) and the
configuration they belong to. Then:

- a stand-in for netd listens on a Unix socket in the temporary directory and speaks netd's line
  protocol (`netctl.protocol`: {"id", "ok", "result"} per line) with netd's answers to what these
  pages ask: `config_document` (the store's, as `netctl.config_api` gives it), `portal_config`
  (`Netd.portal_config` itself), `config_pending` (null), `clients` (CLIENTS online, spread over
  the sites, as `Netd.clients` lists them) and `audit_record`; anything else is netd's
  `unknown-method`. Answers are encoded once: the figures are the console's, not netd's;
- ours: the console (`portal.admin.app:create_admin_app()`) under the repository's gunicorn as
  in production (gthread, 2 workers, 8 threads) on a free 127.0.0.1 port, a reviewer signed in
  through /masuk; each page requested WARMUP times, then ROUNDS times in a row over one kept-alive
  connection, timed from the request sent to the whole answer read. Every answer must be 200
  with the page's expected content, or it counts as failed;
- peer (the data floor): what each page computes, called in-process without the web: the same
  `simpul.usage.queries` / `monitoring.store` reads the dashboard makes, and the
  `monitoring.reports.monthly` functions the report pages call (with their database connections
  opened per request, as the pages do). Ratio = peer / ours: the share of a page's time that is
  the data itself; the rest is Flask, templates, charts, netd round trips and HTTP.

Target: ours p95 ≤ 300 ms per page. Gunicorn, the stand-in and the temporary directory are
always removed, also on failure or Ctrl-C. No lab and no root needed.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import random
import re
import signal
import socket
import socketserver
import subprocess
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from urllib.parse import urlencode

from bench.console_data import ConsoleData, generate, verify
from bench.harness import REPO, Result, Target, percentile, say
from monitoring import store as monitor_store
from monitoring.reports.monthly import (
    availability_report,
    blindspot_report,
    month_blind_spots,
    month_bounds,
    site_downtime,
    usage_report,
)
from monitoring.reports.register import load_register
from netctl.dns_stats import totals as dns_totals
from netctl.netd import Netd
from netctl.protocol import MAX_LINE
from portal.admin.accounts import ConsoleDb
from portal.admin.formatting import number
from simpul.store import Store
from simpul.usage import queries
from simpul.usage.buckets import bucket_start
from simpul.usage.db import connect as usage_connect

CLIENTS = 10_000
WARMUP = 4  # per page: both workers load their caches (config, templates)
ROUNDS = 20
TARGET_MS = 300.0
USER, PASSWORD = "peninjau", "kata-sandi-bench-console"
BLINDSPOT_THRESHOLD = 5.0  # the page's default
START_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class Page:
    """A page to time: its path, what its answer must contain, and its in-process peer."""

    name: str
    path: str
    expected: tuple[str | tuple[str, ...], ...]  # each: a text, or texts of which one
    peer: Callable[[Path, ConsoleData], object]


# -- the stand-in for netd ----------------------------------------------------------------------


class NetdStandIn(socketserver.ThreadingUnixStreamServer):
    """netd's line protocol on a Unix socket, with canned answers (encoded once) and a count
    of the calls per method."""

    daemon_threads = True

    def __init__(self, path: str, answers: dict[str, Any]) -> None:
        self.encoded = {m: _json(a) for m, a in answers.items()}
        self.calls: Counter[str] = Counter()
        self.lock = threading.Lock()
        super().__init__(path, _NetdHandler)

    def answer(self, line: bytes) -> bytes:
        """One reply line, as netd's `Server._answer` shapes it."""
        try:
            request = json.loads(line)
            rid, method = request.get("id"), request.get("method")
        except (ValueError, AttributeError):
            return _reply({"id": None, "ok": False, "error": {
                "code": "invalid", "message": "request is not JSON"}})  # fmt: skip
        with self.lock:
            self.calls[str(method)] += 1
        if method not in self.encoded:
            return _reply({"id": rid, "ok": False, "error": {
                "code": "unknown-method", "message": f"no method {method!r}"}})  # fmt: skip
        return b'{"id":%s,"ok":true,"result":%s}\n' % (json.dumps(rid).encode(),
                                                        self.encoded[method])  # fmt: skip

    def take_calls(self) -> Counter[str]:
        """The calls counted since the last take."""
        with self.lock:
            calls, self.calls = self.calls, Counter()
        return calls


class _NetdHandler(socketserver.StreamRequestHandler):
    server: NetdStandIn

    def handle(self) -> None:
        while line := self.rfile.readline(MAX_LINE):
            self.wfile.write(self.server.answer(line))
            self.wfile.flush()


def _json(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


def _reply(obj: dict[str, Any]) -> bytes:
    return _json(obj) + b"\n"


def online_clients(data: ConsoleData, now: float, rng: random.Random) -> list[dict[str, Any]]:
    """CLIENTS sessions as `Netd.clients` lists them, spread unevenly over the sites (at most
    what a site's subnet holds)."""
    sites = data.config.hotspot_sites
    room = [len(list(s.subnet.hosts())) - 1 for s in sites]  # the gateway holds the first
    weights = [rng.lognormvariate(0, 0.6) for _ in sites]
    per_site = [min(r, round(CLIENTS * w / sum(weights))) for r, w in zip(room, weights,
                                                                          strict=True)]  # fmt: skip
    busiest = sorted(range(len(sites)), key=lambda n: -weights[n])
    while (missing := CLIENTS - sum(per_site)) != 0:
        for n in busiest:
            if missing > 0 and per_site[n] < room[n]:
                per_site[n], missing = per_site[n] + 1, missing - 1
            elif missing < 0 and per_site[n] > 0:
                per_site[n], missing = per_site[n] - 1, missing + 1
    out = []
    for n, (site, count) in enumerate(zip(sites, per_site, strict=True)):
        hosts = list(site.subnet.hosts())[1:]
        for i in range(count):
            started = now - rng.uniform(60, 7000)
            out.append({
                "mac": f"02:{n >> 8:02x}:{n & 0xFF:02x}:00:{i >> 8:02x}:{i & 0xFF:02x}",
                "ip": str(hosts[i]), "site": site.slug,
                "method": rng.choice(site.access.methods), "started_at": started,
                "expires_at": started + site.access.session_minutes * 60, "in_kernel": True,
                "up_bytes": rng.randrange(10**5, 10**8), "down_bytes": rng.randrange(10**6, 10**9),
            })  # fmt: skip
    return out


def netd_answers(state_dir: Path, data: ConsoleData) -> dict[str, Any]:
    """netd's answers for this node: the store's configuration document, `Netd.portal_config`
    of the configuration, no change pending, the clients online, audit records taken."""
    with Store(str(state_dir / "simpul.db"), readonly=True) as store:
        document = {"revision": store.config_revision(), "document": store.config_document(),
                    "pending": None}  # fmt: skip
    portal = Netd.portal_config(SimpleNamespace(_config=lambda: data.config, dns_socket=None), {})  # type: ignore[arg-type]
    return {
        "config_document": document,
        "portal_config": portal,
        "config_pending": None,
        "clients": online_clients(data, time.time(), random.Random(7)),
        "audit_record": {"recorded": True},
    }


@contextmanager
def netd_stand_in(path: str, answers: dict[str, Any]) -> Iterator[NetdStandIn]:
    """The stand-in serving on `path` in a thread, shut down afterwards."""
    server = NetdStandIn(path, answers)
    thread = threading.Thread(target=server.serve_forever, name="netd-stand-in", daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


# -- the console under gunicorn ------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def console(tmp: Path, netd_socket: str) -> Iterator[int]:
    """The console under gunicorn as in production (gthread, 2 workers, 8 threads) on a free
    loopback port, with a reviewer; yields the port. Always stopped afterwards."""
    secret = tmp / "admin.secret"
    secret.write_bytes(os.urandom(32).hex().encode())
    console_db = tmp / "console" / "console.db"
    console_db.parent.mkdir()
    db = ConsoleDb(str(console_db))
    try:
        db.add_user(USER, "reviewer", PASSWORD)
    finally:
        db.close()
    port = _free_port()
    env = {
        **os.environ,
        "SIMPUL_NETD_SOCKET": netd_socket,
        "SIMPUL_ADMIN_DB": str(console_db),
        "SIMPUL_ADMIN_SECRET_FILE": str(secret),
        "SIMPUL_STATE_DIR": str(tmp / "state"),
        "SIMPUL_MEDIA_DIR": str(tmp / "media"),
        "SIMPUL_ADMIN_INSECURE_COOKIES": "1",
    }
    log = tmp / "console.log"
    argv = [str(REPO / ".venv" / "bin" / "gunicorn"), "--worker-class", "gthread",
            "--workers", "2", "--threads", "8", "--worker-tmp-dir", "/dev/shm",
            "--graceful-timeout", "3", "--chdir", str(REPO), "--bind", f"127.0.0.1:{port}",
            "--error-logfile", str(log), "portal.admin.app:create_admin_app()"]  # fmt: skip
    process = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL,
                               stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
                               start_new_session=True)  # fmt: skip
    try:
        _wait_until_up(port, process, log)
        yield port
    finally:
        _stop(process)


def _wait_until_up(port: int, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            break
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            connection.request("GET", "/masuk")
            if connection.getresponse().status == 200:
                connection.close()
                return
        except OSError:
            pass
        time.sleep(0.2)
    tail = "\n".join(log.read_text(errors="replace").splitlines()[-15:]) if log.exists() else ""
    raise RuntimeError(f"the console did not start on 127.0.0.1:{port}:\n{tail}")


def _stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM to gunicorn's process group (the master and its workers: ours alone, made with
    start_new_session), SIGKILL after 10 s."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(5)
    with contextlib.suppress(ProcessLookupError):  # workers outliving the master
        os.killpg(process.pid, signal.SIGKILL)


@dataclass
class Browser:
    """A signed-in browser's HTTP: one kept-alive connection, the session cookie kept."""

    port: int
    cookies: dict[str, str] = field(default_factory=dict)
    connection: http.client.HTTPConnection | None = None

    def request(self, method: str, path: str, body: str | None = None) -> tuple[int, str, float]:
        """(status, body, seconds from sending the request to the whole answer read)."""
        headers = {"Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items())}
        if body is not None:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        for attempt in (1, 2):
            if self.connection is None:
                self.connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
                self.connection.connect()
            try:
                started = time.perf_counter()
                self.connection.request(method, path, body, headers)
                response = self.connection.getresponse()
                text = response.read().decode("utf-8", errors="replace")
                elapsed = time.perf_counter() - started
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                self.close()  # the server closed an idle connection: once more, anew
                if attempt == 2:
                    raise
                continue
            for value in response.headers.get_all("Set-Cookie") or []:
                name, _, rest = value.partition("=")
                self.cookies[name.strip()] = rest.split(";", 1)[0]
            if response.getheader("Connection", "").lower() == "close":
                self.close()
            return response.status, text, elapsed
        raise AssertionError("unreachable")

    def close(self) -> None:
        """Close the connection."""
        if self.connection is not None:
            self.connection.close()
            self.connection = None


def sign_in(port: int) -> Browser:
    """A reviewer signed in through the form (GET /masuk for the CSRF token, then POST)."""
    browser = Browser(port)
    status, text, _ = browser.request("GET", "/masuk")
    token = re.search(r'name="csrf_token" value="([^"]+)"', text)
    if status != 200 or token is None:
        raise RuntimeError(f"GET /masuk answered {status} without a CSRF token")
    form = urlencode({"name": USER, "password": PASSWORD, "csrf_token": token[1]})
    status, text, _ = browser.request("POST", "/masuk", form)
    if status != 302:
        raise RuntimeError(f"signing in answered {status}: {text[:300]}")
    return browser


# -- the peers: each page's data work in-process -------------------------------------------------


def dashboard_peer(state_dir: Path, data: ConsoleData) -> object:
    """The dashboard's reads (`portal.admin.dashboard`): the latest closed 5-minute bucket with
    traffic and its rows, the last day's hourly series, each target's latest sample and the
    alert states."""
    tz, now = data.config.node.zoneinfo, time.time()
    usage = usage_connect(str(state_dir / "usage.db"), readonly=True)
    try:
        open_start = bucket_start("5m", now, tz)
        latest = usage.execute(
            "SELECT MAX(start) FROM usage WHERE level = '5m' AND start >= ? AND start < ?",
            (open_start - 86400, open_start),
        ).fetchone()[0]
        rows = queries.series(usage, tz, latest, latest + 300, level="5m")
        end = bucket_start("1h", now, tz)
        hours = queries.series(usage, tz, end - 86400, end, level="1h")
    finally:
        usage.close()
    monitor = monitor_store.connect(str(state_dir / "monitor" / "monitor.db"), readonly=True)
    try:
        samples = monitor_store.latest(monitor)
        states = monitor_store.alert_states(monitor)
    finally:
        monitor.close()
    return rows, hours, samples, states


def usage_peer(state_dir: Path, data: ConsoleData) -> object:
    """The usage report as the page builds it: DNS counts, then `usage_report`."""
    year, month = data.month
    tz = data.config.node.zoneinfo
    start, end = month_bounds(year, month, tz)
    last_day = date.fromordinal(end.date().toordinal() - 1)
    dns = dns_totals(str(state_dir / "netd" / "dnsd" / "dns.db"), start.date().isoformat(),
                     last_day.isoformat())  # fmt: skip
    usage = usage_connect(str(state_dir / "usage.db"), readonly=True)
    try:
        return usage_report(data.config, usage, dns, year, month, date.today())
    finally:
        usage.close()


def availability_peer(state_dir: Path, data: ConsoleData) -> object:
    """The availability report from the outage ledger."""
    monitor = monitor_store.connect(str(state_dir / "monitor" / "monitor.db"), readonly=True)
    try:
        now = datetime.now(data.config.node.zoneinfo)
        return availability_report(data.config, monitor, *data.month, now, now.date())
    finally:
        monitor.close()


def blindspot_peer(state_dir: Path, data: ConsoleData) -> object:
    """The blind-spot report and its map's villages: the register, the sites' downtime."""
    tz = data.config.node.zoneinfo
    with Store(str(state_dir / "simpul.db"), readonly=True) as store:
        villages = load_register(store)
    start, end = month_bounds(*data.month, tz)
    now = datetime.now(tz)
    monitor = monitor_store.connect(str(state_dir / "monitor" / "monitor.db"), readonly=True)
    try:
        downtime = site_downtime(data.config, monitor, start, end, now)
    finally:
        monitor.close()
    spots = month_blind_spots(data.config, villages, downtime, *data.month, BLINDSPOT_THRESHOLD)
    report = blindspot_report(data.config, villages, spots, *data.month, BLINDSPOT_THRESHOLD,
                              now.date())  # fmt: skip
    return report, spots


def pages(data: ConsoleData) -> list[Page]:
    """The four pages with the content each must show."""
    month = f"{data.month[0]:04d}-{data.month[1]:02d}"
    clients = tuple(number(CLIENTS, lang) for lang in ("id", "en"))
    config = data.config
    down = config.monitoring.targets[0].name  # the generator leaves its outage open
    last_site, last_opd = config.hotspot_sites[-1].name, config.opds[-1].name
    return [
        Page("dashboard", "/", (clients, last_site, down, "<svg"), dashboard_peer),
        Page("usage report", f"/laporan/penggunaan?month={month}",
             (month, last_opd, last_site, config.uplinks[-1].name), usage_peer),
        Page("availability report", f"/laporan/ketersediaan?month={month}",
             (month, config.monitoring.targets[-1].name), availability_peer),
        Page("blind-spot report", f"/laporan/titik-buta?month={month}",
             (month, "Desa Contoh", "<svg"), blindspot_peer),
    ]  # fmt: skip


# -- measuring ----------------------------------------------------------------------------------


def _missing(page: Page, status: int, text: str) -> list[str]:
    """Why an answer does not count (empty: it does)."""
    why = [] if status == 200 else [f"status {status}"]
    for expected in page.expected:
        options = (expected,) if isinstance(expected, str) else expected
        if not any(option in text for option in options):
            why.append(f"no {' or '.join(map(repr, options))}")
    return why


def time_ours(browser: Browser, page: Page, netd: NetdStandIn) -> dict[str, Any]:
    """WARMUP untimed requests, then ROUNDS timed: latencies, failures, netd calls, bytes."""
    for _ in range(WARMUP):
        browser.request("GET", page.path)
    netd.take_calls()
    samples, failures, size = [], [], 0
    for _ in range(ROUNDS):
        status, text, elapsed = browser.request("GET", page.path)
        samples.append(elapsed * 1000)
        size = len(text.encode())
        why = _missing(page, status, text)
        if why:
            failures.append("; ".join(why))
    calls = netd.take_calls()
    per_request = {method: n / ROUNDS for method, n in sorted(calls.items())}
    return {"ms": samples, "failures": failures, "bytes": size,
            "netd_calls_per_request": per_request}  # fmt: skip


def time_peer(state_dir: Path, data: ConsoleData, page: Page) -> list[float]:
    """One untimed call of the page's peer, then ROUNDS timed (ms)."""
    page.peer(state_dir, data)
    samples = []
    for _ in range(ROUNDS):
        started = time.perf_counter()
        page.peer(state_dir, data)
        samples.append((time.perf_counter() - started) * 1000)
    return samples


def run() -> list[Result]:
    """Generate the data, start the stand-in and the console, time every page and its peer."""
    with tempfile.TemporaryDirectory(prefix="simpul-bench-console-", dir="/tmp") as name:
        tmp = Path(name)
        state_dir = tmp / "state"
        state_dir.mkdir()
        (tmp / "media").mkdir()
        say("generating a year of data for 100 sites, 50 OPDs, 100 remote sites")
        data = generate(state_dir)
        say(f"generated in {data.seconds:.1f} s: {data.rows}")
        checked = verify(state_dir, data)
        say(f"levels agree: {checked}")
        socket_path = str(tmp / "netd.sock")
        figures: dict[str, dict[str, Any]] = {}
        with netd_stand_in(socket_path, netd_answers(state_dir, data)) as netd, \
                console(tmp, socket_path) as port:  # fmt: skip
            browser = sign_in(port)
            try:
                for page in pages(data):
                    figures[page.name] = time_ours(browser, page, netd)
                    say(f"{page.name}: ours p50 {percentile(figures[page.name]['ms'], 50):.0f} "
                        f"ms, p95 {percentile(figures[page.name]['ms'], 95):.0f} ms, "
                        f"{len(figures[page.name]['failures'])} failed")  # fmt: skip
            finally:
                browser.close()
            load = os.getloadavg()
        for page in pages(data):
            figures[page.name]["peer_ms"] = time_peer(state_dir, data, page)
            say(f"{page.name}: peer p50 {percentile(figures[page.name]['peer_ms'], 50):.0f} ms")
    return _results(data, figures, load)


def _results(data: ConsoleData, figures: dict[str, dict[str, Any]],
             load: tuple[float, float, float]) -> list[Result]:  # fmt: skip
    results = []
    for name, f in figures.items():
        details = {"ours_ms": f["ms"], "peer_ms": f["peer_ms"], "bytes": f["bytes"],
                   "failures": f["failures"],
                   "netd_calls_per_request": f["netd_calls_per_request"]}  # fmt: skip
        for p, target in ((95, Target("ours", "<=", TARGET_MS)), (50, None)):
            results.append(Result(
                "console", f"{name} p{p}", "GET via gunicorn (2 gthread workers)",
                percentile(f["ms"], p), "ms", "lower", "same figures in-process (data floor)",
                percentile(f["peer_ms"], p), target=target, details=details if p == 95 else {},
            ))  # fmt: skip
    failed = {name: len(f["failures"]) for name, f in figures.items()}
    results.append(Result(
        "console", f"failed answers of {ROUNDS * len(figures)}", "status 200 + expected content",
        sum(failed.values()), "requests", "lower", target=Target("ours", "<=", 0),
        details={"per_page": failed, "month": "{:04d}-{:02d}".format(*data.month),
                 "rows": data.rows, "generated_s": round(data.seconds, 1),
                 "clients_online": CLIENTS, "rounds": ROUNDS, "warmup": WARMUP, "loadavg": load},
    ))  # fmt: skip
    return results
