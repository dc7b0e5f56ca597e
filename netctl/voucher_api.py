"""netd's API for voucher batches from the console: make a batch (stored and audited in one
transaction by the store) and list batches with how many of their codes were used.

Codes are secrets: only `voucher_create`'s answer carries them (the printed sheet reads them
from the store). `voucher_batches` is a read any local peer may make, so it never does.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from netctl.clients import MAX_SESSION_MINUTES
from netctl.errors import RequestError, bounded_int, text_param
from simpul import vouchers
from simpul.config import ConfigError
from simpul.store import Store

MAX_BATCH = 500  # per request; the CLI makes larger batches straight in the store
MAX_NOTE = 80
MAX_LIST = 200


class VoucherApi:
    """The methods, over netd's store and clock."""

    def __init__(self, store: Store, clock: Callable[[], float]) -> None:
        self.store = store
        self.clock = clock

    def create(self, params: dict[str, Any]) -> dict[str, Any]:
        """Make `count` codes of `minutes` each (from their first use), valid at hotspot site
        `site` or (no site) at every site, with an optional `note`; the answer holds the codes
        as printed. The store records the batch in the audit log."""
        count = bounded_int(params.get("count"), "count", 1, MAX_BATCH)
        minutes = bounded_int(params.get("minutes"), "minutes", 1, MAX_SESSION_MINUTES)
        note = text_param(params, "note", MAX_NOTE).strip()
        site = params.get("site")
        sites = self._site_slugs()  # asked first: no batch without a configuration
        if site is not None and site not in sites:
            raise RequestError("invalid", f"site: there is no hotspot site {site!r}")
        codes = vouchers.new_codes(count)
        batch = self.store.add_voucher_batch(
            codes, minutes=minutes, site=site, actor=params["_actor"], note=note
        )
        return {
            "batch": batch,
            "site": site,
            "minutes": minutes,
            "note": note,
            "count": count,
            "codes": [vouchers.printed(code) for code in codes],
        }

    def batches(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        """Batches newest first with their used and unused counts, never their codes: at most
        `limit` (default 50) older than batch `before`, or only `batch` (an empty list if there
        is no such batch)."""
        limit = bounded_int(params.get("limit", 50), "limit", 1, MAX_LIST)
        before = params.get("before")
        batch = params.get("batch")
        return self.store.voucher_batches(
            self.clock(),
            limit=limit,
            before=None if before is None else bounded_int(before, "before", 1, 2**62),
            batch=None if batch is None else bounded_int(batch, "batch", 1, 2**62),
        )

    def _site_slugs(self) -> set[str]:
        try:
            config = self.store.config()
        except (LookupError, ConfigError) as exc:
            raise RequestError("no-config", str(exc)) from None
        return {site.slug for site in config.hotspot_sites}
