"""Judging uploaded videos and posters by their first bytes, and the names they are kept under."""

from __future__ import annotations

import re
import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from portal.admin.media_upload import (
    POSTER,
    POSTER_MAX_BYTES,
    VIDEO,
    VIDEO_MAX_BYTES,
    UploadRefused,
    describe,
    ebml_doctype,
    inspect_upload,
    media_name,
    media_stem,
    sniff_image,
    sniff_video,
)
from portal.captive.media import media_type
from simpul.config.model import Video


def mp4_head(brand: bytes = b"isom") -> bytes:
    """An ftyp box as ffmpeg writes it, then the start of an mdat box."""
    ftyp = b"ftyp" + brand + struct.pack(">I", 0x200) + b"isomiso2avc1mp41"
    return struct.pack(">I", len(ftyp) + 4) + ftyp + struct.pack(">I", 8) + b"mdat"


def ebml_head(doctype: bytes) -> bytes:
    """An EBML header as ffmpeg/libwebm write it, then a Segment's ID."""
    body = (
        b"\x42\x86\x81\x01"  # EBMLVersion 1
        b"\x42\xf7\x81\x01"  # EBMLReadVersion 1
        b"\x42\xf2\x81\x04"  # EBMLMaxIDLength 4
        b"\x42\xf3\x81\x08"  # EBMLMaxSizeLength 8
        + b"\x42\x82"
        + bytes([0x80 | len(doctype)])
        + doctype
        + b"\x42\x87\x81\x04"  # DocTypeVersion 4
        b"\x42\x85\x81\x02"  # DocTypeReadVersion 2
    )
    return b"\x1a\x45\xdf\xa3" + bytes([0x80 | len(body)]) + body + b"\x18\x53\x80\x67"


WEBM = ebml_head(b"webm")
MKV = ebml_head(b"matroska")
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00"
WEBP = b"RIFF\x24\x00\x00\x00WEBPVP8 "


def test_videos_are_known_by_their_first_bytes() -> None:
    assert sniff_video(mp4_head()) == "mp4"
    assert sniff_video(mp4_head(b"mp42")) == "mp4"
    assert sniff_video(WEBM) == "webm"
    assert ebml_doctype(WEBM) == "webm"
    # Matroska is EBML too, but the portal serves only WebM; a HEIC photo is ISO BMFF.
    assert ebml_doctype(MKV) == "matroska"
    assert sniff_video(MKV) is None
    assert sniff_video(mp4_head(b"heic")) is None
    assert sniff_video(b"hello world, this is not a video\n") is None
    assert sniff_video(PNG) is None
    assert sniff_video(b"") is None
    # The magic alone, or a header cut short, is not enough.
    assert sniff_video(b"\x1a\x45\xdf\xa3") is None
    assert sniff_video(WEBM[:20]) is None
    assert sniff_video(b"\x00\x00\x00\x20ftyp") is None


def test_images_are_known_by_their_first_bytes() -> None:
    assert sniff_image(PNG) == "png"
    assert sniff_image(JPEG) == "jpg"
    assert sniff_image(WEBP) == "webp"
    assert sniff_image(b"GIF89a\x01\x00") is None
    assert sniff_image(b"RIFF\x24\x00\x00\x00AVI LIST") is None
    assert sniff_image(mp4_head()) is None


@given(st.binary(max_size=200))
def test_sniffing_any_bytes_never_fails(head: bytes) -> None:
    assert sniff_video(head) in (None, "mp4", "webm")
    assert sniff_image(head) in (None, "png", "jpg", "webp")
    indonesian, english = describe(head)
    assert indonesian and english


@pytest.mark.parametrize(
    ("head", "english"),
    [
        (b"just some notes\nin a text file\n", "plain text"),
        (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3", "PDF file"),
        (MKV, "Matroska (MKV) file"),
        (mp4_head(b"heic"), "HEIF/AVIF file"),
        (PNG, "PNG image"),
        (WEBM, "WEBM video"),
        (b"MZ\x90\x00\x03\x00\x00\x00\x04", "unknown data (starting 4d 5a 90 00 03 00 00 00)"),
    ],
)
def test_describe_names_what_was_received(head: bytes, english: str) -> None:
    assert describe(head)[1] == english


def test_a_text_file_named_mp4_is_refused_naming_what_it_holds() -> None:
    with pytest.raises(UploadRefused) as refused:
        inspect_upload(VIDEO, "video.mp4", b"hello\n", 6)
    assert refused.value.code == "wrong-type"
    assert "bukan video MP4/WebM" in refused.value.indonesian
    assert "video.mp4" in refused.value.indonesian and "teks biasa" in refused.value.indonesian
    assert "is not a video (MP4/WebM)" in refused.value.english
    assert "plain text" in refused.value.english


def test_empty_and_oversize_uploads_are_refused() -> None:
    with pytest.raises(UploadRefused) as refused:
        inspect_upload(VIDEO, "kosong.mp4", b"", 0)
    assert refused.value.code == "empty"
    assert inspect_upload(VIDEO, "ok.mp4", mp4_head(), VIDEO_MAX_BYTES) == "mp4"
    with pytest.raises(UploadRefused) as refused:
        inspect_upload(VIDEO, "besar.webm", WEBM, VIDEO_MAX_BYTES + 1)
    assert refused.value.code == "too-large"
    assert "100 MB" in refused.value.english
    assert inspect_upload(POSTER, "p.webp", WEBP, POSTER_MAX_BYTES) == "webp"
    with pytest.raises(UploadRefused) as refused:
        inspect_upload(POSTER, "p.png", PNG, POSTER_MAX_BYTES + 1)
    assert refused.value.code == "too-large"
    with pytest.raises(UploadRefused) as refused:
        inspect_upload(POSTER, "poster.jpg", mp4_head(), 1000)
    assert "bukan gambar PNG/JPEG/WebP" in refused.value.indonesian
    assert "MP4 video" in refused.value.english


@pytest.mark.parametrize(
    ("title", "stem"),
    [
        ("Info Kabupaten Kepulauan Meranti", "info-kabupaten-kepulauan-meranti"),
        ("  Sejarah Sélatpanjang (2024)! ", "sejarah-selatpanjang-2024"),
        ("Ṣalāt — jadwal", "salat-jadwal"),
        ("!!!", "video"),
        ("日本語", "video"),
        ("a" * 39 + "-b" + "c" * 30, "a" * 39),
    ],
)
def test_stems_come_from_titles(title: str, stem: str) -> None:
    assert media_stem(title) == stem


@given(st.text(max_size=200), st.sampled_from(["mp4", "webm", "png", "jpg", "webp"]))
def test_stored_names_are_what_the_model_takes_and_the_portal_serves(title: str, ext: str) -> None:
    name = media_name(media_stem(title), "0a1b2c3d", ext)
    assert re.fullmatch(r"[a-z0-9-]+\.[a-z0-9]+", name)
    assert media_type(name) is not None
    if ext in ("mp4", "webm"):
        Video(file=name, title="t")
    else:
        Video(file="v.mp4", poster=name, title="t")
