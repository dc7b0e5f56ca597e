"""Parse configuration from YAML or plain data into a validated `Config`, with precise errors.

Every error names the field by its path (``opds[2].subnet``) and, when the input was YAML, the line.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml
from pydantic import ValidationError

from simpul.config.checks import cross_checks
from simpul.config.model import Config
from simpul.yamllines import Loc, YamlShapeError, decode, line_for, validation_problems


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a configuration."""

    loc: Loc
    message: str
    line: int | None = None

    @property
    def path(self) -> str:
        """The field as a readable path, e.g. ``opds[2].subnet``."""
        out = ""
        for part in self.loc:
            out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
        return out or "(top level)"

    def __str__(self) -> str:
        where = f"line {self.line}: " if self.line else ""
        return f"{where}{self.path}: {self.message}"


class ConfigError(Exception):
    """The configuration is not valid; `problems` lists every reason found."""

    def __init__(self, problems: list[Problem], source: str = "") -> None:
        self.problems = problems
        self.source = source
        head = f"{source}: " if source else ""
        super().__init__(head + "; ".join(str(p) for p in problems))

    def render(self) -> str:
        """A multi-line report for a person."""
        head = f"{self.source}: " if self.source else ""
        lines = [f"{head}{len(self.problems)} problem(s) in the configuration:"]
        lines += [f"  - {p}" for p in self.problems]
        return "\n".join(lines)


@dataclass
class _Marked:
    """Plain data decoded from YAML plus the line of each path."""

    data: Any
    lines: dict[Loc, int] = field(default_factory=dict)


def _parse_yaml(text: str, source: str) -> _Marked:
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        reason = getattr(exc, "problem", None) or str(exc)
        raise ConfigError([Problem((), f"not valid YAML: {reason}", line)], source) from None
    if root is None:
        raise ConfigError([Problem((), "the file is empty")], source)
    marked = _Marked(None)
    try:
        marked.data = decode(root, (), marked.lines)
    except YamlShapeError as exc:
        raise ConfigError([Problem(exc.loc, exc.message, exc.line)], source) from None
    return marked


def _pydantic_problems(exc: ValidationError, data: Any, lines: Mapping[Loc, int]) -> list[Problem]:
    return [
        Problem(loc, message, line_for(loc, lines))
        for loc, message, _err in validation_problems(exc, data)
    ]


def parse_config(data: Any, source: str = "", lines: Mapping[Loc, int] | None = None) -> Config:
    """Validate plain data (from YAML or JSON) into a `Config`; raise `ConfigError` if invalid."""
    lines = lines or {}
    if not isinstance(data, dict):
        raise ConfigError([Problem((), "the configuration must be a mapping of sections")], source)
    try:
        config = Config.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_pydantic_problems(exc, data, lines), source) from None
    problems = [
        Problem(loc, message, line_for(loc, lines)) for loc, message in cross_checks(config)
    ]
    if problems:
        raise ConfigError(problems, source)
    return config


def load_config_text(text: str, source: str = "<text>") -> Config:
    """Parse and validate YAML text."""
    marked = _parse_yaml(text, source)
    return parse_config(marked.data, source, marked.lines)


def load_config_file(path: str) -> Config:
    """Parse and validate a YAML file; errors carry the file name and line."""
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except OSError as exc:
        raise ConfigError([Problem((), f"cannot read: {exc.strerror}")], path) from None
    except UnicodeDecodeError:
        raise ConfigError([Problem((), "not UTF-8 text")], path) from None
    return load_config_text(text, path)


def config_to_data(config: Config) -> dict[str, Any]:
    """The configuration as plain data, defaults included, in a stable order (for YAML/JSON)."""
    # None is kept: for some fields it overrides a default (e.g. no per-device rate limit).
    return config.model_dump(mode="json")


def dump_config_yaml(config: Config) -> str:
    """The configuration as YAML that `load_config_text` reads back to an equal `Config`."""
    return yaml.safe_dump(
        config_to_data(config), sort_keys=False, allow_unicode=True, default_flow_style=False
    )
