"""The captive portal under load: probe answers, a login storm, and grant to first forwarded packet.

- `probe`: an unauthorized hotspot client (spb-hs-2) runs `wrk` against Android's probe URL, which
  nftables redirects to the portal (gunicorn + Flask, a netd `whois` per request), answered
  `302 Found`; with `Connection: close` (a phone makes one probe per connection) and with
  keep-alive. Peer: nginx in the gateway answering `return 302` on another port of the same
  hotspot gateway address (a temporary `nft insert rule … in_hotspot … accept` lets it in). The
  site's shaping is widened for this lab (`PROBE_EDITS`) so the server, not HTB, is measured.
- `storm`: 1,000 logins (POST /watch → token, POST /grant) from 1,000 addresses of one client
  namespace, spread evenly over 9.5 s; peer: the same storm against GET /healthz.
- `grant`: with 10,000 clients in the authorized set, per fresh client: POST /grant round trip,
  then the time until its first TCP connect through the gateway; peer: the connect time of a client
  authorized long before.

`storm` and `grant` build their lab from a variant of examples/lab.yaml (see `variant_config`).
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bench.bench_authorize import worker as auth_worker
from bench.bench_forward import auth_elements, sh
from bench.harness import (
    LAB_CONFIG,
    REPO,
    Result,
    Target,
    free_addresses,
    lab,
    percentile,
    say,
    summary,
)
from simpul.lab.topology import LAB_BULK

# -- probe ---------------------------------------------------------------------------------------
PROBE_SITE = "taman-cik-puan"  # spb-hs-2 in examples/lab.yaml, 10.40.2.0/24
PROBE_URL = "http://connectivitycheck.gstatic.com/generate_204"
# The same foreign host, a path that is no probe: answered 302 to the portal's start page without
# asking netd (no whois): tells the Flask/gunicorn cost from the netd round trip.
NO_WHOIS_URL = "http://connectivitycheck.gstatic.com/favicon.ico"
WRK_THREADS, WRK_CONNECTIONS, WRK_SECONDS, WRK_WARMUP_S = 2, 64, 10, 2
NGINX_PORT = 8081
NGINX_CACHE = Path("/var/tmp/simpul-bench/nginx")  # Debian's nginx .deb, extracted, not installed
TARGET_PROBE_RPS = 5000.0
TARGET_PROBE_P99_MS = 20.0

# -- storm and grant -----------------------------------------------------------------------------
SITE = "rtm-lam"  # widened to 10.40.0.0/22 in the variant configuration; spb-hs-1
STORM_N = 1000
STORM_SECONDS = 9.5  # the last login is due at 9.49 s: all done within 10 s
STORM_THREADS = 256  # logins in flight at most; more are late (start_lag_ms in the JSON says)
TARGET_STORM_P99_MS = 50.0
TARGET_STORM_WALL_S = 10.0
GRANT_N = 200
GRANT_CONTROL_EVERY = 3  # every 3rd fresh client is a control row: GRANT_N // 2 more clients
GRANT_PREFILL = 10_000
TARGET_FIRST_FORWARD_P99_MS = 2.0

# Text edits of examples/lab.yaml for the storm and grant labs: each must match exactly once.
VARIANT_EDITS = (
    # rtm-lam takes 1,022 hosts; its gateway (and so the portal's address) becomes 10.40.0.1.
    ("    subnet: 10.40.1.0/24\n", "    subnet: 10.40.0.0/22\n"),
    # taman-cik-puan moves out of the widened /22 (10.40.0.0-10.40.3.255) and out of the range
    # bench.auth_worker's fake clients use (10.40.3.2 upwards, 10,000 of them up to 10.40.42.x).
    ("    subnet: 10.40.2.0/24\n", "    subnet: 10.40.200.0/24\n"),
    # No wait between the token and the grant.
    ("  video_seconds: 30\n", "  video_seconds: 0\n"),
)
# For `probe`: taman-cik-puan's shaping (HTB on its bridge, 20 Mbit/s down, which every answer
# the gateway sends to the site passes, the portal's too) is widened to 10 Gbit/s: at 20 Mbit/s
# it, not the server, is what limits nginx (~5,900 keep-alive 302s/s of ~340 bytes).
PROBE_EDITS = (
    (
        "    location: {lat: 1.0118, lon: 102.7121}\n    bandwidth: {down_mbps: 20, up_mbps: 5}\n",
        "    location: {lat: 1.0118, lon: 102.7121}\n"
        "    bandwidth: {down_mbps: 10000, up_mbps: 10000}\n",
    ),
)


# -- helpers -------------------------------------------------------------------------------------


def variant_config(directory: Path, edits: tuple[tuple[str, str], ...] = VARIANT_EDITS) -> str:
    """A copy of examples/lab.yaml with `edits` applied, in `directory`; its path."""
    text = Path(LAB_CONFIG).read_text(encoding="utf-8")
    for old, new in edits:
        if text.count(old) != 1:
            raise RuntimeError(f"examples/lab.yaml changed: {old.strip()!r} is not there once")
        text = text.replace(old, new)
    path = directory / "lab-portal-bench.yaml"
    path.write_text(text, encoding="utf-8")
    return str(path)


@contextmanager
def variant_lab(edits: tuple[tuple[str, str], ...] = VARIANT_EDITS) -> Iterator[Any]:
    """The lab of a variant configuration (a temporary file, removed afterwards)."""
    with (
        tempfile.TemporaryDirectory(prefix="spb-bench-") as tmp,
        lab(config_path=variant_config(Path(tmp), edits)) as the_lab,
    ):
        yield the_lab


def tree_state() -> dict[str, Any]:
    """The commit and uncommitted changes measured (others may be editing the tree)."""
    head = sh("git", "-C", str(REPO), "rev-parse", "--short", "HEAD", check=False).stdout.strip()
    dirty = sh("git", "-C", str(REPO), "status", "--porcelain", check=False).stdout.splitlines()
    return {"head": head, "uncommitted": [line for line in dirty if "bench/" not in line]}


def environment() -> dict[str, Any]:
    """Load and other labs on the machine while measuring (they share the 2 CPUs)."""
    from simpul.lab.runner import namespaces

    others = sorted({ns.split("-")[0] for ns in namespaces("") if not ns.startswith("spb-")})
    env = {"loadavg": [round(x, 2) for x in os.getloadavg()], "other_labs": others}
    if others:
        say(f"warning: other namespaces are up ({', '.join(o + '-*' for o in others)}): "
            f"they share the CPUs; load {env['loadavg']}")  # fmt: skip
    return env


def portal_restarts(the_lab: Any) -> dict[str, int]:
    """gunicorn worker boots and --max-requests restarts in the lab's portal-http log."""
    try:
        text = the_lab.paths.log("portal-http").read_text(errors="replace")
    except OSError:
        return {}
    return {
        "booting_worker": text.count("Booting worker"),
        "autorestarting": text.count("Autorestarting worker"),
    }


