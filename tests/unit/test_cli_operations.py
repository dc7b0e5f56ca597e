"""`simpul migrate` and `simpul backup` as the playbook and the nightly timer run them."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from click.testing import CliRunner

from simpul.cli import main
from simpul.store import MIGRATIONS, Store
from simpul.usage.db import USAGE_DB, UsageDb


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    return result.exit_code, result.output


def test_migrate_brings_an_old_store_up_and_keeps_its_data(tmp_path: Path) -> None:
    path = tmp_path / "simpul.db"
    old = sqlite3.connect(path)
    for number, script in enumerate(MIGRATIONS[:5], start=1):  # a store as release 5 left it
        old.executescript(script)
        old.execute(f"PRAGMA user_version = {number}")
    old.execute("INSERT INTO audit (at, actor, action, detail) VALUES (1, 'x', 'kept', '{}')")
    old.commit()
    old.close()
    code, out = run("--db", str(path), "migrate")
    assert code == 0
    assert f"applied migration(s) {', '.join(str(n) for n in range(6, len(MIGRATIONS) + 1))}" in out
    with Store(str(path)) as store:
        assert store.schema_version == len(MIGRATIONS)
        assert [r["action"] for r in store.audit_log()] == ["kept"]
    code, out = run("--db", str(path), "migrate")
    assert "schema up to date" in out


def test_migrate_without_a_database_says_so_and_makes_none(tmp_path: Path) -> None:
    code, out = run("--db", str(tmp_path / "none.db"), "migrate")
    assert code == 0 and "no database" in out
    assert not (tmp_path / "none.db").exists()


def test_backup_with_usage_copies_both(tmp_path: Path) -> None:
    db = tmp_path / "simpul.db"
    with Store(str(db)) as store:
        store.audit("test", "marker", {})
    UsageDb(str(tmp_path / USAGE_DB)).close()
    code, out = run("--db", str(db), "backup", "--usage", str(tmp_path / "b" / "n.db"))
    assert code == 1 and "no directory" in out
    (tmp_path / "b").mkdir()
    code, out = run("--db", str(db), "backup", "--usage", str(tmp_path / "b" / "n.db"))
    assert code == 0, out
    with Store(str(tmp_path / "b" / "n.db"), readonly=True) as copy:
        assert copy.audit_log()[0]["action"] == "marker"
    usage = sqlite3.connect(tmp_path / "b" / "n-usage.db")
    assert usage.execute("SELECT count(*) FROM usage").fetchone() == (0,)
    usage.close()
    assert not list((tmp_path / "b").glob("*.partial"))
