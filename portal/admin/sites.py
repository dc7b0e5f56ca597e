"""Hotspot sites and the captive portal's content: each site's name, place, bandwidth and access
rules; the portal's texts and settings; the welcome-video playlist and video uploads. Every edit
goes into the signed-in admin's draft (see `changes`); uploaded files go straight into the media
directory, so they are there when the draft is applied.

Adding or removing a site (its subnet, interface and VLAN) is not done here: that is network
planning, made in the configuration file.
"""

from __future__ import annotations

import os
import secrets
import shutil
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import IO, Annotated, Any, get_args

from flask import Blueprint, abort, flash, render_template, request
from flask.typing import ResponseReturnValue
from pydantic import BaseModel, ConfigDict, create_model
from werkzeug.datastructures import FileStorage, MultiDict

from portal.admin.api import ApiRefused, api
from portal.admin.drafts import (
    current_draft,
    edit_draft,
    find,
    invalid,
    object_errors,
    parse_change,
    refuse_invalid,
    saved_to_draft,
)
from portal.admin.i18n import tr
from portal.admin.media_upload import (
    HEAD_BYTES,
    POSTER,
    VIDEO,
    MediaKind,
    UploadRefused,
    inspect_upload,
    media_name,
    media_stem,
)
from portal.admin.session import requires, runtime
from simpul.config.model import Access, HotspotSite, Portal, Video

bp = Blueprint("sites", __name__)

SITE_FIELDS = ("name", "kecamatan", "region_code", "location", "bandwidth", "access")
# What an admin edits of `portal`; the OTP gateway and RADIUS server (and their secrets) are
# left as they are.
LIST_SETTINGS = ("walled_garden", "walled_garden_names", "mac_allow", "mac_block")
PORTAL_SETTINGS = ("hostname", "address", "http_port", "https_port", "news_url",
                   "video_seconds", *LIST_SETTINGS)  # fmt: skip
# The Literal inside Access.methods' list type.
ACCESS_METHODS: tuple[str, ...] = get_args(get_args(Access.model_fields["methods"].annotation)[0])
COPY_CHUNK = 1024 * 1024


def _required_fields(model: type[BaseModel], names: Iterable[str]) -> dict[str, Any]:
    """`model`'s fields `names` with their types and constraints, each required (for a body
    that must give them all)."""
    fields: dict[str, Any] = {}
    for name in names:
        info = model.model_fields[name]
        annotation = (
            Annotated[(info.annotation, *info.metadata)] if info.metadata else info.annotation
        )
        fields[name] = (annotation, ...)
    return fields


_FORBID = ConfigDict(extra="forbid")
SiteEdit: type[BaseModel] = create_model(
    "SiteEdit",
    __config__=_FORBID,
    __doc__="A hotspot site's editable fields (its subnet and interface are not).",
    **_required_fields(HotspotSite, SITE_FIELDS),
)
PortalSettings: type[BaseModel] = create_model(
    "PortalSettings",
    __config__=_FORBID,
    __doc__="The captive portal's texts and settings.",
    **_required_fields(Portal, PORTAL_SETTINGS),
)
PortalEdit: type[BaseModel] = create_model(
    "PortalEdit",
    __base__=PortalSettings,
    __doc__="The portal's texts and settings, and its playlist (latest first). The playlist "
    "may be reordered, retitled and shortened, and a poster dropped (null); new videos come "
    "by upload.",
    **_required_fields(Portal, ("videos",)),
)
UploadFields: type[BaseModel] = create_model(
    "VideoUploadFields", __config__=_FORBID, **_required_fields(Video, ("title",))
)


# -- sites -------------------------------------------------------------------------------------


def site_view(site: dict[str, Any]) -> dict[str, Any]:
    """A site's data with its access rules' defaults filled in (a draft may leave them out)."""
    access = Access().model_dump(mode="json") | (site.get("access") or {})
    return {**site, "bandwidth": site.get("bandwidth"), "access": access}


