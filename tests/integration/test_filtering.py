"""Content filtering in the lab: real nftables, the policy DNS front end, real Unbound, dig.

Schedules are rewritten around the moment the test runs (in the node's time zone), so "during
the window" and "outside it" are real, not mocked clocks.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from netctl.protocol import ApiError
from simpul.config.model import SHIPPED_CATEGORIES
from simpul.lab.topology import LAB_SITES
from tests.integration.helpers import LabHandle, http_code, lab_data, ns_run

YOUTUBE = LAB_SITES["www.youtube.com"][0]
VIU = LAB_SITES["viu.com"][0]
DOH = LAB_SITES["dns.google"][0]
WIB = "Asia/Jakarta"


def dig(lab: LabHandle, host: str, name: str, *extra: str, server: str | None = None) -> dict:
    """dig from a lab host: rcode, answers (name, ttl, type, data) and the server that answered."""
    target = server or lab.lab.plan.host(host).resolver
    out = ns_run(
        lab.ns(host), "dig", f"@{target}", name, "+tries=1", "+time=3", "+noall", "+comments",
        "+answer", *extra, check=False,
    ).stdout  # fmt: skip
    status = next((x.split("status: ")[1].split(",")[0] for x in out.splitlines()
                   if "status: " in x), "TIMEOUT")  # fmt: skip
    answers = [
        line.split(None, 4) for line in out.splitlines() if line and not line.startswith(";")
    ]
    return {"status": status, "answers": [(a[0], int(a[1]), a[3], a[4]) for a in answers]}


def addresses(result: dict) -> list[str]:
    return [a[3] for a in result["answers"] if a[2] == "A"]


def window_around(now: datetime, before_min: int, after_min: int) -> dict[str, Any]:
    """A window on every day from `before_min` before `now` to `after_min` after (negative
    values move it: e.g. before=-120, after=180 starts in two hours)."""
    start = now - timedelta(minutes=before_min)
    end = now + timedelta(minutes=after_min)
    return {
        "days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
        "start": start.strftime("%H:%M"),
        "end": end.strftime("%H:%M"),
    }


def now_wib() -> datetime:
    from zoneinfo import ZoneInfo

    return datetime.now(ZoneInfo(WIB))


def with_schedule(windows: list[dict[str, Any]], **filtering: Any) -> dict[str, Any]:
    data = lab_data()
    data["schedules"] = [{"name": "jam-kerja", "windows": windows}]
    data.setdefault("filtering", {}).update(filtering)
    return data


@pytest.fixture
def restore(lab: LabHandle, tmp_path: Path) -> Iterator[None]:
    """Put the lab's own configuration back after a test that changes it."""
    yield
    lab.configure(tmp_path, lab_data())
    wait_for_reload(lab)


def dnsd_status(lab: LabHandle) -> dict:
    from netctl.protocol import NetdClient

    path = lab.lab.paths.root / "netd" / "dnsd" / "control.sock"
    with NetdClient(str(path), timeout_s=5, service="dnsd") as client:
        return client.call("status")


