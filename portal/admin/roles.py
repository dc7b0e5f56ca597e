"""Who may do what in the console (pure).

admin: everything. operator: the day's work on clients, sessions, vouchers and alerts.
reviewer: read-only dashboards and reports (Kominfo reviewers, leadership).
"""

from __future__ import annotations

from typing import Literal

Role = Literal["admin", "operator", "reviewer"]
ROLES: tuple[Role, ...] = ("admin", "operator", "reviewer")
Capability = Literal["view", "operate", "configure", "users", "audit"]

GRANTS: dict[Role, frozenset[Capability]] = {
    "admin": frozenset({"view", "operate", "configure", "users", "audit"}),
    "operator": frozenset({"view", "operate"}),
    "reviewer": frozenset({"view"}),
}
ROLE_NAMES: dict[Role, tuple[str, str]] = {
    "admin": ("Admin", "Admin"),
    "operator": ("Operator", "Operator"),
    "reviewer": ("Peninjau", "Reviewer"),
}


def may(role: str, capability: Capability) -> bool:
    """Whether `role` has `capability` (an unknown role has none)."""
    return capability in GRANTS.get(role, frozenset())  # type: ignore[call-overload]