def site_of(document: dict[str, Any], slug: str) -> dict[str, Any]:
    """The site `slug` in `document` (the object itself), or a 404 refusal."""
    site = find(document.get("hotspot_sites") or [], "slug", slug)
    if site is None:
        raise ApiRefused(
            404,
            "not-found",
            tr("Tidak ada lokasi hotspot “{s}”.", "There is no hotspot site “{s}”.", s=slug),
        )
    return site


def list_sites() -> list[dict[str, Any]]:
    """The hotspot sites of the draft (or of the running configuration without one)."""
    return [site_view(site) for site in current_draft().document.get("hotspot_sites") or []]


def update_site(slug: str, edit: BaseModel) -> dict[str, Any]:
    """Put `edit` (a SiteEdit) into the draft's site `slug`; the whole site must stay valid."""
    fields = edit.model_dump(mode="json")

    def mutate(document: dict[str, Any]) -> None:
        site = site_of(document, slug)
        site.update(fields)
        refuse_invalid(object_errors(HotspotSite, site))

    return site_view(site_of(edit_draft(mutate).document, slug))


def site_form_values(site: dict[str, Any]) -> dict[str, Any]:
    """A site as the edit form's values (named by the fields' paths)."""
    bandwidth = site.get("bandwidth") or {}
    access = site["access"]
    values: dict[str, Any] = {
        "name": site.get("name", ""),
        "kecamatan": site.get("kecamatan", ""),
        "region_code": site.get("region_code", ""),
        "location.lat": (site.get("location") or {}).get("lat", ""),
        "location.lon": (site.get("location") or {}).get("lon", ""),
        "bandwidth.down_mbps": bandwidth.get("down_mbps", ""),
        "bandwidth.up_mbps": bandwidth.get("up_mbps", ""),
    }
    values |= {f"access.{key}": "" if value is None else value for key, value in access.items()}
    return values


def _typed(form: MultiDict[str, str], names: Iterable[str]) -> dict[str, Any]:
    values: dict[str, Any] = {name: form.get(name, "").strip() for name in names}
    values["access.methods"] = form.getlist("access.methods")
    return values


def site_form_data(values: dict[str, Any]) -> dict[str, Any]:
    """The edit form's values as a SiteEdit body (blank optional numbers are none; a decimal
    comma is a point)."""

    def optional(name: str) -> Any:
        return values.get(name) or None

    def decimal(name: str) -> str:  # Indonesian writes a decimal comma
        return str(values[name]).replace(",", ".")

    bandwidth = None
    if values.get("bandwidth.down_mbps") or values.get("bandwidth.up_mbps"):
        bandwidth = {
            "down_mbps": decimal("bandwidth.down_mbps"),
            "up_mbps": decimal("bandwidth.up_mbps"),
        }
    return {
        "name": values["name"],
        "kecamatan": values["kecamatan"],
        "region_code": values["region_code"],
        "location": {"lat": decimal("location.lat"), "lon": decimal("location.lon")},
        "bandwidth": bandwidth,
        "access": {
            "methods": values["access.methods"],
            "session_minutes": values["access.session_minutes"],
            "idle_minutes": values["access.idle_minutes"],
            "daily_minutes": optional("access.daily_minutes"),
            "client_down_kbps": optional("access.client_down_kbps"),
            "client_up_kbps": optional("access.client_up_kbps"),
            "quota_mb": optional("access.quota_mb"),
            "throttle_kbps": values["access.throttle_kbps"],
        },
    }


SITE_FORM_FIELDS = (
    "name", "kecamatan", "region_code", "location.lat", "location.lon", "bandwidth.down_mbps",
    "bandwidth.up_mbps", "access.methods", "access.session_minutes", "access.idle_minutes",
    "access.daily_minutes", "access.client_down_kbps", "access.client_up_kbps",
    "access.quota_mb", "access.throttle_kbps",
)  # fmt: skip


