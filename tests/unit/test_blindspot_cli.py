"""`simpul villages import` and `simpul report blindspot`: line-precise refusals that import
nothing, and the operator's CSV."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from simpul.cli import main
from simpul.config import load_config_file
from simpul.store import Store

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "villages-meranti.csv"


@pytest.fixture
def node(tmp_path: Path) -> Path:
    with Store(str(tmp_path / "simpul.db")) as store:
        store.import_config(load_config_file(str(ROOT / "examples" / "meranti.yaml")), actor="t")
    return tmp_path


def _run(node: Path, *args: str) -> Any:
    return CliRunner().invoke(main, ["--db", str(node / "simpul.db"), *args])


def test_import_then_report(node: Path) -> None:
    out = _run(node, "villages", "import", str(EXAMPLE))
    assert out.exit_code == 0, out.output
    assert "14 villages imported" in out.output
    out = _run(node, "report", "blindspot", "--month", "2026-11", "--format", "csv", "-o",
               str(node / "blind.csv"))  # fmt: skip
    assert out.exit_code == 0, out.output
    lines = (node / "blind.csv").read_text().splitlines()
    header = next(x for x in lines if not x.startswith("#"))
    assert header == "kode_wilayah,kecamatan,desa,lat,lon,masalah,sinyal_terbaik,site,downtime_jam"
    assert len([x for x in lines if x.startswith("14.10.")]) == 6  # the villages without signal


def test_a_bad_register_names_its_lines_and_imports_nothing(node: Path) -> None:
    assert _run(node, "villages", "import", str(EXAMPLE)).exit_code == 0
    lines = EXAMPLE.read_text(encoding="utf-8").splitlines()
    lines[3] = lines[3].replace(",", ",,", 1)  # line 4: a cell too many
    bad = node / "bad.csv"
    bad.write_text("\n".join(lines) + "\n", encoding="utf-8")
    out = _run(node, "villages", "import", str(bad))
    assert out.exit_code == 1
    assert "line 4" in out.output or "baris 4" in out.output, out.output
    with Store(str(node / "simpul.db")) as store:  # the previous register stays
        assert store.db.execute("SELECT COUNT(*) FROM village").fetchone()[0] == 14
        assert store.db.execute("SELECT COUNT(*) FROM village_import").fetchone()[0] == 1


def test_report_without_a_register_says_so(node: Path) -> None:
    out = _run(node, "report", "blindspot", "-o", str(node / "x.pdf"))
    assert out.exit_code != 0 and "village register is empty" in out.output
