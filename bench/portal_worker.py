"""Hotspot logins from one client namespace with many addresses; print JSON samples.

Run inside a hotspot client's namespace that holds the source addresses (`bench.bench_portal`
adds them), with the addresses one per line on stdin:

    ip netns exec spb-hs-1 .venv/bin/python -m bench.portal_worker storm --portal 10.40.0.1 \\
        --mode grant --video meranti-info.webm --seconds 10 < addresses

- `storm`: one login per address, started at a steady rate over `--seconds` by a thread pool
  (open loop: login i is due at i × seconds / n). `--mode grant` is a citizen's login: POST /watch
  (form field `video`) → token, then POST /grant (form field `token`) on the same kept-alive
  connection, the timed request. `--mode healthz` is the same storm with two GET /healthz instead
  (the peer: Flask and gunicorn without netd or the kernel).
- `first-packet`: one address at a time: POST /watch, then t0 → POST /grant → response read (t1) →
  the first TCP connect from that address that reaches the real server (`--server`, port 80) (t2).
  A connect redirected to the portal or refused does not count: each connect is checked afterwards
  (untimed) with `GET /health`, which only the lab's web server answers `200 ok`. Then the fresh
  client's second connect, and the same timed connect from `--old`, a client authorized long
  before (the peer). With `--control-every N`, every Nth client is a control row: the old
  client's connect is timed right after that grant response instead (same moment, nothing new).
- `netd-costs` (run in the gateway): netd's per-grant helpers `forget_redirected` and `mac_of`,
  timed alone.

Times are `time.perf_counter_ns` differences, in milliseconds in the output.
"""

from __future__ import annotations

import argparse
import http.client
import json
import socket
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import urlencode

FORM = {"Content-Type": "application/x-www-form-urlencoded", "Accept": "text/html"}
TIMEOUT_S = 10.0


def _ms(ns: int) -> float:
    return round(ns / 1e6, 4)


def _post(conn: http.client.HTTPConnection, path: str, fields: dict[str, str]) -> tuple[int, bytes]:
    conn.request("POST", path, body=urlencode(fields), headers=FORM)
    resp = conn.getresponse()
    return resp.status, resp.read()


def _get(conn: http.client.HTTPConnection, path: str) -> tuple[int, bytes]:
    conn.request("GET", path)
    resp = conn.getresponse()
    return resp.status, resp.read()


def login(portal: str, port: int, source: str, mode: str, video: str) -> dict[str, Any]:
    """One login (or two GET /healthz) from `source`; the second request is the timed one."""
    out: dict[str, Any] = {"src": source, "ok": False}
    conn = http.client.HTTPConnection(portal, port, timeout=TIMEOUT_S, source_address=(source, 0))
    try:
        t_start = time.perf_counter_ns()
        if mode == "grant":
            status, body = _post(conn, "/watch", {"video": video})
            if status != 200:
                out["error"] = f"watch {status}: {body[:200]!r}"
                return out
            token = json.loads(body)["token"]
        else:
            status, body = _get(conn, "/healthz")
            if status != 200:
                out["error"] = f"healthz {status}"
                return out
        t0 = time.perf_counter_ns()
        if mode == "grant":
            status, body = _post(conn, "/grant", {"token": token})
        else:
            status, body = _get(conn, "/healthz")
        t1 = time.perf_counter_ns()
        out.update(first_ms=_ms(t0 - t_start), timed_ms=_ms(t1 - t0), status=status)
        out["timed_bytes"] = len(body)
        out["ok"] = status == 200 and (mode == "grant" or body == b"ok")
        if not out["ok"]:
            out["error"] = f"{status}: {body[:200]!r}"
    except (OSError, http.client.HTTPException, ValueError, KeyError) as exc:
        out["error"] = f"{type(exc).__name__}: {exc}"
    finally:
        conn.close()
    return out


