"""Block lists: the configured category lists as the DNS front end's loader reads them (names,
bad lines with their numbers), a list's entries searched page by page, and uploading a list file
into the draft.

Loading a national list (millions of names) takes seconds, so each list is kept loaded per
process and loaded again only when its file or settings change (the loader's own reuse rule).
A list's entries are never all on a page: the file is streamed through the loader's parser and
only the asked page is kept. Uploaded files go under the console's directory
(`<console.db's directory>/lists`), each under a new name, so the running configuration keeps
its file until the draft that names the new one is applied.
"""

from __future__ import annotations

import os
import secrets
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any, Literal

from flask import Blueprint, render_template, request
from flask.typing import ResponseReturnValue
from pydantic import BaseModel, Field
from werkzeug.datastructures import FileStorage

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
from portal.admin.session import requires, runtime, stored_config
from simpul.config import Config, ConfigError, parse_config
from simpul.config.model import Filtering, FilterList, Slug
from simpul.filtering.engine import LoadedList, list_path, load_lists
from simpul.filtering.lists import (
    FORMATS,
    MAX_BAD_SAMPLES,
    Kind,
    ListError,
    ListParser,
    ListReport,
    read_blocks,
)
from simpul.filtering.matcher import DomainSet

bp = Blueprint("lists", __name__)
UPLOAD_LIMIT_BYTES = 50 * 1024 * 1024
FORM_OVERHEAD_BYTES = 64 * 1024  # the multipart envelope and the other fields
PAGE_SIZE = 100
MAX_PAGE = 100_000
BAD_SHOWN = 5  # bad lines per list on the overview (the list's page shows all the loader kept)
ENTRY_MARK = {Kind.EXACT: "=", Kind.SUBTREE: "", Kind.SUBDOMAINS: "*."}

_loaded: dict[str, LoadedList] = {}  # the last load of each list name, in this process
_loading = threading.Lock()


# -- Loading (shared with the explain tool) ----------------------------------------------------


def loaded_list(config: Config, spec: FilterList) -> LoadedList:
    """`spec` of `config` loaded by the front end's loader; the process's earlier load while its
    file and settings are the same. ListError if the file cannot be read at all."""
    only = config.model_copy(
        update={"filtering": config.filtering.model_copy(update={"lists": [spec]})}
    )
    with _loading:
        loaded = load_lists(only, _loaded)[spec.name]
        _loaded[spec.name] = loaded
    return loaded


def loaded_lists(config: Config) -> dict[str, LoadedList]:
    """Every list of `config`, loaded (see `loaded_list`)."""
    return {spec.name: loaded_list(config, spec) for spec in config.filtering.lists}


def filtering_of(document: dict[str, Any]) -> dict[str, Any]:
    """A configuration document's `filtering` section with the defaults it leaves out (an
    absent `lists` means the shipped lists)."""
    return {**Filtering().model_dump(mode="json"), **(document.get("filtering") or {})}


def shown_config() -> tuple[Config, str | None]:
    """The user's draft parsed, or (with the reason) the running configuration when the draft
    is not valid as a whole."""
    try:
        return parse_config(current_draft().document), None
    except ConfigError as exc:
        return stored_config(), str(exc)


# -- The lists and their reports ---------------------------------------------------------------


def report_data(report: ListReport, bad_shown: int) -> dict[str, Any]:
    """A loader's report as JSON-able data, with at most `bad_shown` bad lines."""
    return {
        "format": report.format,
        "lines": report.lines,
        "entries": report.entries,
        "duplicates": report.duplicates,
        "ignored": report.ignored,
        "bad": report.bad,
        "bad_lines": [
            {"line": bad.number, "text": bad.text, "reason": bad.reason}
            for bad in report.bad_samples[:bad_shown]
        ],
    }


def list_row(config: Config, spec: FilterList, bad_shown: int = BAD_SHOWN) -> dict[str, Any]:
    """One configured list: its settings, and its loader report or why it cannot be read."""
    row: dict[str, Any] = {**spec.model_dump(mode="json"), "file": list_path(config, spec)}
    try:
        row["report"] = report_data(loaded_list(config, spec).report, bad_shown)
        row["error"] = None
    except ListError as exc:
        row["report"], row["error"] = None, str(exc)
    return row


def list_rows() -> tuple[list[dict[str, Any]], str | None]:
    """Every configured list with its report, and why the draft is not shown (if it is not)."""
    config, problem = shown_config()
    return [list_row(config, spec) for spec in config.filtering.lists], problem


def _spec(config: Config, name: str) -> FilterList:
    spec = next((item for item in config.filtering.lists if item.name == name), None)
    if spec is None:
        raise ApiRefused(
            404, "not-found", tr("Tidak ada daftar {name}.", "No list {name}.", name=name)
        )
    return spec


class EntryQuery(BaseModel):
    """A search in a list's entries."""

    model_config = {"extra": "forbid"}
    q: str = Field(default="", max_length=253, description="part of a name (case ignored)")
    page: int = Field(default=1, ge=1, le=MAX_PAGE)


