"""Filter policies, their schedules and the holiday calendar, edited into the draft; and the
explain / what-if tool: the verdict for a name asked by an OPD or hotspot site at a moment, with
its chain (policy and rule, list and entry, category, schedule window, until), as
`simpul dns explain` prints it, from the same engine.

The engine for a configuration is kept per process (up to ENGINES_KEPT configurations, keyed by
their content), and built again when one of its list files changes: loading national lists takes
seconds.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections import OrderedDict
from collections.abc import Mapping
from datetime import date, datetime
from typing import Any, Literal

from flask import Blueprint, abort, render_template, request
from flask.typing import ResponseReturnValue
from pydantic import BaseModel, Field, TypeAdapter, ValidationError
from werkzeug.datastructures import MultiDict

from portal.admin.api import ApiRefused, api
from portal.admin.drafts import (
    changed_fields,
    current_draft,
    edit_draft,
    find,
    has_draft,
    invalid,
    object_errors,
    parse_change,
    problems_at,
    refuse_invalid,
    save_object,
    saved_to_draft,
)
from portal.admin.formatting import zone
from portal.admin.i18n import tr
from portal.admin.lists import filtering_of, loaded_lists
from portal.admin.session import node_timezone, requires, runtime, stored_config
from simpul.config import Config, ConfigError, config_to_data, parse_config
from simpul.config.model import (
    WEEKDAYS,
    DateRange,
    DomainPattern,
    Filtering,
    Policy,
    Rule,
    Schedule,
    Slug,
    SpecialDay,
    Window,
)
from simpul.filtering.calendar import CalendarError, load_calendar
from simpul.filtering.engine import build_engine
from simpul.filtering.lists import ListError, normalize
from simpul.filtering.policy import Group, PolicyEngine, explain_lines, group_named
from simpul.filtering.schedule import describe_days, parse_moment

bp = Blueprint("policies", __name__)
ENGINES_KEPT = 4
MAX_DOMAINS = 5000
DOMAIN = TypeAdapter(DomainPattern)
Form = MultiDict[str, str]

# config digest -> (the loaded lists it was built over, engine, warnings)
_engines: OrderedDict[str, tuple[tuple[object, ...], PolicyEngine, list[str]]] = OrderedDict()
_building = threading.Lock()


# -- Policies ----------------------------------------------------------------------------------


class PolicyChange(BaseModel):
    """What the console changes on a policy; fields left out stay as they are."""

    model_config = {"extra": "forbid"}
    description: str = Field(default="", max_length=500)
    allow: list[DomainPattern] = Field(default_factory=list, max_length=MAX_DOMAINS)
    deny: list[DomainPattern] = Field(default_factory=list, max_length=MAX_DOMAINS)
    rules: list[Rule] = Field(default_factory=list, max_length=100)
    block_answer: Literal["page", "nxdomain"] = "page"
    query_log_days: int = Field(default=0, ge=0, le=365)
    cut_flows: bool = True


def save_policy(name: str, body: PolicyChange) -> dict[str, Any]:
    """Put `body`'s fields into policy `name` in the draft (404 if none; 422 if not valid, e.g.
    a category no list has or a schedule that does not exist)."""
    return save_object("policies", "name", name, Policy, changed_fields(body))


def domain_lines(text: str, field: str) -> tuple[list[str], dict[str, str]]:
    """Domain patterns written one per line, and the lines that are not one (by line number)."""
    patterns: list[str] = []
    problems: list[str] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            patterns.append(DOMAIN.validate_python(line.strip()))
        except ValidationError as exc:
            reason = exc.errors()[0]["msg"].removeprefix("Value error, ")
            problems.append(
                tr("baris {n}: {reason}", "line {n}: {reason}", n=number, reason=reason)
            )
    return patterns, ({field: "; ".join(problems)} if problems else {})


def _rows(form: Form, prefix: str) -> list[tuple[str, bool]]:
    """The rows of a repeated form group (its hidden count of rows plus a blank one to add),
    without the removed ones, in the order their positions ask for: each row's field-name
    prefix and whether it is the blank row."""
    try:
        count = min(int(form.get(f"{prefix}_count", "0")), 200)
    except ValueError:
        count = 0
    rows = []
    for i in range(count + 1):
        name = f"{prefix}-{i}-"
        if form.get(name + "remove"):
            continue
        try:
            position = int(form.get(name + "position", ""))
        except ValueError:
            position = i + 1
        rows.append((position, i, name))
    return [(name, i == count) for _position, i, name in sorted(rows)]


def rules_form(form: Form) -> list[dict[str, Any]]:
    """The policy form's rules, in order; the blank row only when something was chosen in it."""
    rules = []
    for name, blank in _rows(form, "rules"):
        rule = {
            "action": form.get(name + "action", "block"),
            "categories": form.getlist(name + "categories"),
            "schedule": form.get(name + "schedule") or None,
            "description": form.get(name + "description", "").strip(),
        }
        if not blank or rule["categories"] or rule["description"]:
            rules.append(rule)
    return rules