def add_addresses(ns: str, addresses: list[str], prefixlen: int, dev: str = "eth0") -> None:
    """Give `ns`'s `dev` the addresses, in one `ip -batch`."""
    batch = "".join(f"addr add {a}/{prefixlen} dev {dev}\n" for a in addresses)
    proc = subprocess.run(
        ["ip", "-n", ns, "-batch", "-"], input=batch, capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        raise RuntimeError(f"ip -batch in {ns} failed: {proc.stderr.strip()}")


def portal_worker(ns: str, sources: list[str], *args: str, timeout_s: float = 120) -> Any:
    """Run bench.portal_worker in `ns` with `sources` on stdin; its JSON document."""
    argv = ["ip", "netns", "exec", ns, sys.executable, "-m", "bench.portal_worker", *args]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.run(
        argv,
        cwd=REPO,
        env=env,
        input="\n".join(sources) + "\n",
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"portal_worker failed ({proc.returncode}): {proc.stderr.strip()}")
    return json.loads(proc.stdout)


def _video(the_lab: Any) -> str:
    videos = the_lab.config.portal.videos
    return videos[0].file if videos else ""


def _summary(samples: list[float]) -> dict[str, float] | None:
    """summary(), or None for no samples."""
    return summary(samples) if samples else None


def _p(samples: list[float], pct: float) -> float:
    """Percentile, or inf when nothing succeeded (a latency target then shows MISS)."""
    return percentile(samples, pct) if samples else math.inf


# -- probe: wrk against the portal and nginx ----------------------------------------------------

_UNIT_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0, "h": 3_600_000.0}
_DURATION = r"([\d.]+)(us|ms|s|m|h)"