def place_errors(errors: dict[str, str], names: Iterable[str]) -> tuple[dict[str, str], list[str]]:
    """Per-field problems placed at the form's fields (a list item's problem at its list, with
    its line number), and those no field shows."""
    names = sorted(names, key=len, reverse=True)
    placed: dict[str, str] = {}
    others: list[str] = []
    for path, message in errors.items():
        name = next((n for n in names if path == n or path.startswith(n + ".")), None)
        if name is None:
            others.append(f"{path}: {message}")
            continue
        rest = path[len(name) + 1 :].split(".")[0]
        if rest.isdigit():
            message = tr("baris {n}: {m}", "line {n}: {m}", n=int(rest) + 1, m=message)
        placed[name] = f"{placed[name]}; {message}" if name in placed else message
    return placed, others


@bp.route("/lokasi")
@requires("configure")
def index() -> ResponseReturnValue:
    """The hotspot sites and their access rules."""
    try:
        sites = list_sites()
    except ApiRefused as exc:
        flash(str(exc), "error")
        sites = []
    return render_template("admin/sites/index.html", sites=sites)


def _form_page(
    template: str,
    fields: Iterable[str],
    errors: dict[str, str] | None,
    message: str | None,
    status: int,
    **context: Any,
) -> ResponseReturnValue:
    """A form page with `errors` placed at its `fields` (and those no field shows, apart)."""
    placed, others = place_errors(errors or {}, fields)
    return render_template(
        template, errors=placed, other_errors=others, message=message, **context
    ), status


def _site_page(
    slug: str,
    values: dict[str, Any],
    errors: dict[str, str],
    message: str | None = None,
    status: int = 200,
) -> ResponseReturnValue:
    return _form_page("admin/sites/site.html", SITE_FORM_FIELDS, errors, message, status,
                      slug=slug, values=values, methods=ACCESS_METHODS)  # fmt: skip


@bp.route("/lokasi/<slug>", methods=["GET", "POST"])
@requires("configure")
def site(slug: str) -> ResponseReturnValue:
    """One site's edit form; saving puts it into the draft."""
    if request.method == "GET":
        try:
            found = site_view(site_of(current_draft().document, slug))
        except ApiRefused as exc:
            abort(exc.status, str(exc))
        return _site_page(slug, site_form_values(found), {})
    values = _typed(request.form, SITE_FORM_FIELDS)
    try:
        update_site(slug, parse_change(SiteEdit, site_form_data(values)))
    except ApiRefused as exc:
        if exc.status == 404:
            abort(404, str(exc))
        return _site_page(slug, values, exc.fields, str(exc), exc.status)
    return saved_to_draft(".index")


# -- portal: texts, settings, playlist --------------------------------------------------------


def video_view(video: dict[str, Any]) -> dict[str, Any]:
    """A playlist entry with all its keys (a draft put whole through the API may lack some)."""
    return {"file": video.get("file", ""), "poster": video.get("poster"),
            "title": video.get("title", "")}  # fmt: skip


def portal_view(document: dict[str, Any]) -> dict[str, Any]:
    """The portal's editable settings and playlist in `document` (defaults filled in)."""
    portal = Portal().model_dump(mode="json") | (document.get("portal") or {})
    view = {name: portal[name] for name in PORTAL_SETTINGS}
    view["videos"] = [video_view(video) for video in portal["videos"]]
    return view


