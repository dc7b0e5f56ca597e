"""Voucher codes for hotspot sites: generation, typing-error checks and the printable sheet. Pure.

A code is 10 characters from an alphabet without look-alikes (no 0/O, 1/I/L, U/V), the last one a
check character, printed as two groups: `K7QM4-XR2HB`. A mistyped code is refused before the
database is asked.
"""

from __future__ import annotations

import html
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from simpul.config import Config
    from simpul.store import Voucher

ALPHABET = "23456789ABCDEFGHJKMNPQRSTWXYZ"  # 29 symbols, no look-alikes
BODY = 9  # random symbols; with the check character a code is 10 long
MAX_BATCH = 5_000


class VoucherError(ValueError):
    """A code that cannot be a voucher; the message says why."""


def _check_char(body: str) -> str:
    total = sum((i + 1) * ALPHABET.index(c) for i, c in enumerate(body))
    return ALPHABET[total % len(ALPHABET)]


def new_code() -> str:
    """One random code (about 43 bits of randomness) with its check character."""
    body = "".join(secrets.choice(ALPHABET) for _ in range(BODY))
    return body + _check_char(body)


def new_codes(count: int) -> list[str]:
    """`count` distinct codes."""
    if not 1 <= count <= MAX_BATCH:
        raise VoucherError(f"a batch holds 1 to {MAX_BATCH} vouchers, not {count}")
    codes: set[str] = set()
    while len(codes) < count:
        codes.add(new_code())
    return sorted(codes)


def normalize(text: str) -> str:
    """A code as typed (any case, spaces, dashes; O for 0 and I/L for 1 are not in codes) in
    canonical form; raises VoucherError for anything that cannot be a code."""
    cleaned = "".join(ch for ch in str(text).upper() if ch not in " -\t")
    if len(cleaned) != BODY + 1:
        raise VoucherError("a voucher code has 10 letters and digits")
    if any(ch not in ALPHABET for ch in cleaned):
        raise VoucherError("a voucher code uses only the letters and digits printed on it")
    if _check_char(cleaned[:BODY]) != cleaned[BODY]:
        raise VoucherError("this code has a typing error: check it against the voucher")
    return cleaned


def printed(code: str) -> str:
    """How a code is printed: two groups of five."""
    return f"{code[:5]}-{code[5:]}"


@dataclass(frozen=True)
class SheetInfo:
    """What a printed voucher sheet says besides the codes."""

    regency: str
    site: str
    minutes: int
    batch: int
    ssid_hint: str = "WiFi Gratis"


SHEET_CSS = """@page { size: A4; margin: 10mm; }
body { font-family: sans-serif; margin: 0; }
h1 { font-size: 14pt; margin: 0 0 4mm; }
.grid { display: grid; grid-template-columns: repeat(4, 1fr); gap: 3mm; }
.card { border: 1px dashed #555; padding: 3mm; text-align: center; break-inside: avoid; }
.t { font-size: 9pt; } .m { font-size: 8pt; color: #333; }
.c { font: bold 15pt monospace; letter-spacing: 1px; margin: 2mm 0; }
"""


def sheet_info(config: Config, batch: int, codes: Sequence[Voucher]) -> SheetInfo:
    """What the printed sheet of `batch` (its `codes`, all of one batch) says besides them."""
    site = codes[0].site
    where = next((s.name for s in config.hotspot_sites if s.slug == site), site) if site else None
    return SheetInfo(config.node.regency, where or "semua lokasi", codes[0].minutes, batch)


def sheet_html(info: SheetInfo, codes: Iterable[str], stylesheet_href: str | None = None) -> str:
    """A printable A4 sheet of voucher cards: self-contained HTML with no external resources,
    or (a page under a strict CSP) linking its stylesheet, SHEET_CSS, at `stylesheet_href`."""
    hours, minutes = divmod(info.minutes, 60)
    duration = (
        f"{hours} jam {minutes} menit"
        if hours and minutes
        else (f"{hours} jam" if hours else f"{minutes} menit")
    )
    ssid, site = html.escape(info.ssid_hint), html.escape(info.site)
    cards = "\n".join(
        f'<div class="card"><div class="t">{ssid}</div>'
        f'<div class="c">{html.escape(printed(code))}</div>'
        f'<div class="m">{html.escape(duration)} · {site}</div></div>'
        for code in codes
    )
    title = f"Voucher WiFi Gratis {html.escape(info.regency)} — {site} — batch {info.batch}"
    style = (f'<link rel="stylesheet" href="{html.escape(stylesheet_href)}">'
             if stylesheet_href else f"<style>\n{SHEET_CSS}</style>")  # fmt: skip
    return f"""<!doctype html>
<html lang="id"><head><meta charset="utf-8">
<title>{title}</title>
{style}</head><body>
<h1>{title}</h1>
<p>Sambungkan ke WiFi, buka halaman portal, masukkan kode voucher.
Satu kode untuk satu perangkat.</p>
<div class="grid">
{cards}
</div></body></html>
"""