def storm(args: argparse.Namespace, sources: list[str]) -> dict[str, Any]:
    """Every source logs in once, login i due at i × seconds / n after the start."""
    n = len(sources)
    interval = args.seconds / n
    start = time.monotonic() + 0.2
    results: list[dict[str, Any]] = [{} for _ in sources]
    peak = {"in_flight": 0, "now": 0}
    lock = threading.Lock()

    def one(i: int) -> None:
        due = start + i * interval
        delay = due - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        lag = time.monotonic() - due
        with lock:
            peak["now"] += 1
            peak["in_flight"] = max(peak["in_flight"], peak["now"])
        result = login(args.portal, args.port, sources[i], args.mode, args.video)
        done = time.monotonic()
        with lock:
            peak["now"] -= 1
        result["start_lag_ms"] = round(lag * 1000, 3)
        result["from_due_ms"] = round((done - due) * 1000, 3)  # what the citizen waits
        results[i] = result

    with ThreadPoolExecutor(max_workers=args.threads) as pool:
        list(pool.map(one, range(n)))
    wall_s = time.monotonic() - start
    return {
        "mode": args.mode,
        "n": n,
        "seconds": args.seconds,
        "threads": args.threads,
        "wall_s": round(wall_s, 3),
        "peak_in_flight": peak["in_flight"],
        "results": results,
    }


def _reaches_server(sock: socket.socket, server: str) -> bool:
    """Whether a connected socket talks to the lab's web server (not the portal): GET /health."""
    sock.sendall(f"GET /health HTTP/1.0\r\nHost: {server}\r\n\r\n".encode())
    data = b""
    while True:
        chunk = sock.recv(4096)
        if not chunk:
            break
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return head.startswith(b"HTTP/1.") and head.split(b" ", 2)[1:2] == [b"200"] and body == b"ok"


def connect_to_server(
    source: str, server: str, port: int, deadline_ns: int
) -> tuple[int | None, int, list[str]]:
    """(perf_counter_ns when the first connect that reaches the real server completed, attempts,
    what the failed attempts met); None when the deadline passed first."""
    attempts = 0
    met: list[str] = []
    while time.perf_counter_ns() < deadline_ns:
        attempts += 1
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.settimeout(1.0)
        try:
            sock.bind((source, 0))
            sock.connect((server, port))
            connected = time.perf_counter_ns()
            if _reaches_server(sock, server):
                return connected, attempts, met
            met.append("portal")  # redirected: not forwarded yet
        except OSError as exc:
            met.append(type(exc).__name__)
        finally:
            sock.close()
    return None, attempts, met


def _timed_connect(source: str, args: argparse.Namespace) -> tuple[float | None, dict[str, Any]]:
    """Milliseconds from now to a connect from `source` that reaches the server (first try)."""
    p1 = time.perf_counter_ns()
    p2, attempts, met = connect_to_server(
        source, args.server, args.server_port, p1 + int(args.deadline_s * 1e9)
    )
    if p2 is not None and attempts == 1:
        return _ms(p2 - p1), {}
    return None, {"attempts": attempts, "met": met[:5]}


def first_packet(args: argparse.Namespace, sources: list[str]) -> dict[str, Any]:
    """Per fresh client: grant round trip, then time to its first forwarded connect, then a
    second connect; and the connect time of the long-authorized client `--old` afterwards, as the
    peer. Every `--control-every`-th client is a control row instead: right after its grant
    response the *old* client's connect is timed (the same moment, a client that needs nothing
    new), and only then the fresh client's connect (checked, not timed)."""
    rows = []
    for index, source in enumerate(sources):
        control = args.control_every > 0 and index % args.control_every == args.control_every - 1
        row: dict[str, Any] = {"src": source, "ok": False, "control": control}
        conn = http.client.HTTPConnection(
            args.portal, args.port, timeout=TIMEOUT_S, source_address=(source, 0)
        )
        try:
            status, body = _post(conn, "/watch", {"video": args.video})
            if status != 200:
                row["error"] = f"watch {status}"
                rows.append(row)
                continue
            token = json.loads(body)["token"]
            t0 = time.perf_counter_ns()
            status, body = _post(conn, "/grant", {"token": token})
            t1 = start = time.perf_counter_ns()
            if control:
                row["old_after_grant_ms"], error = _timed_connect(args.old, args)
                if error:
                    row["old_error"] = error
                start = time.perf_counter_ns()  # the fresh client's connect is not timed here
            t2, attempts, met = connect_to_server(
                source, args.server, args.server_port, start + int(args.deadline_s * 1e9)
            )
        except (OSError, http.client.HTTPException, ValueError, KeyError) as exc:
            row["error"] = f"{type(exc).__name__}: {exc}"
            rows.append(row)
            continue
        finally:
            conn.close()
        row.update(grant_status=status, grant_ms=_ms(t1 - t0), attempts=attempts, met=met[:5])
        row["ok"] = status == 200 and t2 is not None
        if t2 is not None and not control:
            row["first_forward_ms"] = _ms(t2 - t1)
            row["second_connect_ms"], _error = _timed_connect(source, args)
        if not control:
            # The peer: the same timed connect from a client authorized long before.
            row["old_connect_ms"], error = _timed_connect(args.old, args)
            if error:
                row["old_error"] = error
        rows.append(row)
    return {"n": len(sources), "rows": rows}