def policy_form(form: Form) -> tuple[dict[str, Any], dict[str, str]]:
    """The policy form as a PolicyChange's data, and the allow/deny lines that are wrong."""
    allow, allow_errors = domain_lines(form.get("allow", ""), "allow")
    deny, deny_errors = domain_lines(form.get("deny", ""), "deny")
    raw = {
        "description": form.get("description", "").strip(),
        "allow": allow,
        "deny": deny,
        "rules": rules_form(form),
        "block_answer": form.get("block_answer", "page"),
        "query_log_days": form.get("query_log_days", "0").strip() or "0",
        "cut_flows": bool(form.get("cut_flows")),
    }
    return raw, allow_errors | deny_errors


def _policy_choices(document: dict[str, Any]) -> dict[str, Any]:
    return {
        "categories": sorted({item["category"] for item in filtering_of(document)["lists"]}),
        "schedules": [schedule["name"] for schedule in document.get("schedules", [])],
    }


@bp.route("/kebijakan")
@requires("configure")
def index() -> ResponseReturnValue:
    """The policies (with who uses each) and the schedules."""
    document = current_draft().document
    users: dict[str, list[str]] = {}
    for section in ("opds", "hotspot_sites"):
        for item in document.get(section, []):
            if item.get("policy"):
                users.setdefault(item["policy"], []).append(item["name"])
    return render_template(
        "admin/policies/index.html",
        policies=document.get("policies", []),
        schedules=document.get("schedules", []),
        users=users,
        describe_days=describe_days,
    )


@bp.route("/kebijakan/<name>", methods=["GET", "POST"])
@requires("configure")
def edit(name: str) -> ResponseReturnValue:
    """One policy: its rules, allow and deny names, block answer; a POST saves to the draft."""
    document = current_draft().document
    policy = find(document.get("policies", []), "name", name)
    if policy is None:
        abort(404)
    errors: dict[str, str] = {}
    values = {
        **policy,
        "allow": "\n".join(policy.get("allow", [])),
        "deny": "\n".join(policy.get("deny", [])),
    }
    if request.method == "POST":
        raw, line_errors = policy_form(request.form)
        values = {
            **raw,
            "allow": request.form.get("allow", ""),
            "deny": request.form.get("deny", ""),
        }
        try:
            body = parse_change(PolicyChange, raw)
            refuse_invalid(line_errors)
            save_policy(name, body)
        except ApiRefused as exc:
            errors = {**(exc.fields or {"": str(exc)}), **line_errors}
        else:
            return saved_to_draft("policies.edit", name=name)
    page = render_template(
        "admin/policies/edit.html",
        name=name,
        values=values,
        errors=errors,
        **_policy_choices(document),
    )
    return page, 422 if errors else 200


# -- Schedules ---------------------------------------------------------------------------------


class ScheduleChange(BaseModel):
    """What the console changes on a schedule; fields left out stay as they are."""

    model_config = {"extra": "forbid"}
    description: str = Field(default="", max_length=500)
    windows: list[Window] = Field(default_factory=list, max_length=50)
    ramadan_windows: list[Window] | None = Field(
        default=None, max_length=50, description="windows during Ramadan; null: the usual ones"
    )
    holidays: Literal["off", "on"] = "off"


def save_schedule(name: str, body: ScheduleChange) -> dict[str, Any]:
    """Put `body`'s fields into schedule `name` in the draft (404 if none; 422 if not valid)."""
    return save_object("schedules", "name", name, Schedule, changed_fields(body))


