"""Build a policy engine from a configuration: load its lists and calendar (file I/O).

Lists are reloaded only when their file or settings changed, so a reload for a policy change
costs nothing and a list refresh builds only the list that changed.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from simpul.config.model import Config, FilterList
from simpul.filtering.calendar import Calendar, load_calendar
from simpul.filtering.lists import Kind, ListError, ListReport
from simpul.filtering.matcher import DomainSet
from simpul.filtering.policy import Classifier, PolicyEngine


@dataclass(frozen=True)
class LoadedList:
    """A list as loaded: its set, its load report, and what it was loaded from."""

    spec: FilterList
    path: str
    stamp: tuple[int, int]  # (mtime_ns, size): a changed file is loaded again
    names: DomainSet
    report: ListReport


def list_path(config: Config, spec: FilterList) -> str:
    """Where a list's file is: absolute, or under `filtering.lists_dir`."""
    return str(config.filtering.lists_path / spec.path)


def _stamp(path: str) -> tuple[int, int]:
    try:
        st = os.stat(path)
    except OSError as exc:
        raise ListError(f"{path}: {exc.strerror}") from None
    return st.st_mtime_ns, st.st_size


def lists_changed(lists: dict[str, LoadedList]) -> bool:
    """Whether a loaded list's file changed on disk since (a refreshed list). A file gone is
    not a change: the next apply reports it; what is loaded keeps serving."""
    for item in lists.values():
        try:
            if _stamp(item.path) != item.stamp:
                return True
        except ListError:
            continue
    return False


def check_lists(config: Config) -> None:
    """ListError unless every list file of `config` is there and readable (a cheap check
    before an apply; bad lines inside are the front end's to count)."""
    for spec in config.filtering.lists:
        path = list_path(config, spec)
        if not os.access(path, os.R_OK):
            reason = "not readable" if os.path.exists(path) else "no such file"
            raise ListError(f"list {spec.name!r}: {path}: {reason}")


def load_lists(
    config: Config, previous: dict[str, LoadedList] | None = None
) -> dict[str, LoadedList]:
    """Every list of `config`, reusing those of `previous` whose file and settings are the same.

    Raises ListError (naming the list) when a file cannot be read at all; bad lines inside a
    file are only counted in its report.
    """
    previous = previous or {}
    loaded: dict[str, LoadedList] = {}
    for spec in config.filtering.lists:
        path = list_path(config, spec)
        stamp = _stamp(path)
        old = previous.get(spec.name)
        if old is not None and old.spec == spec and old.path == path and old.stamp == stamp:
            loaded[spec.name] = old
            continue
        kind = Kind.EXACT if spec.match == "exact" else Kind.SUBTREE
        try:
            names, report = DomainSet.load(path, spec.format, default_kind=kind)
        except ListError as exc:
            raise ListError(f"list {spec.name!r}: {exc}") from None
        loaded[spec.name] = LoadedList(spec, path, stamp, names, report)
    return loaded


def build_engine(
    config: Config, lists: dict[str, LoadedList], calendar: Calendar | None = None
) -> tuple[PolicyEngine, list[str]]:
    """A policy engine over loaded lists, plus warnings (e.g. no holiday calendar)."""
    warnings: list[str] = []
    if calendar is None:
        calendar, warnings = load_calendar(config.filtering)
    classifier = Classifier(
        {name: (item.spec.category, item.names) for name, item in lists.items()}
    )
    return PolicyEngine(config, classifier, calendar), warnings


def engine_for(config: Config) -> tuple[PolicyEngine, dict[str, LoadedList], list[str]]:
    """Load everything `config` needs and build its engine (for the CLI and tests)."""
    lists = load_lists(config)
    engine, warnings = build_engine(config, lists)
    return engine, lists, warnings