def _default_kind(match: str) -> Kind:
    """What a plain name in a list covers, by the list's `match` setting."""
    return Kind.EXACT if match == "exact" else Kind.SUBTREE


def _entries(path: str, spec: FilterList, needle: str) -> Iterator[list[str]]:
    """The list file's entries containing `needle`, batch by batch, as the loader reads them
    ('=name': the name only, '*.name': strict subdomains, 'name': it and its subdomains)."""
    parser = ListParser(spec.format, default_kind=_default_kind(spec.match), source=path)
    for block in read_blocks(path):
        for names, batch_kind in parser.feed(block):
            found = [name for name in names if needle in name] if needle else names
            mark = ENTRY_MARK[batch_kind]
            yield [mark + name for name in found] if mark else found


def entries_page(config: Config, spec: FilterList, query: EntryQuery) -> dict[str, Any]:
    """One page of a list's entries containing `query.q`, read from its file in one pass that
    stops after the page (duplicates in the file show as often as they are written)."""
    path = list_path(config, spec)
    skip, page = (query.page - 1) * PAGE_SIZE, []
    try:
        for batch in _entries(path, spec, query.q.strip().lower()):
            if skip >= len(batch):
                skip -= len(batch)
                continue
            page += batch[skip : skip + PAGE_SIZE + 1 - len(page)]
            skip = 0
            if len(page) > PAGE_SIZE:
                break
    except ListError as exc:
        raise ApiRefused(409, "list-unreadable", str(exc)) from None
    return {
        "list": spec.name,
        "q": query.q,
        "page": query.page,
        "entries": page[:PAGE_SIZE],
        "more": len(page) > PAGE_SIZE,
    }


# -- Uploading ---------------------------------------------------------------------------------


class ListUpload(BaseModel):
    """What an uploaded list file is (sent as form fields beside the file)."""

    model_config = {"extra": "forbid"}
    name: Slug
    category: Slug
    format: Literal["auto", "plain", "hosts", "adblock", "dnsmasq", "rpz"] = "auto"
    match: Literal["subtree", "exact"] = "subtree"


def uploads_dir() -> Path:
    """Where uploaded lists are kept (the console writes them; netd and the DNS front end, other
    users, read them)."""
    return runtime().settings.lists_dir


def _too_large() -> ApiRefused:
    return ApiRefused(
        413,
        "too-large",
        tr(
            "Berkas daftar lebih dari {mb} MB.",
            "The list file is over {mb} MB.",
            mb=UPLOAD_LIMIT_BYTES // (1024 * 1024),
        ),
    )


def _receive(stream: IO[bytes], directory: Path) -> Path:
    """`stream` copied into a new file in `directory`; 413 past the size limit."""
    fd, name = tempfile.mkstemp(dir=directory, prefix=".upload-", suffix=".part")
    received = 0
    try:
        with os.fdopen(fd, "wb") as out:
            while chunk := stream.read(1 << 20):
                received += len(chunk)
                if received > UPLOAD_LIMIT_BYTES:
                    raise _too_large()
                out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
    except BaseException:
        os.unlink(name)
        raise
    return Path(name)


def _usable_report(path: Path, meta: ListUpload, filename: str) -> ListReport:
    """The loader's report on an uploaded file; 422 naming the bad lines if no entry is usable."""
    try:
        _names, report = DomainSet.load(path, meta.format, default_kind=_default_kind(meta.match))
    except ListError as exc:
        raise invalid({"file": str(exc).replace(str(path), filename)}) from None
    if report.entries == 0:
        detail = "; ".join(
            tr(
                "baris {n}: {why}: {text!r}",
                "line {n}: {why}: {text!r}",
                n=bad.number,
                why=bad.reason,
                text=bad.text,
            )
            for bad in report.bad_samples
        )
        message = tr(
            "Tidak ada nama yang bisa dipakai ({fmt}, {bad} dari {lines} baris salah). {detail}",
            "No usable name in it ({fmt}, {bad} of {lines} lines bad). {detail}",
            fmt=report.format,
            lines=report.lines,
            bad=report.bad,
            detail=detail,
        )
        raise invalid({"file": message.strip()})
    return report