def edit_portal(change: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    """Apply `change` to the draft's `portal` section; it must stay a valid Portal."""

    def mutate(document: dict[str, Any]) -> None:
        portal = document.setdefault("portal", {})
        change(portal)
        refuse_invalid(object_errors(Portal, portal))

    return portal_view(edit_draft(mutate).document)


def replaced_playlist(
    current: list[dict[str, Any]], wanted: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """The playlist `wanted`: only videos already in `current`, each once, with the poster it
    has or none (files come only by upload), or the refusal naming each bad entry."""
    have = {entry["file"]: entry for entry in map(video_view, current)}
    problems: dict[str, str] = {}
    seen: set[str] = set()
    for i, video in enumerate(wanted):
        known = have.get(video["file"])
        if known is None:
            problems[f"videos.{i}.file"] = tr(
                "tidak ada di daftar putar; unggah dulu", "not in the playlist; upload it first"
            )
        elif video["file"] in seen:
            problems[f"videos.{i}.file"] = tr("tercantum dua kali", "listed twice")
        elif video.get("poster") not in (None, known["poster"]):
            problems[f"videos.{i}.poster"] = tr(
                "poster datang lewat unggahan; beri poster yang ada atau null",
                "posters come by upload; give the current one or null",
            )
        seen.add(video["file"])
    if problems:
        raise invalid(problems)
    return [video_view(video) for video in wanted]


def update_portal(
    settings: dict[str, Any] | None, videos: list[dict[str, Any]] | None
) -> dict[str, Any]:
    """Put the portal's settings and/or its new playlist into the draft."""

    def change(portal: dict[str, Any]) -> None:
        if settings is not None:
            portal.update(settings)
        if videos is not None:
            portal["videos"] = replaced_playlist(portal.get("videos") or [], videos)

    return edit_portal(change)


def playlist() -> list[dict[str, Any]]:
    """The draft's playlist (or the running one)."""
    return portal_view(current_draft().document)["videos"]


def remove_video(name: str) -> dict[str, Any]:
    """Take the video `name` off the draft's playlist. Its file stays in the media directory:
    the running portal may still play it until the draft is applied."""
    videos = playlist()
    if all(video["file"] != name for video in videos):
        raise ApiRefused(
            404,
            "not-found",
            tr("Video “{f}” tidak ada di daftar putar.", "No video “{f}” in the playlist.", f=name),
        )
    return update_portal(None, [video for video in videos if video["file"] != name])


def moved(videos: list[dict[str, Any]], name: str, step: int) -> list[dict[str, Any]]:
    """The playlist with `name` moved `step` places (-1: earlier), kept within the list."""
    order = list(videos)
    here = next(i for i, video in enumerate(order) if video["file"] == name)
    there = min(max(here + step, 0), len(order) - 1)
    order.insert(there, order.pop(here))
    return order


def retitled(videos: list[dict[str, Any]], name: str, title: str) -> list[dict[str, Any]]:
    """The playlist with `name` titled `title` (trimmed, as the model keeps titles)."""
    title = title.strip()
    return [video | {"title": title} if video["file"] == name else video for video in videos]


def portal_form_values(view: dict[str, Any]) -> dict[str, Any]:
    """The portal's settings as the form's values (lists one item per line)."""
    values = {name: "" if view[name] is None else view[name] for name in PORTAL_SETTINGS}
    values |= {name: "\n".join(view[name]) for name in LIST_SETTINGS}
    return values


def portal_form_data(values: dict[str, Any]) -> dict[str, Any]:
    """The settings form's values as a PortalSettings body."""
    data = {name: values[name] for name in PORTAL_SETTINGS}
    data["address"] = values["address"] or None
    data |= {name: values[name].split() for name in LIST_SETTINGS}
    return data


def _portal_page(
    values: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    message: str | None = None,
    status: int = 200,
    video_errors: dict[str, str] | None = None,
) -> ResponseReturnValue:
    try:
        view = portal_view(current_draft().document)
    except ApiRefused as exc:
        abort(exc.status, str(exc))
    return _form_page("admin/sites/portal.html", PORTAL_SETTINGS, errors, message, status,
                      values=values or portal_form_values(view), videos=view["videos"],
                      video_errors=video_errors or {})  # fmt: skip


@bp.route("/lokasi/portal", methods=["GET", "POST"])
@requires("configure")
def portal() -> ResponseReturnValue:
    """The portal's texts and settings, and its playlist."""
    if request.method == "GET":
        return _portal_page()
    values = {name: request.form.get(name, "").strip() for name in PORTAL_SETTINGS}
    try:
        settings = parse_change(PortalSettings, portal_form_data(values)).model_dump(mode="json")
        update_portal(settings, None)
    except ApiRefused as exc:
        return _portal_page(values, exc.fields, str(exc), exc.status)
    return saved_to_draft(".portal")


@bp.route("/lokasi/portal/video/<name>", methods=["POST"])
@requires("configure")
def playlist_entry(name: str) -> ResponseReturnValue:
    """Move a video up or down, retitle it, or take it off the playlist."""
    action = request.form.get("action", "")
    videos = playlist()
    if all(video["file"] != name for video in videos):
        abort(404)
    try:
        if action == "remove":
            remove_video(name)
        elif action in ("up", "down"):
            update_portal(None, moved(videos, name, -1 if action == "up" else 1))
        elif action == "title":
            update_portal(None, retitled(videos, name, request.form.get("title", "")))
        else:
            abort(400)
    except ApiRefused as exc:
        problems = "; ".join(exc.fields.values()) or str(exc)
        return _portal_page(message=str(exc), status=exc.status, video_errors={name: problems})
    return saved_to_draft(".portal")


# -- video upload ------------------------------------------------------------------------------


def _measured(upload: FileStorage) -> tuple[bytes, int]:
    """The upload's first bytes and its size (werkzeug keeps uploads in seekable files)."""
    stream = upload.stream
    size = stream.seek(0, os.SEEK_END)
    stream.seek(0)
    head = stream.read(HEAD_BYTES)
    stream.seek(0)
    return head, size


def _inspect(
    uploads: dict[str, tuple[MediaKind, FileStorage]],
) -> tuple[dict[str, str], dict[str, str], set[str]]:
    """Each upload's extension, or its problem (and the problems' codes)."""
    extensions: dict[str, str] = {}
    problems: dict[str, str] = {}
    codes: set[str] = set()
    for field, (kind, upload) in uploads.items():
        head, size = _measured(upload)
        try:
            extensions[field] = inspect_upload(kind, (upload.filename or "")[:100], head, size)
        except UploadRefused as exc:
            problems[field] = tr(exc.indonesian, exc.english)
            codes.add(exc.code)
    return extensions, problems, codes


def store_media(media_dir: Path, name: str, stream: IO[bytes]) -> None:
    """Write `stream` to `media_dir/name` atomically: a hidden temporary file first (the portal
    serves no name that starts with a dot), readable by the portal, then renamed."""
    handle, temporary = tempfile.mkstemp(dir=media_dir, prefix=".upload-")
    try:
        with os.fdopen(handle, "wb") as out:
            stream.seek(0)
            shutil.copyfileobj(stream, out, COPY_CHUNK)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(temporary, 0o644)
        os.replace(temporary, media_dir / name)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _free_token(media_dir: Path, stem: str, extensions: Iterable[str]) -> str:
    while True:
        token = secrets.token_hex(4)
        if not any((media_dir / media_name(stem, token, ext)).exists() for ext in extensions):
            return token


def upload_video(
    title: str, video: FileStorage | None, poster: FileStorage | None
) -> dict[str, Any]:
    """Keep an uploaded video (and its optional poster) in the media directory and put it first
    in the draft's playlist. Refused (nothing written) when the title is bad, a file is empty,
    is not what it should be by its first bytes (MP4/WebM; PNG/JPEG/WebP), or is too large."""
    problems = object_errors(UploadFields, {"title": title})
    uploads: dict[str, tuple[MediaKind, FileStorage]] = {}
    if video is not None and video.filename:
        uploads["file"] = (VIDEO, video)
    else:
        problems["file"] = tr("Pilih berkas video.", "Choose a video file.")
    if poster is not None and poster.filename:
        uploads["poster"] = (POSTER, poster)
    extensions, refused, codes = _inspect(uploads)
    problems |= refused
    if problems:
        only_size = codes == {"too-large"} and problems.keys() == refused.keys()
        raise ApiRefused(
            413 if only_size else 422,
            "too-large" if only_size else "invalid",
            tr(
                "Unggahan ditolak; tidak ada yang disimpan.",
                "The upload was refused; nothing was kept.",
            ),
            problems,
        )
    media_dir = runtime().settings.media_dir
    stem = media_stem(title)
    token = _free_token(media_dir, stem, extensions.values())
    names = {field: media_name(stem, token, ext) for field, ext in extensions.items()}
    entry = {"file": names["file"], "poster": names.get("poster"), "title": title.strip()}
    written: list[str] = []
    try:
        for field, (_kind, upload) in uploads.items():
            store_media(media_dir, names[field], upload.stream)
            written.append(names[field])
        view = edit_portal(lambda portal: portal.setdefault("videos", []).insert(0, entry))
    except (ApiRefused, OSError) as exc:
        for name in written:
            (media_dir / name).unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise ApiRefused(
                500,
                "media-unwritable",
                tr(
                    "Berkas tidak bisa disimpan di direktori media: {e}",
                    "Could not write the file to the media directory: {e}",
                    e=exc.strerror or exc,
                ),
            ) from exc
        raise
    return {"video": entry, "videos": view["videos"]}


def _upload_page(
    title: str = "",
    errors: dict[str, str] | None = None,
    message: str | None = None,
    status: int = 200,
) -> ResponseReturnValue:
    return _form_page("admin/sites/upload.html", ("title", "file", "poster"), errors, message,
                      status, title_value=title, video=VIDEO, poster=POSTER)  # fmt: skip


@bp.route("/lokasi/video", methods=["GET", "POST"])
@requires("configure")
def upload() -> ResponseReturnValue:
    """Upload a welcome video (and a poster); it goes first in the draft's playlist."""
    if request.method == "GET":
        return _upload_page()
    title = request.form.get("title", "")
    try:
        upload_video(title, request.files.get("file"), request.files.get("poster"))
    except ApiRefused as exc:
        return _upload_page(title, exc.fields, str(exc), exc.status)
    return saved_to_draft(".portal")


# -- API ---------------------------------------------------------------------------------------

OBJECT = {"type": "object"}
PORTAL_SCHEMA = {
    "type": "object",
    "properties": {
        **{name: {} for name in PORTAL_SETTINGS},
        "videos": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "file": {"type": "string"},
                    "poster": {"type": ["string", "null"]},
                    "title": {"type": "string"},
                },
            },
        },
    },
}