def parse_wrk(text: str) -> dict[str, Any]:
    """Requests/sec, the latency distribution (ms), counts and errors from wrk's text output."""
    out: dict[str, Any] = {}
    rps = re.search(r"^Requests/sec:\s+([\d.]+)\s*$", text, re.MULTILINE)
    if rps is None:
        raise ValueError(f"no Requests/sec in wrk's output:\n{text}")
    out["requests_per_s"] = float(rps.group(1))
    dist = {
        f"p{float(pct):g}": float(value) * _UNIT_MS[unit]
        for pct, value, unit in re.findall(
            rf"^\s*(\d+(?:\.\d+)?)%\s+{_DURATION}\s*$", text, re.MULTILINE
        )
    }
    if "p99" not in dist:
        raise ValueError(f"no 99% line in wrk's latency distribution:\n{text}")
    out["latency_ms"] = dist
    stats = re.search(rf"^\s*Latency\s+{_DURATION}\s+{_DURATION}\s+{_DURATION}", text, re.MULTILINE)
    if stats:
        out["latency_ms"].update(
            avg=float(stats.group(1)) * _UNIT_MS[stats.group(2)],
            stdev=float(stats.group(3)) * _UNIT_MS[stats.group(4)],
            max=float(stats.group(5)) * _UNIT_MS[stats.group(6)],
        )
    total = re.search(
        rf"^\s*(\d+) requests in {_DURATION}, ([\d.]+)(B|KB|MB|GB) read", text, re.MULTILINE
    )
    if total:
        out["requests"] = int(total.group(1))
        out["duration_s"] = float(total.group(2)) * _UNIT_MS[total.group(3)] / 1000
        read = float(total.group(4)) * 1024 ** ("B", "KB", "MB", "GB").index(total.group(5))
        out["bytes_per_response"] = round(read / max(1, out["requests"]))
    errors = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text
    )
    out["socket_errors"] = (
        dict(zip(("connect", "read", "write", "timeout"), map(int, errors.groups()), strict=True))
        if errors
        else {"connect": 0, "read": 0, "write": 0, "timeout": 0}
    )
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    out["non_2xx_3xx"] = int(bad.group(1)) if bad else 0
    return out


def wrk(ns: str, url: str, *, close: bool, seconds: int = WRK_SECONDS) -> dict[str, Any]:
    """One wrk run from `ns`; parsed output plus the command line."""
    argv = ["wrk", f"-t{WRK_THREADS}", f"-c{WRK_CONNECTIONS}", f"-d{seconds}s", "--timeout", "5s"]
    argv += ["--latency", *(["-H", "Connection: close"] if close else []), url]
    proc = subprocess.run(
        ["ip", "netns", "exec", ns, *argv],
        capture_output=True,
        text=True,
        timeout=seconds + 60,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"wrk failed ({proc.returncode}): {proc.stderr.strip()}")
    parsed = parse_wrk(proc.stdout)
    parsed["command"] = " ".join(
        f"'{a}'" if " " in a else a for a in ["ip", "netns", "exec", ns, *argv]
    )
    parsed["raw"] = proc.stdout
    return parsed


def nginx_binary() -> str:
    """nginx from PATH, else Debian's nginx package fetched with `apt-get download` and unpacked
    under NGINX_CACHE: installing it would also start it on the host (port 80, no systemd here)."""
    found = shutil.which("nginx")
    if found:
        return found
    binary = NGINX_CACHE / "root" / "usr" / "sbin" / "nginx"
    if not binary.exists():
        say(f"nginx is not installed: apt-get download nginx, unpacked in {NGINX_CACHE}")
        NGINX_CACHE.mkdir(parents=True, exist_ok=True)
        proc = subprocess.run(
            ["apt-get", "download", "nginx"],
            cwd=NGINX_CACHE,
            capture_output=True,
            text=True,
            check=False,
        )
        debs = sorted(NGINX_CACHE.glob("nginx_*.deb"))
        if proc.returncode != 0 or not debs:
            raise RuntimeError(f"apt-get download nginx failed: {proc.stderr.strip()}")
        sh("dpkg-deb", "-x", str(debs[-1]), str(NGINX_CACHE / "root"))
    return str(binary)


NGINX_CONF = """\
# The peer: the fastest C server giving the captive answer. Only this benchmark uses it.
daemon off;
master_process on;
worker_processes {workers};
pid {dir}/nginx.pid;
error_log stderr warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_temp_path {dir}/body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    server {{
        listen {address}:{port};
        location / {{ return 302 http://{hostname}/; }}
    }}
}}
"""


