"""Which files the portal serves from its media directory, and as what (pure)."""

from __future__ import annotations

import re

# The same rule as simpul.config.model's Video.file / Video.poster.
MEDIA_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}\.(mp4|webm|jpg|jpeg|png|webp)$")

MIME_TYPES: dict[str, str] = {
    "mp4": "video/mp4",
    "webm": "video/webm",
    "jpg": "image/jpeg",
    "jpeg": "image/jpeg",
    "png": "image/png",
    "webp": "image/webp",
}


def media_type(name: str) -> str | None:
    """The MIME type to serve `name` as, or None when the portal must not serve it."""
    match = MEDIA_NAME.fullmatch(name)
    return MIME_TYPES[match.group(1)] if match else None


def is_video(name: str) -> bool:
    """Whether `name` is a video the page streams (not counted in the page's weight)."""
    return (media_type(name) or "").startswith("video/")
