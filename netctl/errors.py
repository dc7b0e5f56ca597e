"""The error netd's API methods raise for a request they refuse."""

from __future__ import annotations


class RequestError(Exception):
    """A request netd refuses; `code` is machine-readable."""

    def __init__(self, code: str, message: str) -> None:
        self.code = code
        super().__init__(message)
