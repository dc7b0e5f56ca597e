"""The village register in the node's store: replaced whole by an import, read back for the
blind-spot report (the parsing and checking is `monitoring.reports.villages`, pure)."""

from __future__ import annotations

import json
from datetime import date

from monitoring.reports.villages import Village
from simpul.store import Store


def import_register(store: Store, villages: list[Village], actor: str, source: str) -> int:
    """Replace the whole register with `villages` and record the import (its row and an audit
    entry), in one transaction: on any database error nothing changes. Returns the import's
    number."""
    rows = [
        (v.code, v.kecamatan, v.desa, v.lat, v.lon,
         json.dumps(v.signal, sort_keys=True, ensure_ascii=False), v.surveyed.isoformat(), v.site)
        for v in villages
    ]  # fmt: skip
    return store.replace_villages(rows, actor, source)


def load_register(store: Store) -> list[Village]:
    """The register as last imported, by code (empty before the first import)."""
    return [
        Village(r["code"], r["kecamatan"], r["desa"], r["lat"], r["lon"], json.loads(r["signal"]),
                date.fromisoformat(r["surveyed"]), r["site"])
        for r in store.village_rows()
    ]  # fmt: skip
