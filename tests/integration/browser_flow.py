"""A citizen's phone on a hotspot, driven in Chromium: run inside a lab hotspot namespace.

    ip netns exec spt-hs-2 .venv/bin/python tests/integration/browser_flow.py URL NEWS_HOST

Prints one JSON object of observations for the test to judge (the test asserts, this only looks).
"""

from __future__ import annotations

import json
import sys
import tempfile
import time

from playwright.sync_api import Error, sync_playwright

ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic",
    "--autoplay-policy=no-user-gesture-required",
]  # fmt: skip
PHONE_UA = (
    "Mozilla/5.0 (Linux; Android 11; Redmi 9A) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.0.0 Mobile Safari/537.36"
)


def main(start_url: str, news_url: str) -> dict[str, object]:
    seen: dict[str, object] = {}
    with tempfile.TemporaryDirectory() as profile, sync_playwright() as pw:
        browser = pw.chromium.launch_persistent_context(
            profile,
            executable_path="/usr/bin/chromium",
            headless=True,
            args=ARGS,
            viewport={"width": 360, "height": 740},
            user_agent=PHONE_UA,
            is_mobile=True,
            has_touch=True,
            bypass_csp=True,  # lets the test evaluate expressions; the page itself is unchanged
        )
        page = browser.new_page()
        page.goto(start_url, wait_until="domcontentloaded", timeout=15_000)
        seen["landed_url"] = page.url
        seen["title"] = page.title()
        seen["lang"] = page.get_attribute("html", "lang")
        button = page.locator("button[type=submit]").first
        seen["button_locked_at_start"] = button.is_disabled()
        video = page.locator("video").first
        started = time.monotonic()
        page.wait_for_function("document.querySelector('video').currentTime > 0.5", timeout=15_000)
        seen["video_played_s"] = video.evaluate("v => v.currentTime")
        seen["video_attrs"] = video.evaluate(
            "v => ({muted: v.muted, autoplay: v.autoplay, playsinline: v.playsInline})"
        )
        seen["button_locked_while_playing"] = button.is_disabled()
        page.wait_for_function(
            "!document.querySelector('button[type=submit]').disabled", timeout=60_000
        )
        seen["unlocked_after_s"] = round(time.monotonic() - started, 1)
        button.click()
        page.wait_for_load_state("domcontentloaded")
        seen["after_grant_url"] = page.url
        seen["after_grant_links"] = page.eval_on_selector_all("a", "as => as.map(a => a.href)")
        page.goto(news_url, wait_until="domcontentloaded", timeout=15_000)
        seen["news_url"] = page.url
        seen["news_text"] = page.inner_text("body")[:200]
        page.goto(start_url, wait_until="domcontentloaded", timeout=15_000)
        seen["site_after_grant_url"] = page.url
        seen["site_after_grant_text"] = page.inner_text("body")[:200]
        status_url = seen["landed_url"].split("?")[0].rstrip("/") + "/status"  # type: ignore[union-attr]
        page.goto(status_url, wait_until="domcontentloaded", timeout=15_000)
        seen["status_text"] = page.inner_text("body")[:600]
        logout = "form[action$='/logout'] button, form[action$='/logout'] input[type=submit]"
        page.locator(logout).first.click()
        page.wait_for_load_state("domcontentloaded")
        seen["after_logout_text"] = page.inner_text("body")[:300]
        try:
            page.goto(start_url, wait_until="domcontentloaded", timeout=15_000)
            seen["site_after_logout_url"] = page.url
        except Error as exc:
            seen["site_after_logout_url"] = f"error: {exc.message.splitlines()[0]}"
        browser.close()
    return seen


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1], sys.argv[2])))