def upload_list(meta: ListUpload, upload: FileStorage | None) -> dict[str, Any]:
    """Check an uploaded list with the front end's loader, keep it (atomically, under a new
    name) and add it to the draft's lists. 422 (nothing kept) if its name is taken or nothing
    in it is usable; 413 past the size limit."""
    lists = filtering_of(current_draft().document)["lists"]
    if find(lists, "name", meta.name) is not None:
        raise invalid(
            {
                "name": tr(
                    "Sudah ada daftar bernama {name}.",
                    "There is already a list named {name}.",
                    name=meta.name,
                )
            }
        )
    if upload is None or not upload.filename:
        raise invalid({"file": tr("Pilih berkas daftar.", "Choose a list file.")})
    directory = uploads_dir()
    directory.mkdir(mode=0o755, parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d%H%M%S", time.gmtime(runtime().clock()))
    final = directory / f"{meta.name}-{stamp}-{secrets.token_hex(3)}.txt"
    spec = {**meta.model_dump(mode="json"), "path": str(final)}
    refuse_invalid(object_errors(FilterList, spec))
    received = _receive(upload.stream, directory)
    try:
        report = _usable_report(received, meta, upload.filename)
        received.chmod(0o644)  # the DNS front end reads it, as another user
        os.replace(received, final)
    except BaseException:
        received.unlink(missing_ok=True)
        raise

    def mutate(draft: dict[str, Any]) -> None:
        filtering = filtering_of(draft)
        draft["filtering"] = {**filtering, "lists": [*filtering["lists"], spec]}

    edit_draft(mutate)
    return {"list": spec, "report": report_data(report, len(report.bad_samples))}


def receive_upload() -> dict[str, Any]:
    """The request's list upload (form fields and `file`) checked and kept (see `upload_list`);
    a body far over the limit is refused before it is read."""
    if (request.content_length or 0) > UPLOAD_LIMIT_BYTES + FORM_OVERHEAD_BYTES:
        raise _too_large()
    fields = {key: value for key, value in request.form.items() if value and key != "csrf_token"}
    return upload_list(parse_change(ListUpload, fields), request.files.get("file"))


# -- Pages -------------------------------------------------------------------------------------


def _index_page(errors: dict[str, str], values: dict[str, str], status: int) -> ResponseReturnValue:
    rows, problem = list_rows()
    policies = [policy["name"] for policy in current_draft().document.get("policies", [])]
    categories = sorted({row["category"] for row in rows})
    page = render_template(
        "admin/lists/index.html",
        rows=rows,
        problem=problem,
        errors=errors,
        values=values,
        policies=policies,
        categories=categories,
        formats=FORMATS,
        limit_mb=UPLOAD_LIMIT_BYTES // (1024 * 1024),
    )
    return page, status


@bp.route("/daftar")
@requires("configure")
def index() -> ResponseReturnValue:
    """The configured lists with their counts and bad lines, and the upload form."""
    return _index_page({}, {}, 200)


@bp.route("/daftar/unggah", methods=["POST"])
@requires("configure")
def upload() -> ResponseReturnValue:
    """Upload a list file into the draft."""
    try:
        receive_upload()
    except ApiRefused as exc:
        if exc.status != 422:
            return _index_page({"": str(exc)}, dict(request.form), exc.status)
        return _index_page(exc.fields, dict(request.form), 422)
    return saved_to_draft("lists.index")


def _entry_query(args: dict[str, str]) -> EntryQuery:
    return parse_change(EntryQuery, {key: value for key, value in args.items() if value})


@bp.route("/daftar/<name>")
@requires("configure")
def view(name: str) -> ResponseReturnValue:
    """A list's report and a page of its entries, searched."""
    config, problem = shown_config()
    spec = _spec(config, name)
    row = list_row(config, spec, bad_shown=MAX_BAD_SAMPLES)
    errors: dict[str, str] = {}
    result = None
    try:
        query = _entry_query(request.args.to_dict())
        if row["error"] is None:
            result = entries_page(config, spec, query)
    except ApiRefused as exc:
        errors = exc.fields or {"": str(exc)}
    page = render_template(
        "admin/lists/view.html",
        row=row,
        problem=problem,
        result=result,
        errors=errors,
        q=request.args.get("q", ""),
        page_size=PAGE_SIZE,
    )
    return page, 422 if errors else 200


# -- API ---------------------------------------------------------------------------------------

LIST_SCHEMA = {
    "type": "object",
    "properties": {
        "name": {"type": "string"},
        "category": {"type": "string"},
        "path": {"type": "string"},
        "format": {"type": "string"},
        "match": {"type": "string"},
        "file": {"type": "string"},
        "report": {"type": ["object", "null"]},
        "error": {"type": ["string", "null"]},
    },
}


@api(
    bp,
    "/lists",
    capability="configure",
    response={"type": "array", "items": LIST_SCHEMA},
    summary="The configured lists (draft, else running) with the loader's counts and bad lines",
)
def get_lists() -> list[dict[str, Any]]:
    return list_rows()[0]


@api(
    bp,
    "/lists/<name>/entries",
    capability="configure",
    summary="A page of a list's entries containing q",
    query={
        "q": {"type": "string", "maxLength": 253},
        "page": {"type": "integer", "minimum": 1, "maximum": MAX_PAGE},
    },
)
def get_list_entries(name: str) -> dict[str, Any]:
    config, _problem = shown_config()
    spec = _spec(config, name)
    return entries_page(config, spec, _entry_query(request.args.to_dict()))


@api(
    bp,
    "/lists",
    method="POST",
    capability="configure",
    status=201,
    form=ListUpload,
    files={"file": True},
    summary="Upload a list file (multipart/form-data: file, name, category, format, match) "
    "into the caller's draft",
)
def post_list(form: ListUpload) -> dict[str, Any]:
    return upload_list(form, request.files.get("file"))
