"""Numbers as citizens read them (pure)."""

from __future__ import annotations


def hours_minutes(seconds: int) -> str:
    """`h:mm` for a duration in seconds (whole minutes, rounded down; never negative)."""
    minutes = max(0, int(seconds)) // 60
    return f"{minutes // 60}:{minutes % 60:02d}"


def megabytes(count: int, lang: str) -> str:
    """Bytes as MB (10^6) with one decimal; Indonesian uses a decimal comma."""
    text = f"{max(0, count) / 1_000_000:.1f}"
    return text.replace(".", ",") if lang == "id" else text
