"""YAML read with the line of every value, so that a validation error can name the line a
person must fix (the node's configuration, device profiles)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import yaml

Loc = tuple[str | int, ...]


class YamlShapeError(ValueError):
    """A mapping key that is not plain text, or a key that appears twice."""

    def __init__(self, loc: Loc, message: str, line: int) -> None:
        super().__init__(message)
        self.loc, self.message, self.line = loc, message, line


def decode(node: yaml.Node, loc: Loc, lines: dict[Loc, int]) -> Any:
    """Plain data from a composed YAML node, noting in `lines` the 1-based line of every path."""
    lines.setdefault(loc, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = decode(key_node, (*loc, "<key>"), {})
            line = key_node.start_mark.line + 1
            if not isinstance(key, str | int):
                raise YamlShapeError(loc, "keys must be plain text", line)
            if key in out:
                raise YamlShapeError((*loc, key), "appears twice", line)
            lines[(*loc, key)] = line
            out[key] = decode(value_node, (*loc, key), lines)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [decode(item, (*loc, i), lines) for i, item in enumerate(node.value)]
    return yaml.SafeLoader(" ").construct_object(node)  # type: ignore[no-untyped-call]


def line_for(loc: Loc, lines: Mapping[Loc, int]) -> int | None:
    """The line of `loc`, or of its nearest ancestor that the file has."""
    for end in range(len(loc), -1, -1):
        if loc[:end] in lines:
            return lines[loc[:end]]
    return None


def validation_problems(error: Any, data: Any) -> list[tuple[Loc, str, dict[str, Any]]]:
    """A pydantic ValidationError's problems as (path the user wrote, message for a person,
    the raw error for callers that word some kinds their own way)."""
    out = []
    for err in error.errors(include_url=False):
        message = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            message = "unknown field (misspelt, or not valid here)"
        elif err["type"] == "missing":
            message = "is required"
        out.append((user_loc(data, err["loc"]), message, err))
    return out


def user_loc(data: Any, loc: tuple[Any, ...]) -> Loc:
    """The part of pydantic's error location that the user wrote.

    Tags pydantic adds for union members ('IPv4Interface', "literal['dhcp']") stand after a
    plain value; they are dropped. A key missing from a mapping is kept (it names the field).
    """
    out: list[str | int] = []
    for part in loc:
        if not isinstance(data, dict | list):
            break
        out.append(part)
        try:
            data = data[part]
        except (KeyError, IndexError, TypeError):
            data = None
    return tuple(out)
