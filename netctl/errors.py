"""The error netd's API methods raise for a request they refuse, and the checks of their
parameters that raise it."""

from __future__ import annotations

from typing import Any


class RequestError(Exception):
    """A request netd refuses; `code` is machine-readable."""

    def __init__(self, code: str, message: str) -> None:
        self.code = code
        super().__init__(message)


def bounded_int(value: Any, name: str, low: int, high: int) -> int:
    """`value` if it is a whole number (not a bool) in [low, high]; RequestError otherwise."""
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise RequestError("invalid", f"{name} must be a whole number from {low} to {high}")
    return value


def text_param(params: dict[str, Any], name: str, limit: int) -> str:
    """Parameter `name` (default ""), text of at most `limit` characters; RequestError
    otherwise."""
    value = params.get(name, "")
    if not isinstance(value, str) or len(value) > limit:
        raise RequestError("invalid", f"{name} must be text of at most {limit} characters")
    return value