def windows_form(form: Form, prefix: str) -> list[dict[str, Any]]:
    """A repeated group of window rows; the blank row only when something was filled in."""
    windows = []
    for name, blank in _rows(form, prefix):
        window = {
            "days": form.getlist(name + "days"),
            "start": form.get(name + "start", "").strip(),
            "end": form.get(name + "end", "").strip(),
        }
        if not blank or window["days"] or window["start"] or window["end"]:
            windows.append(window)
    return windows


def schedule_form(form: Form) -> dict[str, Any]:
    """The schedule form as a ScheduleChange's data."""
    return {
        "description": form.get("description", "").strip(),
        "windows": windows_form(form, "windows"),
        "ramadan_windows": windows_form(form, "ramadan") if form.get("use_ramadan") else None,
        "holidays": form.get("holidays", "off"),
    }


@bp.route("/kebijakan/jadwal/<name>", methods=["GET", "POST"])
@requires("configure")
def schedule(name: str) -> ResponseReturnValue:
    """One schedule: its windows, Ramadan windows and holidays; a POST saves to the draft."""
    document = current_draft().document
    values = find(document.get("schedules", []), "name", name)
    if values is None:
        abort(404)
    errors: dict[str, str] = {}
    if request.method == "POST":
        values = schedule_form(request.form)
        try:
            save_schedule(name, parse_change(ScheduleChange, values))
        except ApiRefused as exc:
            errors = exc.fields or {"": str(exc)}
        else:
            return saved_to_draft("policies.schedule", name=name)
    page = render_template(
        "admin/policies/schedule.html", name=name, values=values, errors=errors, weekdays=WEEKDAYS
    )
    return page, 422 if errors else 200


# -- The calendar ------------------------------------------------------------------------------


class CalendarChange(BaseModel):
    """The node's own calendar entries; lists left out stay as they are."""

    model_config = {"extra": "forbid"}
    extra_days: list[SpecialDay] = Field(
        default_factory=list, max_length=500, description="days off beyond the shipped calendar"
    )
    working_days: list[date] = Field(
        default_factory=list,
        max_length=500,
        description="working days although the calendar says off",
    )
    ramadan: list[DateRange] = Field(
        default_factory=list,
        max_length=50,
        description="Ramadan, where it differs from the calendar",
    )


CALENDAR_KEYS = ("extra_days", "working_days", "ramadan")


def calendar_entries(document: dict[str, Any]) -> dict[str, Any]:
    """The draft's own calendar entries."""
    filtering = filtering_of(document)
    return {key: filtering[key] for key in CALENDAR_KEYS}


def save_calendar(body: CalendarChange) -> dict[str, Any]:
    """Put `body`'s lists into the draft's filtering section (422 if not valid, e.g. a day
    listed twice); the calendar entries as saved."""
    document = current_draft().document
    change = changed_fields(body)
    updated = {**filtering_of(document), **change}
    errors = object_errors(Filtering, updated) or problems_at(
        {**document, "filtering": updated}, "filtering"
    )
    refuse_invalid(errors)

    def mutate(draft: dict[str, Any]) -> None:
        draft["filtering"] = {**filtering_of(draft), **change}

    edit_draft(mutate)
    return {key: updated[key] for key in CALENDAR_KEYS}


def calendar_form_change(form: Mapping[str, str], entries: dict[str, Any]) -> dict[str, Any]:
    """The calendar entries after one of the page's add or remove buttons."""
    action = form.get("action", "")
    days, working, ramadan = entries["extra_days"], entries["working_days"], entries["ramadan"]
    if action == "add-day":
        day = {
            "date": form.get("date", ""),
            "name": form.get("name", "").strip(),
            "kind": form.get("kind", "libur"),
        }
        return {"extra_days": [*days, day]}
    if action == "remove-day":
        return {"extra_days": [d for d in days if d["date"] != form.get("date")]}
    if action == "add-working":
        return {"working_days": [*working, form.get("date", "")]}
    if action == "remove-working":
        return {"working_days": [d for d in working if d != form.get("date")]}
    if action == "add-ramadan":
        return {"ramadan": [*ramadan, {"start": form.get("start", ""), "end": form.get("end", "")}]}
    if action == "remove-ramadan":
        return {"ramadan": [r for r in ramadan if r["start"] != form.get("start")]}
    raise invalid({"action": tr("Tindakan tidak dikenal.", "Unknown action.")})


