"""What an uploaded welcome video or poster is, judged by its first bytes (never by its name or
the browser's Content-Type), whether it may be kept, and the name it is kept under (pure).

The names made here match `Video.file` / `Video.poster` in simpul.config.model and the captive
portal's `portal.captive.media.MEDIA_NAME`, so the portal serves what the console stores.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass

from portal.admin.formatting import size as size_text
from portal.app import DEFAULTS as PORTAL_DEFAULTS

# Enough of a file's start for every check below (a WebM's EBML header is ~40 bytes).
HEAD_BYTES = 4096
VIDEO_MAX_BYTES = 100_000_000  # 100 MB; the console takes bodies up to 200 MB
# The captive portal leaves out a larger poster (its page-weight budget), so refuse it here.
POSTER_MAX_BYTES: int = PORTAL_DEFAULTS["POSTER_MAX_BYTES"]
STEM_MAX = 40

EBML_MAGIC = b"\x1a\x45\xdf\xa3"
EBML_DOCTYPE = b"\x42\x82"
# ISO BMFF brands of still images (HEIC/AVIF photos): an 'ftyp' box, but not a video.
IMAGE_BRANDS = frozenset(
    {b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"mif1", b"msf1", b"avif", b"avis"}
)


class UploadRefused(ValueError):
    """An upload that is not kept: a machine `code` (empty, wrong-type, too-large) and the
    reason in Indonesian and English."""

    def __init__(self, code: str, indonesian: str, english: str) -> None:
        self.code = code
        self.indonesian = indonesian
        self.english = english
        super().__init__(english)


@dataclass(frozen=True)
class MediaKind:
    """One kind of upload: what it must be, how big it may be, and how to recognise it."""

    noun: tuple[str, str]  # (Indonesian, English)
    formats: str
    max_bytes: int
    sniff: Callable[[bytes], str | None]


def _vint_length(first: int) -> int:
    """Bytes in an EBML variable-size integer, from its first byte (0: invalid)."""
    return 9 - first.bit_length() if first else 0


def _vint(data: bytes, pos: int) -> tuple[int, int] | None:
    """The EBML size at `pos` (marker bit removed) and the position after it."""
    if pos >= len(data):
        return None
    length = _vint_length(data[pos])
    if length == 0 or pos + length > len(data):
        return None
    value = data[pos] & (0xFF >> length)
    for byte in data[pos + 1 : pos + length]:
        value = value << 8 | byte
    return value, pos + length


def ebml_doctype(head: bytes) -> str | None:
    """The DocType in an EBML header ('webm', 'matroska'), or None if `head` has none."""
    if not head.startswith(EBML_MAGIC):
        return None
    header = _vint(head, len(EBML_MAGIC))
    if header is None:
        return None
    size, pos = header
    end = min(len(head), pos + size)
    while pos < end:
        id_length = _vint_length(head[pos])
        element = head[pos : pos + id_length]
        sized = _vint(head, pos + id_length) if id_length else None
        if sized is None:
            return None
        length, pos = sized
        if element == EBML_DOCTYPE:
            return head[pos : pos + length].rstrip(b"\0").decode("ascii", "replace")
        pos += length
    return None


def _iso_bmff_brand(head: bytes) -> bytes | None:
    """The major brand of an ISO BMFF file ('ftyp' box first), or None."""
    return head[8:12] if len(head) >= 12 and head[4:8] == b"ftyp" else None


def sniff_video(head: bytes) -> str | None:
    """'mp4' or 'webm' when `head` starts a video of that container, else None."""
    brand = _iso_bmff_brand(head)
    if brand is not None and brand not in IMAGE_BRANDS:
        return "mp4"
    return "webm" if ebml_doctype(head) == "webm" else None


def sniff_image(head: bytes) -> str | None:
    """'png', 'jpg' or 'webp' when `head` starts an image of that format, else None."""
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head.startswith(b"\xff\xd8\xff"):
        return "jpg"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    return None


VIDEO = MediaKind(("video", "video"), "MP4/WebM", VIDEO_MAX_BYTES, sniff_video)
POSTER = MediaKind(("gambar", "image"), "PNG/JPEG/WebP", POSTER_MAX_BYTES, sniff_image)

_OTHER_FORMATS: tuple[tuple[Callable[[bytes], bool], str], ...] = (
    (lambda h: h.startswith(b"GIF8"), "GIF"),
    (lambda h: h.startswith(b"%PDF"), "PDF"),
    (lambda h: h.startswith(b"PK\x03\x04"), "ZIP/Office"),
    (lambda h: h[:4] == b"RIFF" and h[8:12] == b"AVI ", "AVI"),
    (lambda h: ebml_doctype(h) == "matroska", "Matroska (MKV)"),
    (lambda h: _iso_bmff_brand(h) in IMAGE_BRANDS, "HEIF/AVIF"),
)


def _is_text(head: bytes) -> bool:
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:  # perhaps cut inside a character: judge the rest
        text = head[:-3].decode("utf-8", "replace")
    return all(ch.isprintable() or ch in "\t\r\n" for ch in text)


def describe(head: bytes) -> tuple[str, str]:
    """What `head` looks like, for telling the uploader what they sent (Indonesian, English)."""
    video = sniff_video(head)
    if video:
        return f"video {video.upper()}", f"{video.upper()} video"
    image = sniff_image(head)
    if image:
        return f"gambar {image.upper()}", f"{image.upper()} image"
    for matches, name in _OTHER_FORMATS:
        if matches(head):
            return f"berkas {name}", f"{name} file"
    if _is_text(head):
        return "teks biasa", "plain text"
    first = head[:8].hex(" ")
    return f"data tak dikenal (awalnya {first})", f"unknown data (starting {first})"


def inspect_upload(kind: MediaKind, filename: str, head: bytes, size: int) -> str:
    """The extension to keep an upload of `size` bytes starting with `head` under, or
    UploadRefused when it is empty, not of `kind`, or too large."""
    noun_id, noun_en = kind.noun
    if size == 0:
        raise UploadRefused("empty", f"Berkas “{filename}” kosong.", f"“{filename}” is empty.")
    extension = kind.sniff(head)
    if extension is None:
        seen_id, seen_en = describe(head)
        raise UploadRefused(
            "wrong-type",
            f"Berkas “{filename}” bukan {noun_id} {kind.formats}; isinya: {seen_id}.",
            f"“{filename}” is not a {noun_en} ({kind.formats}); its content: {seen_en}.",
        )
    if size > kind.max_bytes:
        raise UploadRefused(
            "too-large",
            f"Berkas “{filename}” berukuran {size_text(size, 'id')}; batasnya "
            f"{size_text(kind.max_bytes, 'id')}.",
            f"“{filename}” is {size_text(size, 'en')}; the limit is "
            f"{size_text(kind.max_bytes, 'en')}.",
        )
    return extension


def media_stem(title: str) -> str:
    """A file-name stem from a video's title: ASCII letters, digits and hyphens ('video' when
    nothing is left)."""
    ascii_title = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode()
    stem = re.sub(r"[^a-z0-9]+", "-", ascii_title.lower()).strip("-")
    return stem[:STEM_MAX].rstrip("-") or "video"


def media_name(stem: str, token: str, extension: str) -> str:
    """The stored name: the stem, a random `token` (hex) against collisions, the extension."""
    return f"{stem}-{token}.{extension}"
