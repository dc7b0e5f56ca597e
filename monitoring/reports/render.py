"""Reports as CSV (a Satu Data Indonesia style metadata header, then one table) and as a PDF in
Bahasa Indonesia, ready to sign, printed from HTML by Debian's Chromium (headless)."""

from __future__ import annotations

import csv
import io
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, select_autoescape

from monitoring.reports.monthly import Report

TEMPLATES = Path(__file__).resolve().parent / "templates"
CHROMIUM = "/usr/bin/chromium"
PRINT_TIMEOUT_S = 120


class RenderError(Exception):
    """A report could not be rendered (e.g. no Chromium for the PDF)."""


def to_csv(report: Report, table: int = 0) -> str:
    """One of the report's tables as CSV, after `# key: value` metadata lines."""
    try:
        chosen = report.tables[table]
    except IndexError:
        raise RenderError(f"the report has {len(report.tables)} table(s)") from None
    out = io.StringIO()
    for key, value in (*report.metadata, ("Tabel / Table", chosen.title)):
        out.write(f"# {key}: {value}\n")
    if chosen.note:
        out.write(f"# Catatan / Note: {chosen.note}\n")
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(chosen.columns)
    writer.writerows(chosen.rows)
    return out.getvalue()


def to_html(report: Report) -> str:
    """The report as one self-contained HTML page (no resource from the internet)."""
    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html"]))
    return env.get_template("report.html").render(report=report)


def to_pdf(report: Report, output: str) -> None:
    """Print the report's HTML to `output` (PDF, A4) with headless Chromium."""
    if not os.access(CHROMIUM, os.X_OK):
        raise RenderError(f"{CHROMIUM} is not installed: the PDF is printed by Chromium")
    with tempfile.TemporaryDirectory(prefix="simpul-report-") as tmp:
        page = Path(tmp) / "report.html"
        page.write_text(to_html(report), encoding="utf-8")
        target = Path(tmp) / "report.pdf"
        argv = [
            CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            f"--user-data-dir={tmp}/profile", "--no-pdf-header-footer",
            f"--print-to-pdf={target}", page.as_uri(),
        ]  # fmt: skip
        try:
            proc = subprocess.run(argv, capture_output=True, text=True, timeout=PRINT_TIMEOUT_S,
                                  check=False)  # fmt: skip
        except subprocess.TimeoutExpired:
            raise RenderError(f"Chromium did not print in {PRINT_TIMEOUT_S} s") from None
        if proc.returncode != 0 or not target.exists() or target.stat().st_size == 0:
            raise RenderError(f"Chromium could not print the report: {proc.stderr[-500:]}")
        shutil.copyfile(target, output)