@api(
    bp,
    "/sites",
    capability="configure",
    summary="The hotspot sites (the draft's, if any)",
    response={"type": "array", "items": OBJECT},
)
def get_sites() -> list[dict[str, Any]]:
    return list_sites()


@api(
    bp,
    "/sites/<slug>",
    method="PUT",
    capability="configure",
    body=SiteEdit,
    summary="Change a hotspot site's name, place, bandwidth and access rules in the draft",
    response=OBJECT,
)
def put_site(slug: str, body: BaseModel) -> dict[str, Any]:
    return update_site(slug, body)


@api(
    bp,
    "/portal",
    capability="configure",
    response=PORTAL_SCHEMA,
    summary="The captive portal's texts, settings and playlist (the draft's, if any)",
)
def get_portal() -> dict[str, Any]:
    return portal_view(current_draft().document)


@api(
    bp,
    "/portal",
    method="PUT",
    capability="configure",
    body=PortalEdit,
    response=PORTAL_SCHEMA,
    summary="Change the portal's texts and settings and its playlist's order and titles",
)
def put_portal(body: BaseModel) -> dict[str, Any]:
    data = body.model_dump(mode="json")
    videos = data.pop("videos")
    return update_portal(data, videos)


@api(
    bp,
    "/portal/videos",
    method="POST",
    capability="configure",
    form=UploadFields,
    files={"file": True, "poster": False},
    status=201,
    response=OBJECT,
    summary="Upload a welcome video (MP4/WebM) and an optional poster (PNG/JPEG/WebP); it goes "
    "first in the draft's playlist",
)
def post_video(form: BaseModel) -> dict[str, Any]:
    return upload_video(form.title, request.files.get("file"), request.files.get("poster"))


@api(
    bp,
    "/portal/videos/<name>",
    method="DELETE",
    capability="configure",
    response=PORTAL_SCHEMA,
    summary="Take a video off the draft's playlist",
)
def delete_video(name: str) -> dict[str, Any]:
    return remove_video(name)