class Nginx:
    """nginx inside the gateway namespace on `address:port`, and the input rule that admits
    hotspot clients to that port; both removed by `stop`."""

    def __init__(self, gateway_ns: str, address: str, port: int, hostname: str) -> None:
        self.gw, self.address, self.port, self.hostname = gateway_ns, address, port, hostname
        self.dir = Path(tempfile.mkdtemp(prefix="spb-bench-nginx-"))
        self.proc: subprocess.Popen[bytes] | None = None
        self.rule_handle: str | None = None
        self.version = ""

    def start(self) -> None:
        """Start nginx (2 worker processes, as gunicorn has 2 workers); open the port."""
        binary = nginx_binary()
        self.version = sh(binary, "-v").stderr.strip()
        conf = self.dir / "nginx.conf"
        conf.write_text(
            NGINX_CONF.format(
                workers=2,
                dir=self.dir,
                address=self.address,
                port=self.port,
                hostname=self.hostname,
            )
        )
        log = (self.dir / "nginx.log").open("wb")
        self.proc = subprocess.Popen(
            ["ip", "netns", "exec", self.gw, binary, "-e", "stderr", "-p", str(self.dir),
             "-c", str(conf)],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )  # fmt: skip
        log.close()
        # The gateway's input policy admits only 80/443 from hotspots: one rule, first in the
        # chain, for this address and port; it is deleted by its handle in stop().
        added = sh("ip", "netns", "exec", self.gw, "nft", "--echo", "--handle", "insert", "rule",
                   "inet", "simpul", "in_hotspot", "ip", "daddr", self.address, "tcp", "dport",
                   str(self.port), "accept", "comment", '"spb bench nginx peer"')  # fmt: skip
        match = re.search(r"# handle (\d+)", added.stdout)
        if match is None:
            raise RuntimeError(f"nft gave no handle for the inserted rule: {added.stdout!r}")
        self.rule_handle = match.group(1)
        deadline = time.monotonic() + 10
        url = f"http://{self.address}:{self.port}/"
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"nginx exited: {(self.dir / 'nginx.log').read_text()}")
            probe = sh("ip", "netns", "exec", self.gw, "curl", "-s", "-o", "/dev/null", "-w",
                       "%{http_code}", "-m", "1", url, check=False)  # fmt: skip
            if probe.stdout == "302":
                return
            time.sleep(0.1)
        raise RuntimeError(f"nginx did not answer on {url}")

    def stop(self) -> None:
        """Delete the input rule and stop nginx (only the process this object started)."""
        try:
            if self.rule_handle is not None:
                sh("ip", "netns", "exec", self.gw, "nft", "delete", "rule", "inet", "simpul",
                   "in_hotspot", "handle", self.rule_handle, check=False)  # fmt: skip
                self.rule_handle = None
        finally:
            if self.proc is not None and self.proc.poll() is None:
                self.proc.send_signal(signal.SIGQUIT)  # graceful: the master stops its workers
                try:
                    self.proc.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait(timeout=5)
            shutil.rmtree(self.dir, ignore_errors=True)


NETD_CALLS = 500


def netd_call_costs(the_lab: Any, ip: str) -> dict[str, list[float]]:
    """Milliseconds per netd call as the portal makes it (a new connection per request): `whois`
    of an unauthorized client, `ping` (the transport alone), and the store's configuration parse
    that netd's `whois`, `authorize` and `portal_config` each begin with."""
    from netctl.protocol import NetdClient
    from simpul.store import Store

    def timed(fn: Any, n: int = NETD_CALLS) -> list[float]:
        samples = []
        for _ in range(n):
            start = time.perf_counter_ns()
            fn()
            samples.append((time.perf_counter_ns() - start) / 1e6)
        return samples

    def call(method: str, **params: Any) -> Any:
        with NetdClient(str(the_lab.paths.socket)) as client:
            return client.call(method, **params)

    with Store(str(the_lab.paths.db)) as store:
        parse = timed(store.config, 100)
    return {
        "whois_new_connection": timed(lambda: call("whois", ip=ip)),
        "ping_new_connection": timed(lambda: call("ping")),
        "store_config_parse": parse,
    }


def first_answer(ns: str, url: str) -> str:
    """The status line and Location of one GET from `ns` (checks what is being measured)."""
    proc = sh("ip", "netns", "exec", ns, "curl", "-s", "-i", "-m", "5", "-o", "-", url,
              check=False)  # fmt: skip
    head = proc.stdout.split("\r\n\r\n", 1)[0].splitlines()
    location = next((h for h in head if h.lower().startswith("location:")), "")
    return f"{head[0] if head else proc.stderr.strip()} | {location}".strip(" |")