def wait_for_reload(lab: LabHandle, before: int | None = None, timeout_s: float = 20) -> dict:
    """Wait until the front end has taken the configuration netd just wrote."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            status = dnsd_status(lab)
            if before is None or status["reloads"] > before:
                return status
        except ApiError:
            pass
        if time.monotonic() > deadline:
            raise AssertionError("the DNS front end did not reload")
        time.sleep(0.2)


def reconfigure(lab: LabHandle, tmp_path: Path, data: dict[str, Any]) -> None:
    before = dnsd_status(lab)["reloads"]
    lab.configure(tmp_path, data)
    wait_for_reload(lab, before)


def test_front_end_runs_unprivileged_and_answers_every_zone(lab: LabHandle) -> None:
    status = dnsd_status(lab)
    pid = status["pid"]
    owner = os.stat(f"/proc/{pid}").st_uid
    assert owner != 0
    caps = Path(f"/proc/{pid}/status").read_text()
    eff = next(int(x.split()[1], 16) for x in caps.splitlines() if x.startswith("CapEff:"))
    assert eff == 1 << 10  # CAP_NET_BIND_SERVICE only
    assert status["lists"]["streaming-video"]["entries"] > 10
    for host in ("opd-disdik", "opd-diskominfo", "hs-1"):
        assert dig(lab, host, "example.org")["status"] == "NOERROR"


def test_work_hours_block_disdik_not_diskominfo(
    lab: LabHandle, tmp_path: Path, restore: None
) -> None:
    reconfigure(lab, tmp_path, with_schedule([window_around(now_wib(), 60, 60)]))
    gateway = lab.lab.plan.host("opd-disdik").resolver
    for name in ("www.youtube.com", "viu.com"):
        blocked = dig(lab, "opd-disdik", name)
        assert blocked["status"] == "NOERROR", blocked
        assert addresses(blocked) == [gateway]  # the block page
        assert all(a[1] <= 10 for a in blocked["answers"])
    assert addresses(dig(lab, "opd-diskominfo", "www.youtube.com")) == [YOUTUBE]
    assert addresses(dig(lab, "opd-diskominfo", "viu.com")) == [VIU]
    # AAAA of a blocked name: no data, not the real answer.
    assert dig(lab, "opd-disdik", "www.youtube.com", "AAAA")["answers"] == []
    # The block page says which category, over the gateway's port 80.
    page = ns_run(
        lab.ns("opd-disdik"), "curl", "-s", "-w", "\n%{http_code}", "-H", "Host: www.youtube.com",
        f"http://{gateway}/", check=False,
    ).stdout  # fmt: skip
    assert page.endswith("403")
    assert "streaming video" in page and "Situs diblokir" in page


def test_outside_the_window_both_resolve_and_ttl_ends_at_the_next_edge(
    lab: LabHandle, tmp_path: Path, restore: None
) -> None:
    now = now_wib()
    # The window starts in 3 minutes: allowed answers must expire by then.
    reconfigure(lab, tmp_path, with_schedule([window_around(now, -3, 60)]))
    disdik = dig(lab, "opd-disdik", "www.youtube.com")
    assert addresses(disdik) == [YOUTUBE]
    assert 0 < max(a[1] for a in disdik["answers"]) <= 180
    # Kominfo's policy has no window for video: the zone's own TTL stands.
    kominfo = dig(lab, "opd-diskominfo", "www.youtube.com")
    assert addresses(kominfo) == [YOUTUBE]
    assert min(a[1] for a in kominfo["answers"]) > 180


def test_a_holiday_lifts_work_hour_blocks(lab: LabHandle, tmp_path: Path, restore: None) -> None:
    today = now_wib().date().isoformat()
    data = with_schedule(
        [window_around(now_wib(), 60, 60)],
        extra_days=[{"date": today, "name": "Libur uji"}],
    )
    reconfigure(lab, tmp_path, data)
    assert addresses(dig(lab, "opd-disdik", "www.youtube.com")) == [YOUTUBE]
    # Gambling stays blocked on holidays (its rule has no schedule).
    assert dig(lab, "opd-disdik", "dns.google")["status"] == "NXDOMAIN"


def test_dns_to_another_server_lands_on_the_gateway(
    lab: LabHandle, tmp_path: Path, restore: None
) -> None:
    reconfigure(lab, tmp_path, with_schedule([window_around(now_wib(), 60, 60)]))
    gateway = lab.lab.plan.host("opd-disdik").resolver
    for extra in ((), ("+tcp",)):
        sneaky = dig(lab, "opd-disdik", "www.youtube.com", *extra, server="8.8.8.8")
        assert addresses(sneaky) == [gateway], sneaky
    assert addresses(dig(lab, "opd-diskominfo", "www.youtube.com", server="8.8.8.8")) == [YOUTUBE]


def test_doh_names_refused_dot_and_doh_addresses_dropped(lab: LabHandle) -> None:
    for host in ("opd-diskominfo", "hs-1"):
        assert dig(lab, host, "dns.google")["status"] == "NXDOMAIN"
        assert dig(lab, host, "use-application-dns.net")["status"] == "NXDOMAIN"
    # The management zone has no filter.
    assert addresses(dig(lab, "noc", "dns.google")) == [DOH]
    for port in (853, 443):
        start = time.monotonic()
        result = ns_run(
            lab.ns("opd-diskominfo"), "curl", "-s", "-o", "/dev/null", "--max-time", "2",
            "-k", f"https://{DOH}:{port}/", check=False,
        )  # fmt: skip
        assert result.returncode == 28, f"port {port}: curl exit {result.returncode}"
        assert time.monotonic() - start >= 1.9  # dropped, not refused


def test_explain_gives_the_chain_for_live_and_draft(lab: LabHandle, tmp_path: Path) -> None:
    env = {**os.environ, "SIMPUL_DB": str(lab.lab.paths.db)}
    simpul = [str(Path(sys.executable).parent / "simpul")]
    live = subprocess.run(
        [*simpul, "dns", "explain", "--opd", "disdik", "--at", "2026-11-26 09:12", "--json",
         "www.youtube.com"], env=env, capture_output=True, text=True, check=True,
    )  # fmt: skip
    verdict = json.loads(live.stdout)
    assert verdict["action"] == "block"
    assert (verdict["rule"], verdict["list"], verdict["category"]) == (
        2,
        "streaming-video",
        "streaming-video",
    )
    assert verdict["window"] == "mon-thu 07:30-16:00"
    draft = lab_data()
    for policy in draft["policies"]:
        if policy["name"] == "pendidikan":
            policy["allow"] = ["youtube.com"]
    path = tmp_path / "draft.yaml"
    import yaml

    path.write_text(yaml.safe_dump(draft))
    what_if = subprocess.run(
        [*simpul, "dns", "explain", "--opd", "disdik", "--at", "2026-11-26 09:12", "--config",
         str(path), "www.youtube.com"], env=env, capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert "ALLOW for opd:disdik" in what_if.stdout
    assert "allow-list entry youtube.com" in what_if.stdout


def test_a_broken_list_is_refused_and_changes_nothing(
    lab: LabHandle, tmp_path: Path, restore: None
) -> None:
    before = lab.nft("list", "chain", "inet", "simpul", "from_opd_disdik").stdout
    data = lab_data()
    data["filtering"]["lists"] = [
        {"name": c, "category": c, "path": f"categories/{c}.txt"} for c in SHIPPED_CATEGORIES
    ] + [{"name": "hilang", "category": "gambling", "path": str(tmp_path / "missing.txt")}]
    with pytest.raises(ApiError, match="no such file"):
        lab.configure(tmp_path, data)
    assert lab.nft("list", "chain", "inet", "simpul", "from_opd_disdik").stdout == before
    assert dnsd_status(lab)["reload_error"] is None
    assert dig(lab, "opd-disdik", "example.org")["status"] == "NOERROR"


def test_garbage_packets_never_stop_the_server(lab: LabHandle) -> None:
    gateway = lab.lab.plan.host("opd-disdik").resolver
    script = (
        "import os, socket\n"
        "s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
        "for size in (0, 1, 5, 12, 13, 40, 300, 1500, 4000):\n"
        "    for _ in range(20):\n"
        f"        s.sendto(os.urandom(size), ('{gateway}', 53))\n"
        "t = socket.create_connection(('" + gateway + "', 53), timeout=3)\n"
        "t.sendall(b'\\xff\\xff' + os.urandom(100))\n"
        "t.close()\n"
    )
    ns_run(lab.ns("opd-disdik"), sys.executable, "-c", script)
    assert dig(lab, "opd-disdik", "example.org")["status"] == "NOERROR"
    assert dig(lab, "opd-disdik", "example.org", "+tcp")["status"] == "NOERROR"
    assert dnsd_status(lab)["malformed"] > 0


def test_queries_are_counted_per_group_and_category(lab: LabHandle) -> None:
    import sqlite3

    dig(lab, "opd-disdik", "judi-tidak-ada.example")  # any query
    time.sleep(11)  # the front end flushes its counters every 10 s
    db = lab.lab.paths.root / "netd" / "dnsd" / "dns.db"
    with sqlite3.connect(db) as conn:
        rows = conn.execute(
            "SELECT grp, category, action, queries FROM dns_counts WHERE grp = 'opd:disdik'"
        ).fetchall()
    assert rows and all(q > 0 for *_, q in rows)


SLOW_READER = """
import json, socket, sys, time
host, until = sys.argv[1], float(sys.argv[2])
sock = socket.socket()
sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
sock.connect((socket.gethostbyname(host), 80))
sock.sendall(f"GET /bytes/100000000 HTTP/1.1\\r\\nHost: {host}\\r\\n\\r\\n".encode())
sock.settimeout(0.5)
first = last = error = None
while time.time() < until:
    try:
        data = sock.recv(2048)
    except TimeoutError:
        continue
    except OSError as exc:
        error = str(exc)
        break
    if not data:
        break
    first = first or time.time()
    last = time.time()
    time.sleep(0.05)
