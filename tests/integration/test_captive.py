"""The captive portal in the lab: OS probes, RFC 8908/8910, the video gate, the browser flow,
and sessions surviving kill -9 of the portal and netd and a lab restart with the store kept."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.helpers import (
    PORTAL,
    ROOT,
    VIDEO_SECONDS,
    LabHandle,
    http_code,
    lab_data,
    mac_of,
    ns_run,
)

PORTAL_URL = f"http://{PORTAL}/"
ANDROID_UA = "Dalvik/2.1.0 (Linux; U; Android 11; Redmi 9A Build/RP1A.200720.011)"
APPLE_UA = "CaptiveNetworkSupport-443.40.1 wispr"
WINDOWS_UA = "Microsoft NCSI"
FIREFOX_UA = "Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0"

# (OS, host, path, user agent, online status, online body)
PROBES = [
    ("android", "connectivitycheck.gstatic.com", "/generate_204", ANDROID_UA, 204, ""),
    ("android-alt", "clients3.google.com", "/generate_204", ANDROID_UA, 204, ""),
    ("apple", "captive.apple.com", "/hotspot-detect.html", APPLE_UA, 200,
     "<HTML><HEAD><TITLE>Success</TITLE></HEAD><BODY>Success</BODY></HTML>"),
    ("windows", "www.msftconnecttest.com", "/connecttest.txt", WINDOWS_UA, 200,
     "Microsoft Connect Test"),
    ("windows-ncsi", "www.msftncsi.com", "/ncsi.txt", WINDOWS_UA, 200, "Microsoft NCSI"),
    ("firefox", "detectportal.firefox.com", "/canonical.html", FIREFOX_UA, 200,
     '<meta http-equiv="refresh" content="0;url=https://support.mozilla.org/kb/captive-portal"/>'),
    ("firefox-txt", "detectportal.firefox.com", "/success.txt", FIREFOX_UA, 200, "success\n"),
]  # fmt: skip


def fetch(ns: str, url: str, *args: str) -> tuple[int, dict[str, str], str]:
    """status, headers (lower-case names), body of one request made with curl in `ns`."""
    proc = ns_run(ns, "curl", "-s", "-m", "5", "-D", "/dev/stderr", *args, url)
    lines = proc.stderr.replace("\r", "").split("\n")
    status = int(lines[0].split()[1]) if lines and lines[0].startswith("HTTP/") else 0
    headers = {}
    for line in lines[1:]:
        if ":" in line:
            key, value = line.split(":", 1)
            headers[key.strip().lower()] = value.strip()
    return status, headers, proc.stdout


@pytest.fixture
def phone(lab: LabHandle) -> Iterator[tuple[str, str, str]]:
    """hs-2 (at Taman Cik Puan), not authorized at the start and logged out at the end."""
    ns = lab.ns("hs-2")
    ip = lab.ip("hs-2")
    lab.call("logout", ip=ip)
    try:
        yield ns, ip, mac_of(ns)
    finally:
        lab.call("logout", ip=ip)


@pytest.mark.parametrize(("os_name", "host", "path", "agent", "status", "body"), PROBES)
def test_probes_open_the_portal_then_read_online(
    lab: LabHandle,
    phone: tuple[str, str, str],
    os_name: str,
    host: str,
    path: str,
    agent: str,
    status: int,
    body: str,
) -> None:
    ns, ip, _mac = phone
    code, headers, _ = fetch(ns, f"http://{host}{path}", "-A", agent)
    assert code == 302, f"{os_name}: a captive client must not read as online"
    assert headers["location"].startswith(PORTAL_URL)
    lab.call("authorize", ip=ip, method="test")
    code, headers, text = fetch(ns, f"http://{host}{path}", "-A", agent)
    assert (code, text) == (status, body), f"{os_name}: an authorized client must read as online"


def test_https_is_never_hijacked(lab: LabHandle, phone: tuple[str, str, str]) -> None:
    ns, _ip, _mac = phone
    started = time.monotonic()
    proc = ns_run(ns, "curl", "-s", "-m", "5", "-k", "https://example.org/")
    assert proc.returncode == 7, "443 to a foreign host is refused, not answered by the portal"
    assert time.monotonic() - started < 1.0, "and refused at once (TCP reset)"


def test_walled_garden_is_open_before_authorization(
    lab: LabHandle, phone: tuple[str, str, str]
) -> None:
    ns, _ip, _mac = phone
    code, _headers, text = fetch(ns, "http://merantikab.go.id/")
    assert code == 200 and "Meranti" in text


def test_rfc8908_api_over_https(lab: LabHandle, phone: tuple[str, str, str]) -> None:
    ns, ip, _mac = phone
    ca = str(lab.lab.paths.root / "portal" / "tls" / "lab-ca.crt")
    url = f"https://{PORTAL}/api/captive"
    code, headers, text = fetch(ns, url, "--cacert", ca)
    assert code == 200
    assert headers["content-type"].startswith("application/captive+json")
    before = json.loads(text)
    assert before["captive"] is True
    assert before["user-portal-url"] == f"https://{PORTAL}/"
    assert before["venue-info-url"] == "https://merantikab.go.id/"
    lab.call("authorize", ip=ip, method="test", minutes=30)
    after = json.loads(fetch(ns, url, "--cacert", ca)[2])
    assert after["captive"] is False
    assert 29 * 60 < after["seconds-remaining"] <= 30 * 60
    assert after["can-extend-session"] in (True, False)


def test_dhcp_offers_option_114(lab: LabHandle) -> None:
    """A real DHCP exchange made with scapy in a hotspot host carries the RFC 8910 URI."""
    script = ROOT / "tests" / "integration" / "dhcp_probe.py"
    proc = ns_run(lab.ns("hs-1"), sys.executable, str(script), "eth0", timeout=30)
    assert proc.returncode == 0, proc.stderr
    offer = json.loads(proc.stdout)
    assert offer["message_type"] == 2  # DHCPOFFER
    assert offer["server_id"] == "10.40.1.1"
    assert offer["captive_portal"] == f"https://{PORTAL}/api/captive"


def test_server_refuses_an_early_grant(lab: LabHandle, phone: tuple[str, str, str]) -> None:
    ns, ip, _mac = phone
    code, _h, text = fetch(ns, f"{PORTAL_URL}watch", "-X", "POST", "-d", "video=meranti-info.webm")
    assert code == 200
    token = json.loads(text)["token"]
    code, _h, _ = fetch(ns, f"{PORTAL_URL}grant", "-X", "POST", "-d", f"token={token}")
    assert code == 403
    assert lab.call("whois", ip=ip)["authorized"] is False  # type: ignore[index]
    time.sleep(VIDEO_SECONDS + 0.5)
    code, _h, text = fetch(ns, f"{PORTAL_URL}grant", "-X", "POST", "-d", f"token={token}")
    assert code == 200 and "merantikab.go.id" in text
    assert lab.call("whois", ip=ip)["authorized"] is True  # type: ignore[index]
    assert http_code(ns, "http://example.org/") == "200"


def test_browser_flow_on_a_phone(lab: LabHandle, phone: tuple[str, str, str]) -> None:
    """Chromium in the hotspot namespace: portal, video, locked button, grant, site, logout."""
    ns, ip, _mac = phone
    proc = subprocess.run(
        ["ip", "netns", "exec", ns, sys.executable,
         str(ROOT / "tests" / "integration" / "browser_flow.py"),
         "http://example.org/", "http://merantikab.go.id/"],
        capture_output=True, text=True, timeout=180, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    seen = json.loads(proc.stdout)
    assert seen["landed_url"].startswith(PORTAL_URL)
    assert seen["lang"] == "id"
    assert seen["button_locked_at_start"] and seen["button_locked_while_playing"]
    assert seen["video_played_s"] > 0.5
    assert seen["video_attrs"] == {"muted": True, "autoplay": True, "playsinline": True}
    assert seen["unlocked_after_s"] >= VIDEO_SECONDS - 1
    assert "https://merantikab.go.id/" in seen["after_grant_links"]
    assert "Meranti" in seen["news_text"]
    assert seen["site_after_grant_url"] == "http://example.org/"
    assert "Example Domain" in seen["site_after_grant_text"]
    assert "MB" in seen["status_text"]
    assert seen["site_after_logout_url"].startswith(PORTAL_URL)
    assert lab.call("whois", ip=ip)["authorized"] is False  # type: ignore[index]


def _netd_and_portal_pids(lab: LabHandle) -> dict[str, int]:
    processes = json.loads(lab.lab.paths.manifest.read_text())["processes"]
    return {name: p["pid"] for name, p in processes.items() if name in ("netd", "portal-http")}


def test_kill_9_of_portal_and_netd_cuts_nobody(lab: LabHandle, phone: tuple[str, str, str]) -> None:
    ns, ip, _mac = phone
    lab.call("authorize", ip=ip, method="test", minutes=30)
    size = 20_000_000
    download = subprocess.Popen(
        ["ip", "netns", "exec", ns, "curl", "-s", "-o", "/dev/null", "-m", "30",
         "--limit-rate", "8M", "-w", "%{size_download}", f"http://bulk.example.net/bytes/{size}"],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        time.sleep(0.7)
        for pid in _netd_and_portal_pids(lab).values():
            ns_run(lab.gw, "kill", "-9", str(pid))
        time.sleep(0.5)
        lab.lab.restart_netd()
        lab.lab.restart_portal()
        out, _ = download.communicate(timeout=40)
    finally:
        download.kill()
        download.communicate()
    assert download.returncode == 0 and int(out) == size
    assert lab.call("whois", ip=ip)["authorized"] is True  # type: ignore[index]
    assert fetch(ns, f"{PORTAL_URL}status")[0] == 200


def test_sessions_survive_lab_down_and_up_with_the_store_kept(
    lab: LabHandle, phone: tuple[str, str, str], tmp_path: Path
) -> None:
    """As a reboot: everything goes away but /var/lib/simpul; the client is let through again."""
    ns, ip, mac = phone
    lab.call("authorize", ip=ip, method="test", minutes=30)
    config = str(tmp_path / "lab.yaml")
    shutil.copyfile(lab.lab.paths.config, config)
    lab.lab.down(keep_state=True)
    lab.lab.up(config)
    assert lab.ip("hs-2") == ip and mac_of(ns) == mac  # the lease was kept too
    assert lab.call("whois", ip=ip)["authorized"] is True  # type: ignore[index]
    assert http_code(ns, "http://example.org/") == "200"


def test_mac_allow_and_block_lists(lab: LabHandle, tmp_path: Path) -> None:
    """An allowed device (a kiosk) goes straight out; a blocked one reaches nothing."""
    allowed, blocked = lab.ns("hs-2"), lab.ns("hs-1")
    data = lab_data()
    data["portal"]["mac_allow"] = [mac_of(allowed)]
    data["portal"]["mac_block"] = [mac_of(blocked)]
    lab.configure(tmp_path, data)
    try:
        assert http_code(allowed, "http://example.org/") == "200"
        assert http_code(blocked, "http://example.org/") == "000"
        assert http_code(blocked, "http://merantikab.go.id/") == "000"  # not even the garden
    finally:
        lab.configure(tmp_path, lab_data())
    assert http_code(allowed, "http://example.org/") == "302"


def test_ipv6_cannot_bypass_the_portal(lab: LabHandle, phone: tuple[str, str, str]) -> None:
    """Even on a gateway that forwards IPv6, a captive client's IPv6 goes nowhere."""
    ns = phone[0]
    steps = [
        (ns, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=0"),
        (ns, "ip", "-6", "addr", "add", "2001:db8:40::10/64", "dev", "eth0", "nodad"),
        (ns, "ip", "-6", "route", "add", "default", "via", "2001:db8:40::1"),
        (lab.gw, "ip", "-6", "addr", "add", "2001:db8:40::1/64", "dev", "hs-cikpuan", "nodad"),
        (lab.gw, "ip", "-6", "addr", "add", "2001:db8:99::2/64", "dev", "wan0", "nodad"),
        (lab.gw, "sysctl", "-qw", "net.ipv6.conf.all.forwarding=1"),
        (lab.inet, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=0"),
        (lab.inet, "ip", "-6", "addr", "add", "2001:db8:99::1/64", "dev", "eth0", "nodad"),
        (lab.inet, "ip", "-6", "route", "add", "2001:db8:40::/64", "via", "2001:db8:99::2"),
    ]
    try:
        for host, *argv in steps:
            ns_run(host, *argv, check=True)
        assert ns_run(lab.gw, "ping", "-6", "-c1", "-W1", "2001:db8:99::1").returncode == 0
        proc = ns_run(ns, "curl", "-s", "-m", "3", "-o", "/dev/null", "-w", "%{http_code}",
                      "http://[2001:db8:99::1]/")  # fmt: skip
        assert proc.stdout == "000"
        assert ns_run(ns, "ping", "-6", "-c1", "-W1", "2001:db8:99::1").returncode != 0
    finally:
        ns_run(lab.gw, "sysctl", "-qw", "net.ipv6.conf.all.forwarding=0")
        ns_run(lab.gw, "ip", "-6", "addr", "flush", "dev", "hs-cikpuan", "scope", "global")
        ns_run(lab.gw, "ip", "-6", "addr", "flush", "dev", "wan0", "scope", "global")
        ns_run(lab.inet, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1")
        ns_run(ns, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1")


def test_voucher_login_and_reclaim_on_a_new_device(lab: LabHandle, tmp_path: Path) -> None:
    """A voucher lets a phone through; the same code on another device moves the session
    there (a phone that randomized its MAC), with the time that is left."""
    from simpul.store import Store
    from simpul.vouchers import new_codes, printed

    lab.configure(tmp_path, lab_data(methods=["video", "voucher"]))
    with Store(str(lab.lab.paths.db)) as store:
        code = new_codes(1)[0]
        store.add_voucher_batch([code], minutes=60, site=None, actor="test")
    first, second = lab.ns("hs-2"), lab.ns("hs-1")
    try:
        wait_for_page(first, "XXXXX-XXXXX")  # the voucher form is offered
        typo = code[:-1] + ("2" if code[-1] != "2" else "3")
        assert fetch(first, f"{PORTAL_URL}voucher", "-d", f"code={typo}")[0] == 400
        status, _h, text = fetch(first, f"{PORTAL_URL}voucher", "-d", f"code={printed(code)}")
        assert status == 200 and "60 menit" in text
        assert lab.call("whois", ip=lab.ip("hs-2"))["authorized"] is True  # type: ignore[index]
        status, _h, text = fetch(second, f"{PORTAL_URL}voucher", "-d", f"code={code.lower()}")
        assert status == 200
        assert lab.call("whois", ip=lab.ip("hs-1"))["authorized"] is True  # type: ignore[index]
        assert lab.call("whois", ip=lab.ip("hs-2"))["authorized"] is False  # type: ignore[index]
        assert http_code(second, "http://example.org/") == "200"
        assert http_code(first, "http://example.org/") == "302"
    finally:
        for short in ("hs-1", "hs-2"):
            lab.call("logout", ip=lab.ip(short))
        lab.configure(tmp_path, lab_data())


def wait_for_page(ns: str, marker: str, timeout_s: float = 15) -> None:
    """The portal keeps the configuration for up to 10 s: wait until its page shows `marker`."""
    deadline = time.monotonic() + timeout_s
    while marker not in fetch(ns, PORTAL_URL)[2]:
        assert time.monotonic() < deadline, f"the portal never showed {marker!r}"
        time.sleep(0.5)


def _sms_inbox(lab: LabHandle) -> list[dict[str, str]]:
    from simpul.lab.topology import LAB_SMS_GATEWAY

    proc = ns_run(lab.inet, "curl", "-s", "-m", "3", f"http://{LAB_SMS_GATEWAY}:8025/messages")
    return json.loads(proc.stdout)


def test_phone_otp_login_through_the_gateway_and_reclaim(lab: LabHandle, tmp_path: Path) -> None:
    """The code travels through the (recording) SMS gateway; the same number proved on another
    device moves the session there. The store never holds the number."""
    lab.configure(tmp_path, lab_data(methods=["video", "otp"]))
    first, second = lab.ns("hs-2"), lab.ns("hs-1")
    wait_for_page(first, 'name="phone"')

    def login(ns: str) -> tuple[int, str]:
        before = len(_sms_inbox(lab))
        status, _h, text = fetch(ns, f"{PORTAL_URL}otp/send", "-d", "phone=0812-3456-7890")
        assert status == 200 and "+62812****7890" in text
        inbox = _sms_inbox(lab)
        assert len(inbox) == before + 1 and inbox[-1]["to"] == "+6281234567890"
        code = inbox[-1]["message"].split(": ")[1][:6]
        wrong = "000000" if code != "000000" else "111111"
        assert (
            fetch(ns, f"{PORTAL_URL}otp/verify", "-d", f"phone=081234567890&code={wrong}")[0] == 400
        )
        status, _h, text = fetch(
            ns, f"{PORTAL_URL}otp/verify", "-d", f"phone=081234567890&code={code}"
        )
        return status, text

    try:
        assert login(first)[0] == 200
        assert lab.call("whois", ip=lab.ip("hs-2"))["authorized"] is True  # type: ignore[index]
        assert login(second)[0] == 200
        assert lab.call("whois", ip=lab.ip("hs-1"))["authorized"] is True  # type: ignore[index]
        assert lab.call("whois", ip=lab.ip("hs-2"))["authorized"] is False  # type: ignore[index]
        dump = subprocess.run(
            ["sqlite3", str(lab.lab.paths.db), ".dump"], capture_output=True, text=True, check=False
        ).stdout or lab.lab.paths.db.read_bytes().decode(errors="replace")
        assert "6281234567890" not in dump and "081234567890" not in dump
    finally:
        for short in ("hs-1", "hs-2"):
            lab.call("logout", ip=lab.ip(short))
        lab.configure(tmp_path, lab_data())


def test_radius_login_against_freeradius(lab: LabHandle, tmp_path: Path) -> None:
    """Username/password checked by Debian's FreeRADIUS (PAP); its Session-Timeout is the
    session's length; a wrong password is refused and changes nothing."""
    lab.configure(tmp_path, lab_data(methods=["video", "radius"]))
    ns, ip = lab.ns("hs-2"), lab.ip("hs-2")
    try:
        wait_for_page(ns, 'name="username"')
        status, _h, _ = fetch(ns, f"{PORTAL_URL}radius", "-d", "username=warga&password=salah")
        assert status == 403
        assert lab.call("whois", ip=ip)["authorized"] is False  # type: ignore[index]
        status, _h, text = fetch(ns, f"{PORTAL_URL}radius", "-d", "username=tamu&password=tamu2026")
        assert status == 200 and "10 menit" in text  # FreeRADIUS's Session-Timeout = 600
        session = lab.call("whois", ip=ip)["session"]  # type: ignore[index]
        assert session["method"] == "radius" and 590 <= session["seconds_remaining"] <= 600
    finally:
        lab.call("logout", ip=ip)
        lab.configure(tmp_path, lab_data())