def probe_run() -> list[Result]:
    """wrk from an unauthorized hotspot client: the portal (redirected) vs nginx."""
    from netctl.protocol import NetdClient

    runs: dict[str, dict[str, dict[str, Any]]] = {"close": {}, "keepalive": {}}
    env = environment()
    with variant_lab(PROBE_EDITS) as the_lab:
        gw = the_lab.plan.gateway_ns
        client = the_lab.plan.hotspot_clients[PROBE_SITE][0]
        address = the_lab.address_of(client)
        if address is None:
            raise RuntimeError(f"{client} has no address")
        with NetdClient(str(the_lab.paths.socket)) as netd:
            if netd.call("whois", ip=str(address.ip))["authorized"]:
                raise RuntimeError(f"{client} is authorized: probes would not be redirected")
        gateway_ip = str(the_lab.config.site(PROBE_SITE).gateway_address.ip)
        nginx_url = f"http://{gateway_ip}:{NGINX_PORT}/generate_204"
        urls = {
            "ours": PROBE_URL,
            "nginx": nginx_url,
            "no_whois": NO_WHOIS_URL,
            "healthz": f"http://{gateway_ip}/healthz",
        }
        nginx = Nginx(gw, gateway_ip, NGINX_PORT, the_lab.config.portal.hostname)
        try:
            nginx.start()
            answers = {name: first_answer(client, url) for name, url in urls.items()}
            say(f"answers: {answers}")
            for name, answer in answers.items():
                expected = "HTTP/1.1 200" if name == "healthz" else "HTTP/1.1 302"
                if not answer.startswith(expected):
                    raise RuntimeError(f"{name} answers {answer!r}, not {expected}")
            for name in ("ours", "nginx"):
                wrk(client, urls[name], close=False, seconds=WRK_WARMUP_S)  # warm-up only
            for mode, close in (("close", True), ("keepalive", False)):
                order = ("ours", "nginx") if close else ("nginx", "ours", "no_whois", "healthz")
                for name in order:
                    run = wrk(client, urls[name], close=close)
                    run["conntrack_entries_after"] = int(
                        sh("ip", "netns", "exec", gw, "cat",
                           "/proc/sys/net/netfilter/nf_conntrack_count").stdout.strip() or 0
                    )  # fmt: skip
                    runs[mode][name] = run
                    say(f"{mode:9} {name:5} {run['requests_per_s']:9.0f} req/s  "
                        f"p99 {run['latency_ms']['p99']:.2f} ms  errors {run['socket_errors']}  "
                        f"non-3xx {run['non_2xx_3xx']}")  # fmt: skip
            restarts = portal_restarts(the_lab)
            say(f"netd alone: {NETD_CALLS} whois and ping calls, a new connection each")
            netd_costs = netd_call_costs(the_lab, str(address.ip))
        finally:
            nginx.stop()

    results = []
    ours_label = "portal: gunicorn+Flask (+netd whois)"
    peer_label = f"nginx `return 302` ({nginx.version.split('/')[-1]})"
    for mode in ("close", "keepalive"):
        ours, peer = runs[mode]["ours"], runs[mode]["nginx"]
        title = "Connection: close" if mode == "close" else "keep-alive"
        details = {
            "ours": {k: v for k, v in ours.items() if k != "raw"},
            "nginx": {k: v for k, v in peer.items() if k != "raw"},
            "raw": {"ours": ours["raw"], "nginx": peer["raw"]},
            "answers": answers,
            "nginx_rule": f"ip daddr {gateway_ip} tcp dport {NGINX_PORT} accept (in_hotspot, "
            "inserted first, deleted by handle afterwards)",
            "tree": tree_state() if mode == "close" else None,
            "environment": env,
            "portal_log": restarts,
        }
        results.append(
            Result(
                "probe",
                f"req/s, {title}",
                ours_label,
                ours["requests_per_s"],
                "req/s",
                "higher",
                peer_label,
                peer["requests_per_s"],
                Target("ours", ">=", TARGET_PROBE_RPS),
                details=details,
            )
        )
        results.append(
            Result(
                "probe",
                f"p99 latency, {title}",
                ours_label,
                ours["latency_ms"]["p99"],
                "ms",
                "lower",
                peer_label,
                peer["latency_ms"]["p99"],
                Target("ours", "<=", TARGET_PROBE_P99_MS),
            )
        )
    # Controls (keep-alive, INFO): the portal without the netd round trip, and the bare app.
    ours = runs["keepalive"]["ours"]
    controls = {
        "no_whois": "portal /favicon.ico: 302, no whois",
        "healthz": "portal /healthz (Flask floor)",
    }
    for name, label in controls.items():
        control = runs["keepalive"][name]
        results.append(
            Result(
                "probe",
                f"req/s, keep-alive, control {name}",
                label,
                control["requests_per_s"],
                "req/s",
                "higher",
                "portal /generate_204 (whois)",
                ours["requests_per_s"],
                details={
                    "run": {k: v for k, v in control.items() if k != "raw"},
                    "p99_ms": control["latency_ms"]["p99"],
                },
            )
        )
    whois_ms = netd_costs["whois_new_connection"]
    results.append(
        Result(
            "probe",
            "p50 netd whois alone, new connection",
            "NetdClient whois (portal's way)",
            percentile(whois_ms, 50),
            "ms",
            "lower",
            "NetdClient ping, new connection",
            percentile(netd_costs["ping_new_connection"], 50),
            details={
                "whois_ms": summary(whois_ms),
                "ping_ms": summary(netd_costs["ping_new_connection"]),
                "store_config_parse_ms": summary(netd_costs["store_config_parse"]),
                "whois_per_s_ceiling": round(1000 / percentile(whois_ms, 50)),
            },
        )
    )
    results.append(
        Result(
            "probe",
            "p50 Store.config() parse (each netd call)",
            "simpul.store.Store.config()",
            percentile(netd_costs["store_config_parse"], 50),
            "ms",
            "lower",
        )
    )
    results.append(
        Result(
            "probe",
            "gunicorn worker restarts (--max-requests 5000)",
            "portal-http log, whole run",
            float(restarts.get("autorestarting", 0)),
            "restarts",
            "lower",
        )
    )
    ours = runs["close"]["ours"]
    nginx_close = runs["close"]["nginx"]
    if "bytes_per_response" in ours and "bytes_per_response" in nginx_close:
        results.append(
            Result(
                "probe",
                "bytes per 302 answer (headers + body)",
                ours_label,
                float(ours["bytes_per_response"]),
                "B",
                "lower",
                peer_label,
                float(nginx_close["bytes_per_response"]),
            )
        )
    return results