def netd_costs(args: argparse.Namespace) -> dict[str, Any]:
    """Inside the gateway: milliseconds of the two per-grant helpers netd calls besides the store
    and the nftables transaction (netlink's conntrack walk and neighbour lookup)."""
    from netctl import netlink

    neighbours = netlink.Neighbours()
    helpers = {
        "forget_redirected": lambda ip: netlink.forget_redirected([ip]),
        "mac_of": lambda ip: neighbours.mac_of(ip, args.device),
    }
    out: dict[str, Any] = {"ip": args.ip, "n": args.n}
    with open("/proc/net/arp", encoding="ascii") as handle:
        out["arp_entries"] = len(handle.read().splitlines()) - 1
    with open("/proc/sys/net/netfilter/nf_conntrack_count", encoding="ascii") as handle:
        out["conntrack_entries"] = int(handle.read())
    with open("/proc/sys/net/netfilter/nf_conntrack_buckets", encoding="ascii") as handle:
        out["conntrack_buckets"] = int(handle.read())
    for name, fn in helpers.items():
        samples = []
        for _ in range(args.n):
            start = time.perf_counter_ns()
            fn(args.ip)
            samples.append(_ms(time.perf_counter_ns() - start))
        out[f"{name}_ms"] = samples
    return out


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, read the source addresses from stdin, run, print one JSON document."""
    parser = argparse.ArgumentParser(prog="bench.portal_worker", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    for name in ("storm", "first-packet"):
        p = sub.add_parser(name)
        p.add_argument("--portal", required=True, help="the portal's address (site gateway)")
        p.add_argument("--port", type=int, default=80)
        p.add_argument("--video", default="", help="a video file the portal knows")
    s = sub.choices["storm"]
    s.add_argument("--mode", choices=("grant", "healthz"), default="grant")
    s.add_argument("--seconds", type=float, default=10.0, help="spread the logins over this")
    s.add_argument("--threads", type=int, default=32, help="logins in flight at most")
    f = sub.choices["first-packet"]
    f.add_argument("--server", required=True, help="a server behind the gateway (port 80)")
    f.add_argument("--server-port", type=int, default=80)
    f.add_argument("--old", required=True, help="a source address authorized long before")
    f.add_argument("--deadline-s", type=float, default=2.0, help="give up on a client after")
    f.add_argument("--control-every", type=int, default=0, help="every Nth client: a control")
    c = sub.add_parser("netd-costs", help="time netd's per-grant helpers (run in the gateway)")
    c.add_argument("--ip", required=True, help="a client address for both helpers")
    c.add_argument("--n", type=int, default=50)
    c.add_argument("--device", default="hs-rtmlam", help="the client's site bridge")
    args = parser.parse_args(argv)
    if args.command == "netd-costs":
        doc = netd_costs(args)
    else:
        sources = [line.strip() for line in sys.stdin if line.strip()]
        if not sources:
            print("no source addresses on stdin", file=sys.stderr)
            return 2
        doc = storm(args, sources) if args.command == "storm" else first_packet(args, sources)
    json.dump(doc, sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