def _days_off(document: dict[str, Any], year: int) -> tuple[list[Any], list[str]]:
    """The year's days off as the engine sees them (calendar files plus the draft's entries)."""
    try:
        filtering = Filtering.model_validate(filtering_of(document))
        calendar, warnings = load_calendar(filtering)
    except (ValidationError, CalendarError) as exc:
        return [], [str(exc)]
    days = sorted(
        (d for d in calendar.days_off.values() if d.day.year == year), key=lambda d: d.day
    )
    return days, warnings


@bp.route("/kebijakan/kalender", methods=["GET", "POST"])
@requires("configure")
def calendar() -> ResponseReturnValue:
    """Days off, working days and Ramadan; each button adds or removes one entry in the draft."""
    document = current_draft().document
    entries = calendar_entries(document)
    errors: dict[str, str] = {}
    if request.method == "POST":
        try:
            change = calendar_form_change(request.form, entries)
            save_calendar(parse_change(CalendarChange, change))
        except ApiRefused as exc:
            errors = exc.fields or {"": str(exc)}
        else:
            return saved_to_draft("policies.calendar")
    year = datetime.fromtimestamp(runtime().clock(), zone(node_timezone())).year
    days_off, warnings = _days_off(document, year)
    page = render_template(
        "admin/policies/calendar.html",
        entries=entries,
        errors=errors,
        form=request.form,
        year=year,
        days_off=days_off,
        warnings=warnings,
    )
    return page, 422 if errors else 200


# -- Explain / what-if -------------------------------------------------------------------------


class ExplainQuery(BaseModel):
    """Who asks (one of opd, site), which name, when, and with which configuration."""

    model_config = {"extra": "forbid"}
    opd: Slug | None = None
    site: Slug | None = None
    name: str = Field(min_length=1, max_length=254)
    at: str | None = Field(
        default=None,
        max_length=40,
        description="HH:MM today, 'YYYY-MM-DD HH:MM' or ISO 8601; node zone",
    )
    draft: bool = Field(default=False, description="the caller's draft instead of what runs")


