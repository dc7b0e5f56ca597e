"""The console's one refusal (an HTTP status, a machine code, a message, per-field messages),
and how netd's refusals and absence, and a refused account change, become one."""

from __future__ import annotations

from netctl.protocol import ApiError
from portal.admin.accounts import AccountError

# netd's refusal codes as HTTP statuses; anything else from netd is a 502.
NETD_STATUS = {
    "invalid": 422, "invalid-config": 422, "invalid-list": 422, "unknown-client": 404,
    "conflict": 409, "pending": 409, "not-pending": 409, "forbidden": 403, "no-config": 409,
    "kernel-refused": 422, "unavailable": 503,
}  # fmt: skip


class ApiRefused(Exception):
    """A request the console refuses: HTTP `status`, a machine code, and per-field messages.
    Raised anywhere in a request; the API answers it as JSON, a page as a page."""

    def __init__(
        self, status: int, code: str, message: str, fields: dict[str, str] | None = None
    ) -> None:
        self.status = status
        self.code = code
        self.fields = fields or {}
        super().__init__(message)


def from_account(exc: AccountError) -> ApiRefused:
    """A refused account change (422), naming the field at fault."""
    return ApiRefused(422, "invalid", str(exc), {exc.field: str(exc)})


def from_netd(exc: ApiError | OSError) -> ApiRefused:
    """netd's refusal (its code and message), or its absence (503)."""
    if isinstance(exc, ApiError):
        return ApiRefused(NETD_STATUS.get(exc.code, 502), exc.code, str(exc))
    return ApiRefused(503, "netd-unreachable", f"netd is not answering: {exc}")
