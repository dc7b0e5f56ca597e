"""`simpul admin user …`: console users made, changed, listed and disabled from the shell."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from portal.admin.accounts import ConsoleDb
from simpul.cli import main

PASSWORD = "kata-sandi-uji-123"
OTHER = "kata-sandi-lain-456"


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "console" / "console.db"


def admin(db_path: Path, *args: str, input_text: str | None = None) -> Result:
    return CliRunner().invoke(main, ["admin", "user", *args, "--db", str(db_path)],
                              input=input_text)  # fmt: skip


def open_db(db_path: Path) -> ConsoleDb:
    return ConsoleDb(str(db_path))


def add(db_path: Path, name: str, role: str, password: str = PASSWORD) -> Result:
    return admin(db_path, "add", name, "--role", role, input_text=f"{password}\n{password}\n")


def test_add_asks_the_password_twice_and_stores_a_working_hash(db_path: Path) -> None:
    result = add(db_path, "budi", "operator")
    assert result.exit_code == 0, result.output
    assert "budi added (operator)" in result.output
    assert PASSWORD not in result.output  # not echoed
    db = open_db(db_path)
    user = db.verify("budi", PASSWORD)
    assert user is not None and user.role == "operator" and not user.disabled
    assert db.verify("budi", OTHER) is None


def test_add_refuses_two_different_passwords(db_path: Path) -> None:
    result = admin(db_path, "add", "budi", "--role", "admin", input_text=f"{PASSWORD}\n{OTHER}\n")
    assert result.exit_code != 0
    assert open_db(db_path).user("budi") is None


def test_add_reads_the_password_file(db_path: Path, tmp_path: Path) -> None:
    secret = tmp_path / "pw"
    secret.write_text(PASSWORD + "\n")
    result = admin(db_path, "add", "ani", "--role", "reviewer", "--password-file", str(secret))
    assert result.exit_code == 0, result.output
    assert open_db(db_path).verify("ani", PASSWORD) is not None


def test_add_reads_the_password_from_standard_input(db_path: Path) -> None:
    result = admin(db_path, "add", "ani", "--role", "reviewer", "--password-file", "-",
                   input_text=PASSWORD + "\n")  # fmt: skip
    assert result.exit_code == 0, result.output
    assert open_db(db_path).verify("ani", PASSWORD) is not None


@pytest.mark.parametrize(
    ("name", "password", "message"),
    [
        ("budi", "pendek", "10–200"),  # too short
        ("Budi Santoso", PASSWORD, "user name"),  # not a valid name
    ],
)
def test_add_refuses_bad_input_clearly(
    db_path: Path, name: str, password: str, message: str
) -> None:
    result = add(db_path, name, "admin", password)
    assert result.exit_code == 1
    assert "error:" in result.output and message in result.output
    assert open_db(db_path).users() == []


def test_add_refuses_a_taken_name_and_keeps_the_first(db_path: Path) -> None:
    assert add(db_path, "budi", "admin").exit_code == 0
    result = add(db_path, "budi", "reviewer", OTHER)
    assert result.exit_code == 1
    assert "name taken" in result.output
    db = open_db(db_path)
    assert db.user("budi").role == "admin"  # type: ignore[union-attr]
    assert db.verify("budi", PASSWORD) is not None


def test_add_refuses_an_unknown_role(db_path: Path) -> None:
    result = add(db_path, "budi", "root")
    assert result.exit_code == 2  # click's usage error
    assert "admin" in result.output and "reviewer" in result.output


def test_passwd_changes_the_password_and_ends_sessions_and_tokens(db_path: Path) -> None:
    add(db_path, "budi", "admin")
    db = open_db(db_path)
    generation = db.user("budi").generation  # type: ignore[union-attr]
    token = db.add_token("budi", "script")
    result = admin(db_path, "passwd", "budi", input_text=f"{OTHER}\n{OTHER}\n")
    assert result.exit_code == 0, result.output
    assert db.verify("budi", PASSWORD) is None
    assert db.verify("budi", OTHER) is not None
    assert db.user("budi").generation == generation + 1  # type: ignore[union-attr]
    assert db.token_user(token) is None


def test_passwd_of_an_unknown_user_fails_before_asking(db_path: Path) -> None:
    result = admin(db_path, "passwd", "siapa")
    assert result.exit_code == 1
    assert "no console user siapa" in result.output
    assert "password" not in result.output.split("error:")[0]  # no prompt was shown


def test_passwd_refuses_a_short_password_and_keeps_the_old(db_path: Path) -> None:
    add(db_path, "budi", "admin")
    result = admin(db_path, "passwd", "budi", input_text="pendek\npendek\n")
    assert result.exit_code == 1
    assert open_db(db_path).verify("budi", PASSWORD) is not None


def test_list_shows_every_user_with_role_and_state(db_path: Path) -> None:
    add(db_path, "budi", "admin")
    add(db_path, "ani", "reviewer")
    admin(db_path, "disable", "ani")
    table = admin(db_path, "list")
    assert table.exit_code == 0
    # One user a line, starting with the name (Ansible greps for '^NAME').
    assert [line.split()[:3] for line in table.output.splitlines()] == [
        ["ani", "reviewer", "disabled"],
        ["budi", "admin", "enabled"],
    ]
    listed = json.loads(admin(db_path, "list", "--json").output)
    assert [(u["name"], u["role"], u["disabled"]) for u in listed] == [
        ("ani", "reviewer", True),
        ("budi", "admin", False),
    ]


def test_disable_ends_sign_in_and_tokens_and_enable_restores_sign_in(db_path: Path) -> None:
    add(db_path, "budi", "admin")
    add(db_path, "ani", "operator")
    db = open_db(db_path)
    token = db.add_token("ani", "script")
    assert admin(db_path, "disable", "ani").exit_code == 0
    assert db.verify("ani", PASSWORD) is None
    assert db.token_user(token) is None
    assert admin(db_path, "enable", "ani").exit_code == 0
    assert db.verify("ani", PASSWORD) is not None


def test_the_last_enabled_admin_cannot_be_disabled(db_path: Path) -> None:
    add(db_path, "budi", "admin")
    result = admin(db_path, "disable", "budi")
    assert result.exit_code == 1
    assert "last enabled admin" in result.output
    assert not open_db(db_path).user("budi").disabled  # type: ignore[union-attr]


def test_disable_of_an_unknown_user_fails(db_path: Path) -> None:
    result = admin(db_path, "disable", "siapa")
    assert result.exit_code == 1
    assert "no such user" in result.output


def test_the_database_comes_from_simpul_admin_db(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "env" / "console.db"
    monkeypatch.setenv("SIMPUL_ADMIN_DB", str(path))
    result = CliRunner().invoke(main, ["admin", "user", "add", "budi", "--role", "admin"],
                                input=f"{PASSWORD}\n{PASSWORD}\n")  # fmt: skip
    assert result.exit_code == 0, result.output
    assert ConsoleDb(str(path)).user("budi") is not None


def test_an_unusable_database_path_is_a_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    result = add(blocker / "console.db", "budi", "admin")
    assert result.exit_code == 1
    assert "cannot open the console database" in result.output


@pytest.mark.skipif(os.geteuid() != 0, reason="only root can give a file to another user")
def test_made_by_root_the_database_belongs_to_its_directory_owner(tmp_path: Path) -> None:
    """The console's user must write console.db even when root made it with the CLI."""
    directory = tmp_path / "console"
    directory.mkdir()
    os.chown(directory, 65534, 65534)
    path = directory / "console.db"
    assert add(path, "budi", "admin").exit_code == 0
    assert (path.stat().st_uid, path.stat().st_gid) == (65534, 65534)
    assert path.stat().st_mode & 0o077 == 0