# -- storm: 1,000 logins in 10 s ----------------------------------------------------------------


def storm_run() -> list[Result]:
    """1,000 logins from 1,000 addresses of spb-hs-1; the same storm against /healthz first."""
    from netctl.protocol import NetdClient

    env = environment()
    with variant_lab() as the_lab:
        gw = the_lab.plan.gateway_ns
        ns = the_lab.plan.hotspot_clients[SITE][0]
        site = the_lab.config.site(SITE)
        portal = str(site.gateway_address.ip)
        sources = free_addresses(the_lab, SITE, STORM_N)
        add_addresses(ns, sources, site.subnet.prefixlen)
        say(f"{ns}: {len(sources)} addresses {sources[0]} … {sources[-1]} in {site.subnet}")
        common = ["storm", "--portal", portal, "--video", _video(the_lab), "--seconds",
                  str(STORM_SECONDS), "--threads", str(STORM_THREADS)]  # fmt: skip
        docs = {}
        for mode in ("healthz", "grant"):
            say(f"storm of {STORM_N} ({mode}) over {STORM_SECONDS} s")
            docs[mode] = portal_worker(ns, sources, *common, "--mode", mode)
            ok = sum(1 for r in docs[mode]["results"] if r.get("ok"))
            say(f"  {ok}/{STORM_N} ok in {docs[mode]['wall_s']} s, "
                f"peak {docs[mode]['peak_in_flight']} in flight")  # fmt: skip
        say("checking every client with netd whois and the kernel set")
        authorized = 0
        not_authorized: list[str] = []
        with NetdClient(str(the_lab.paths.socket)) as netd:
            for source in sources:
                who = netd.call("whois", ip=source)
                if who["authorized"] and who["site"] == SITE:
                    authorized += 1
                else:
                    not_authorized.append(source)
            sessions = netd.call("status")["sessions"]
        elements = auth_elements(gw)
        say(f"whois: {authorized} authorized; hs_auth holds {elements}; {sessions} sessions")
        costs = portal_worker(gw, [], "netd-costs", "--ip", sources[-1])
        restarts = portal_restarts(the_lab)
        say(f"netd helpers alone: forget_redirected p50 "
            f"{percentile(costs['forget_redirected_ms'], 50):.2f} ms, mac_of p50 "
            f"{percentile(costs['mac_of_ms'], 50):.2f} ms ({costs['arp_entries']} ARP entries, "
            f"{costs['conntrack_buckets']} conntrack buckets)")  # fmt: skip

    grants = docs["grant"]["results"]
    healthz = docs["healthz"]["results"]
    ok_grant = [r["timed_ms"] for r in grants if r.get("ok")]
    ok_health = [r["timed_ms"] for r in healthz if r.get("ok")]
    failures = [r for r in grants if not r.get("ok")]
    details = {
        "n": STORM_N,
        "spread_s": STORM_SECONDS,
        "threads": STORM_THREADS,
        "wall_s": {m: d["wall_s"] for m, d in docs.items()},
        "peak_in_flight": {m: d["peak_in_flight"] for m, d in docs.items()},
        "grant_ms": _summary(ok_grant),
        "healthz_ms": _summary(ok_health),
        "watch_ms": _summary([r["first_ms"] for r in grants if "first_ms" in r]),
        "grant_page_bytes": _summary(
            [float(r["timed_bytes"]) for r in grants if "timed_bytes" in r]
        ),
        "start_lag_ms": summary([r["start_lag_ms"] for r in grants]),
        "from_due_ms": summary([r["from_due_ms"] for r in grants]),
        "netd_helpers": {k: (summary(v) if isinstance(v, list) else v) for k, v in costs.items()},
        "environment": env,
        "portal_log": restarts,
        "failures": failures[:20],
        "not_authorized": not_authorized[:20],
        "hs_auth_elements": elements,
        "sessions": sessions,
        "samples_ms": {"grant": ok_grant, "healthz": ok_health},
        "tree": tree_state(),
    }
    ours_label = "POST /grant (netd authorize)"
    peer_label = "GET /healthz (same portal)"
    metric = f"{STORM_N} logins in {STORM_SECONDS:g} s"
    return [
        Result("storm", f"p99 per grant, {metric}", ours_label, _p(ok_grant, 99), "ms", "lower",
               peer_label, _p(ok_health, 99), Target("ours", "<=", TARGET_STORM_P99_MS),
               details=details),
        Result("storm", f"p50 per grant, {metric}", ours_label, _p(ok_grant, 50), "ms", "lower",
               peer_label, _p(ok_health, 50)),
        Result("storm", "logins that succeeded", ours_label, float(len(ok_grant)), "logins",
               "higher", peer_label, float(len(ok_health)), Target("ours", ">=", STORM_N)),
        Result("storm", "storm wall time (all done)", "the grant storm",
               docs["grant"]["wall_s"], "s", "lower", "the /healthz storm",
               docs["healthz"]["wall_s"], Target("ours", "<=", TARGET_STORM_WALL_S)),
        Result("storm", "p99 login from its due time (open loop)", "watch + grant, from due",
               percentile([r["from_due_ms"] for r in grants], 99), "ms", "lower",
               "the same for /healthz",
               percentile([r["from_due_ms"] for r in healthz], 99)),
        Result("storm", "p50 netd forget_redirected() alone", "one marked walk",
               percentile(costs["forget_redirected_ms"], 50), "ms", "lower"),
        Result("storm", "p50 netd mac_of() alone", f"{costs['arp_entries']} ARP entries",
               percentile(costs["mac_of_ms"], 50), "ms", "lower"),
        Result("storm", "authorized per netd whois", "whois of every address", float(authorized),
               "clients", "higher", target=Target("ours", ">=", STORM_N)),
        Result("storm", "elements in kernel hs_auth", "nft list set hs_auth", float(elements),
               "elements", "higher", target=Target("ours", ">=", STORM_N)),
    ]  # fmt: skip