print(json.dumps({"first": first, "last": last, "error": error}))
"""


def test_walled_garden_by_name_opens_after_the_dns_answer(
    lab: LabHandle, tmp_path: Path, restore: None
) -> None:
    news = LAB_SITES["merantikab.go.id"][0]
    data = lab_data()
    data["portal"]["walled_garden"] = []
    data["portal"]["walled_garden_names"] = ["merantikab.go.id"]
    reconfigure(lab, tmp_path, data)
    lab.nft("flush", "set", "inet", "simpul", "walled_garden_learned")
    phone = lab.ns("hs-1")
    # Not yet asked by name: the address is captive like any other (sent to the portal).
    assert http_code(phone, f"http://{news}/") == "302"
    assert addresses(dig(lab, "hs-1", "merantikab.go.id")) == [news]
    learned = lab.nft("list", "set", "inet", "simpul", "walled_garden_learned").stdout
    assert news in learned and "expires" in learned
    assert http_code(phone, "http://merantikab.go.id/") == "200"
    # Other names stay captive.
    assert addresses(dig(lab, "hs-1", "example.org")) == [LAB_SITES["example.org"][0]]
    assert http_code(phone, "http://example.org/") == "302"


def test_flows_are_cut_when_a_window_starts(lab: LabHandle, tmp_path: Path, restore: None) -> None:
    now = now_wib()
    start = (now + timedelta(minutes=1)).replace(second=0, microsecond=0)
    if (start - now).total_seconds() < 20:
        start += timedelta(minutes=1)
    window = {
        "days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
        "start": start.strftime("%H:%M"),
        "end": (start + timedelta(hours=1)).strftime("%H:%M"),
    }
    reconfigure(lab, tmp_path, with_schedule([window]))
    # A slow, steady download from a video site, allowed until the window starts: the reader
    # notes when its last bytes came.
    until = start.timestamp() + 10
    reader = subprocess.Popen(
        ["ip", "netns", "exec", lab.ns("opd-disdik"), sys.executable, "-c", SLOW_READER,
         "www.youtube.com", str(until)],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    out, _ = reader.communicate(timeout=until - time.time() + 20)
    result = json.loads(out)
    edge = start.timestamp()
    # Flowing right up to the edge, then nothing: its conntrack entry is gone, the server's
    # packets are dropped and the client's next one is reset (stray TCP).
    assert result["first"] < edge - 5, result
    assert edge - 2 < result["last"] < edge + 3, result
    assert addresses(dig(lab, "opd-disdik", "www.youtube.com")) == [
        lab.lab.plan.host("opd-disdik").resolver
    ]