def _digest(config: Config) -> str:
    text = json.dumps(config_to_data(config), sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


def cached_engine(config: Config) -> tuple[PolicyEngine, list[str]]:
    """The policy engine for `config` and its warnings, kept per process; built again when a
    list file changed. ListError or CalendarError when a list or calendar file is unusable."""
    lists = tuple(loaded_lists(config).values())
    key = _digest(config)
    with _building:
        cached = _engines.get(key)
        if (
            cached is not None
            and len(cached[0]) == len(lists)
            and all(old is new for old, new in zip(cached[0], lists, strict=True))
        ):
            _engines.move_to_end(key)
            return cached[1], cached[2]
        engine, warnings = build_engine(config, {item.spec.name: item for item in lists})
        _engines[key] = (lists, engine, warnings)
        while len(_engines) > ENGINES_KEPT:
            _engines.popitem(last=False)
    return engine, warnings


def _explained_config(use_draft: bool) -> Config:
    if not use_draft:
        return stored_config()
    try:
        return parse_config(current_draft().document)
    except ConfigError as exc:
        raise invalid(
            {"draft": tr("Draf belum sah: {e}", "The draft is not valid: {e}", e=exc)}
        ) from None


def _group(config: Config, query: ExplainQuery) -> Group:
    if (query.opd is None) == (query.site is None):
        message = tr("Pilih satu: OPD atau lokasi hotspot.", "Choose one: an OPD or a site.")
        raise invalid({"opd": message, "site": message})
    field, kind, slug = ("opd", "opd", query.opd) if query.opd else ("site", "hotspot", query.site)
    try:
        return group_named(config, kind, slug or "")
    except KeyError:
        message = tr(
            "Tidak ada {slug} di konfigurasi.", "No {slug} in the configuration.", slug=slug
        )
        raise invalid({field: message}) from None


def _host_name(text: str) -> str:
    name = normalize(text.strip())
    if name is None:
        message = tr(
            "{name!r} bukan nama domain seperti www.youtube.com.",
            "{name!r} is not a domain name such as www.youtube.com.",
            name=text,
        )
        raise invalid({"name": message})
    return name


def _moment(config: Config, at: str | None) -> datetime:
    zone = config.node.zoneinfo
    try:
        return parse_moment(at, zone, now=datetime.fromtimestamp(runtime().clock(), zone))
    except ValueError as exc:
        raise invalid({"at": str(exc)}) from None


def explain(query: ExplainQuery) -> dict[str, Any]:
    """The verdict and its chain, as `simpul dns explain --json` gives it, plus the lines it
    prints (`lines`), which configuration (`config`: draft or live) and the engine's warnings."""
    config = _explained_config(query.draft)
    group = _group(config, query)
    name = _host_name(query.name)
    moment = _moment(config, query.at)
    try:
        engine, warnings = cached_engine(config)
    except (ListError, CalendarError) as exc:
        raise ApiRefused(409, "lists-unusable", str(exc)) from None
    data = engine.decide(group, name, moment).data(config.node.timezone)
    source = "draft" if query.draft else "live"
    lines = explain_lines(name, moment, data, source)
    return {
        "name": name,
        "at": moment.isoformat(),
        **data,
        "config": source,
        "warnings": warnings,
        "lines": lines,
    }


def explain_query(args: Mapping[str, str]) -> ExplainQuery:
    """The explain tool's query parameters (empty ones left out), or 422 naming the field."""
    return parse_change(ExplainQuery, {key: value for key, value in args.items() if value})


@bp.route("/kebijakan/jelaskan")
@requires("configure")
def explain_page() -> ResponseReturnValue:
    """Ask why a name is blocked or allowed for an OPD or site at a moment (now by default)."""
    document = current_draft().document
    args = request.args.to_dict()
    result, errors = None, {}
    if args.get("name"):
        try:
            result = explain(explain_query(args))
        except ApiRefused as exc:
            errors = exc.fields or {"": str(exc)}
    values = {"draft": has_draft(), **args} if "name" not in args else args
    page = render_template(
        "admin/policies/explain.html",
        result=result,
        errors=errors,
        values=values,
        opds=document.get("opds", []),
        sites=document.get("hotspot_sites", []),
    )
    return page, 422 if errors else 200


# -- API ---------------------------------------------------------------------------------------


@api(
    bp,
    "/policies",
    capability="configure",
    response={"type": "array"},
    summary="The filter policies (the caller's draft, else running)",
)
def get_policies() -> list[dict[str, Any]]:
    return list(current_draft().document.get("policies", []))


@api(
    bp,
    "/policies/<name>",
    method="PUT",
    capability="configure",
    body=PolicyChange,
    summary="Change a policy's rules, allow/deny names or block answer in the caller's draft",
)
def put_policy(name: str, body: PolicyChange) -> dict[str, Any]:
    return save_policy(name, body)


@api(
    bp,
    "/schedules",
    capability="configure",
    response={"type": "array"},
    summary="The schedules (the caller's draft, else running)",
)
def get_schedules() -> list[dict[str, Any]]:
    return list(current_draft().document.get("schedules", []))


@api(
    bp,
    "/schedules/<name>",
    method="PUT",
    capability="configure",
    body=ScheduleChange,
    summary="Change a schedule's windows, Ramadan windows or holidays in the caller's draft",
)
def put_schedule(name: str, body: ScheduleChange) -> dict[str, Any]:
    return save_schedule(name, body)


@api(
    bp,
    "/calendar",
    capability="configure",
    summary="The node's own days off, working days and Ramadan dates (draft, else running)",
)
def get_calendar() -> dict[str, Any]:
    return calendar_entries(current_draft().document)


@api(
    bp,
    "/calendar",
    method="PUT",
    capability="configure",
    body=CalendarChange,
    summary="Replace the node's own days off, working days or Ramadan dates in the draft",
)
def put_calendar(body: CalendarChange) -> dict[str, Any]:
    return save_calendar(body)


@api(
    bp,
    "/explain",
    capability="configure",
    summary="Why a name is blocked or allowed for an OPD or site at a moment (dns explain)",
    query={
        "opd": {"type": "string"},
        "site": {"type": "string"},
        "name": {"type": "string", "maxLength": 254},
        "at": {"type": "string"},
        "draft": {"type": "boolean"},
    },
)
def get_explain() -> dict[str, Any]:
    return explain(explain_query(request.args.to_dict()))