# -- grant: POST to first forwarded packet at 10,000 clients ------------------------------------


def grant_run() -> list[Result]:
    """Fresh clients one at a time with 10,000 in the set: grant round trip, then the first
    forwarded connect; the connect of a client authorized long before as the peer."""
    from netctl.protocol import NetdClient

    env = environment()
    with variant_lab() as the_lab:
        gw = the_lab.plan.gateway_ns
        ns = the_lab.plan.hotspot_clients[SITE][0]
        site = the_lab.config.site(SITE)
        portal = str(site.gateway_address.ip)
        video = _video(the_lab)
        own = the_lab.address_of(ns)
        if own is None:
            raise RuntimeError(f"{ns} has no address")
        old = str(own.ip)
        say(f"logging {ns}'s own address {old} in (the long-authorized client)")
        login = portal_worker(ns, [old], "storm", "--portal", portal, "--video", video,
                              "--seconds", "0.01", "--threads", "1")  # fmt: skip
        if not login["results"][0].get("ok"):
            raise RuntimeError(f"the old client's login failed: {login['results'][0]}")
        say(f"pre-filling {GRANT_PREFILL} clients in {gw}")
        doc = auth_worker(gw, "--n", "0", "--warmup", "0", "--prefill", str(GRANT_PREFILL))
        say(f"pre-fill took {doc['prefill_ms']:.0f} ms; set sizes {doc['set_elements']}")
        sources = free_addresses(the_lab, SITE, GRANT_N + GRANT_N // (GRANT_CONTROL_EVERY - 1))
        add_addresses(ns, sources, site.subnet.prefixlen)
        say(f"{len(sources)} fresh clients {sources[0]} … {sources[-1]}: grant, then connect to "
            f"{LAB_BULK}:80")  # fmt: skip
        measured = portal_worker(ns, sources, "first-packet", "--portal", portal, "--video", video,
                                 "--server", LAB_BULK, "--old", old,
                                 "--control-every", str(GRANT_CONTROL_EVERY))  # fmt: skip
        elements = auth_elements(gw)
        with NetdClient(str(the_lab.paths.socket)) as netd:
            old_who = netd.call("whois", ip=old)

    rows = measured["rows"]
    ok = [r for r in rows if r.get("ok")]
    grant_ms = [r["grant_ms"] for r in rows if "grant_ms" in r]
    forward_ms = [r["first_forward_ms"] for r in ok if "first_forward_ms" in r]
    old_ms = [r["old_connect_ms"] for r in rows if r.get("old_connect_ms") is not None]
    control_ms = [r["old_after_grant_ms"] for r in rows if r.get("old_after_grant_ms") is not None]
    second_ms = [r["second_connect_ms"] for r in rows if r.get("second_connect_ms") is not None]
    fresh_ok = sum(1 for r in ok if not r["control"])
    say(f"{len(ok)}/{len(rows)} forwarded ({fresh_ok} measured, the rest controls); "
        f"hs_auth holds {elements}")  # fmt: skip
    details = {
        "n": GRANT_N,
        "prefill": GRANT_PREFILL,
        "prefill_ms": round(doc["prefill_ms"], 1),
        "hs_auth_elements_after": elements,
        "first_forward_ms": _summary(forward_ms),
        "old_connect_ms": _summary(old_ms),
        "grant_ms": _summary(grant_ms),
        "connect_attempts": _summary([float(r["attempts"]) for r in rows if "attempts" in r]),
        "failures": [r for r in rows if not r.get("ok")][:20],
        "old_client": {"ip": old, "authorized_at_end": old_who["authorized"]},
        "old_errors": [r["old_error"] for r in rows if "old_error" in r][:20],
        "server": f"{LAB_BULK}:80 (checked per connect with GET /health → 200 ok)",
        "samples_ms": {
            "grant": grant_ms,
            "first_forward": forward_ms,
            "old_connect": old_ms,
            "old_connect_right_after_grant": control_ms,
            "fresh_second_connect": second_ms,
        },
        "clients": {"fresh": len(rows), "measured": GRANT_N, "control_every": GRANT_CONTROL_EVERY},
        "tree": tree_state(),
        "environment": env,
    }
    ours_label = "fresh client: t2 − t1 after POST /grant"
    peer_label = "client authorized long before"
    at = f"{GRANT_PREFILL // 1000}k in set"
    return [
        Result("grant", f"p99 grant → first forwarded connect, {at}", ours_label,
               _p(forward_ms, 99), "ms", "lower", peer_label, _p(old_ms, 99),
               Target("ours", "<=", TARGET_FIRST_FORWARD_P99_MS), details=details),
        Result("grant", f"p50 grant → first forwarded connect, {at}", ours_label,
               _p(forward_ms, 50), "ms", "lower", peer_label, _p(old_ms, 50)),
        Result("grant", f"fresh clients forwarded (of {len(rows)})", ours_label, float(len(ok)),
               "clients", "higher", target=Target("ours", ">=", len(rows))),
        Result("grant", "p99 connect right after a grant (control)", ours_label,
               _p(forward_ms, 99), "ms", "lower", "old client, timed at t1 of a grant",
               _p(control_ms, 99)),
        Result("grant", "p50 connect right after a grant (control)", ours_label,
               _p(forward_ms, 50), "ms", "lower", "old client, timed at t1 of a grant",
               _p(control_ms, 50)),
        Result("grant", "p50 fresh client's second connect", "fresh client, 2nd connect",
               _p(second_ms, 50), "ms", "lower", peer_label, _p(old_ms, 50)),
        Result("grant", f"p50 POST /grant round trip (t1 − t0), {at}", "portal → netd → kernel",
               _p(grant_ms, 50), "ms", "lower"),
        Result("grant", f"p99 POST /grant round trip (t1 − t0), {at}", "portal → netd → kernel",
               _p(grant_ms, 99), "ms", "lower"),
    ]  # fmt: skip
