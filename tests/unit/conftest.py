"""Shared by the unit tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from argon2 import PasswordHasher

from portal.admin import accounts

if TYPE_CHECKING:
    from flask import Flask

    from tests.unit.admin_helpers import Browser, FakeNetd


@pytest.fixture(autouse=True, scope="session")
def quick_password_hashes() -> Iterator[None]:
    """Cheap argon2 parameters: most tests sign in, and what they test is not the hash (the
    accounts tests check a real one)."""
    real = accounts._hasher
    accounts._hasher = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
    yield
    accounts._hasher = real


# The console's usual test setup (see admin_helpers); a module that needs other answers from
# netd, a clock or a shared console overrides the fixture of the same name. The helpers are
# imported when a test asks, so the other tests do not load the console.


@pytest.fixture
def netd() -> FakeNetd:
    """A fake netd answering as admin_helpers.FakeNetd does by default."""
    from tests.unit.admin_helpers import FakeNetd

    return FakeNetd()


@pytest.fixture
def app(tmp_path: Path, netd: FakeNetd) -> Flask:
    """The console over `tmp_path`, talking to `netd`."""
    from tests.unit.admin_helpers import make_app

    return make_app(tmp_path, netd)


@pytest.fixture
def admin(app: Flask) -> Browser:
    """An admin signed in to `app`."""
    from tests.unit.admin_helpers import sign_in

    return sign_in(app, "admin")
