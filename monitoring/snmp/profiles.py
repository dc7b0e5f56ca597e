"""Device profiles: data files (monitoring/profiles/*.yaml) naming the values to read from a kind
of device, validated with errors that name the file, line and field; and turning a raw value
into a `Reading` (scale, enum label, threshold level).

A profile's `kind` is `snmp` (each value an `oid` scalar or a table `column`) or `http` (a status
page at `url`, each value a `regex` or a `json` path). Adding a vendor is adding a file.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from monitoring.snmp.model import Level, Reading
from simpul.yamllines import Loc, YamlShapeError, decode, line_for, validation_problems

PROFILE_DIR = Path(__file__).resolve().parent.parent / "profiles"

OidText = Annotated[str, Field(pattern=r"^[0-9]+(\.[0-9]+)+$")]
Name = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$", max_length=64)]
_NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")


class ProfileError(Exception):
    """A profile file is not valid; `problems` lists (line, field path, message)."""

    def __init__(self, source: str, problems: list[tuple[int | None, str, str]]) -> None:
        self.source = source
        self.problems = problems
        parts = [f"{f'line {line}: ' if line else ''}{path}: {msg}" for line, path, msg in problems]
        super().__init__(f"{source}: " + "; ".join(parts))


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Thresholds(_Model):
    """Numeric levels with a direction (`below`: low is bad, e.g. SNR), or enum labels."""

    warning: float | list[str] | None = None
    critical: float | list[str] | None = None
    direction: Literal["above", "below"] | None = None

    @model_validator(mode="after")
    def _consistent(self) -> Thresholds:
        levels = [v for v in (self.warning, self.critical) if v is not None]
        if not levels:
            raise ValueError("give warning, critical or both")
        numeric = [isinstance(v, float) for v in levels]
        if any(numeric) and not all(numeric):
            raise ValueError("warning and critical must both be numbers or both label lists")
        if all(numeric) and self.direction is None:
            raise ValueError("numeric thresholds need direction: above or below")
        if not any(numeric) and self.direction is not None:
            raise ValueError("direction applies to numeric thresholds, not enum labels")
        if isinstance(self.warning, float) and isinstance(self.critical, float):
            above = self.direction == "above"
            if (self.critical < self.warning) if above else (self.critical > self.warning):
                raise ValueError(
                    f"critical ({self.critical:g}) must be {self.direction} "
                    f"warning ({self.warning:g})"
                )
        return self


class ValueSpec(_Model):
    """One named value of a profile and where it comes from."""

    name: Name
    type: Literal["gauge", "counter", "enum"]
    oid: OidText | None = None
    column: OidText | None = None
    regex: str | None = None
    json_path: str | None = Field(default=None, alias="json")
    text: bool = False  # SNMP: the number arrives as a DisplayString ("12.4 dB")
    unit: str = ""
    scale: float = 1.0
    enum: dict[int | str, str] | None = None
    thresholds: Thresholds | None = None

    @model_validator(mode="after")
    def _consistent(self) -> ValueSpec:
        sources = [k for k in ("oid", "column", "regex", "json_path") if getattr(self, k)]
        if len(sources) != 1:
            raise ValueError("give exactly one of oid, column (snmp) or regex, json (http)")
        if self.regex is not None:
            try:
                compiled = re.compile(self.regex)
            except re.error as exc:
                raise ValueError(f"regex does not compile: {exc}") from None
            if compiled.groups < 1:
                raise ValueError("regex needs a capture group around the value")
        if self.enum is not None and self.type != "enum":
            raise ValueError("enum labels are only for type enum")
        if self.type != "gauge" and self.scale != 1.0:
            raise ValueError("scale applies to gauges only")
        if self.type == "counter" and self.thresholds is not None:
            raise ValueError("thresholds on a raw counter mean nothing; threshold its rate")
        labels = set((self.enum or {}).values())
        if self.thresholds is not None:
            for level in (self.thresholds.warning, self.thresholds.critical):
                if isinstance(level, list):
                    if self.type != "enum":
                        raise ValueError("label thresholds are only for type enum")
                    unknown = sorted(set(level) - labels)
                    if unknown:
                        raise ValueError(f"threshold labels not in enum: {', '.join(unknown)}")
                elif level is not None and self.type == "enum":
                    raise ValueError("an enum's thresholds are lists of its labels")
        return self

    def address(self, index: str | None = None) -> tuple[int, ...]:
        """The OID to ask for: the scalar's, the column's (walked) or its row `index`."""
        text = self.oid or (f"{self.column}.{index}" if index is not None else self.column)
        if text is None:
            raise ValueError(f"{self.name} is not an SNMP value")
        return parse_oid(text)


class Profile(_Model):
    """A kind of device: what to read from it. `verified` says whether the OIDs were confirmed
    against a real device (not only a MIB file)."""

    name: Name
    kind: Literal["snmp", "http"] = "snmp"
    description: str = Field(min_length=1)
    verified: bool = False
    url: str | None = None
    values: tuple[ValueSpec, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _consistent(self) -> Profile:
        if self.kind == "http" and not self.url:
            raise ValueError("an http profile needs url (e.g. http://{address}/status)")
        if self.kind == "snmp" and self.url:
            raise ValueError("url is only for kind http")
        seen: set[str] = set()
        for i, spec in enumerate(self.values):
            if spec.name in seen:
                raise ValueError(f"values[{i}]: name {spec.name!r} appears twice")
            seen.add(spec.name)
            snmp_source = spec.oid is not None or spec.column is not None
            if snmp_source != (self.kind == "snmp"):
                want = "oid or column" if self.kind == "snmp" else "regex or json"
                raise ValueError(f"values[{i}] ({spec.name}): a {self.kind} profile reads {want}")
        return self

    def scalars(self) -> tuple[ValueSpec, ...]:
        """SNMP values read with GET: scalars (`oid`)."""
        return tuple(s for s in self.values if s.oid)

    def columns(self) -> tuple[ValueSpec, ...]:
        """SNMP values read from a table column (`column`)."""
        return tuple(s for s in self.values if s.column)


# -- loading -------------------------------------------------------------------------------------


def _path(loc: Loc) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def parse_profile(text: str, source: str = "<text>") -> Profile:
    """Validate one profile's YAML text; raise `ProfileError` naming every problem found."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        reason = getattr(exc, "problem", None) or str(exc)
        line = mark.line + 1 if mark is not None else None
        raise ProfileError(source, [(line, "(top level)", f"not valid YAML: {reason}")]) from None
    if root is None:
        raise ProfileError(source, [(None, "(top level)", "the file is empty")])
    lines: dict[Loc, int] = {}
    try:
        data = decode(root, (), lines)
    except YamlShapeError as exc:
        raise ProfileError(source, [(exc.line, _path(exc.loc), exc.message)]) from None
    if not isinstance(data, dict):
        raise ProfileError(source, [(1, "(top level)", "a profile is a mapping of fields")])
    try:
        return Profile.model_validate(data)
    except ValidationError as exc:
        problems = []
        for loc, message, err in validation_problems(exc, data):
            if err["type"] == "string_pattern_mismatch" and loc and loc[-1] == "name":
                message = "must be lower_snake_case (a-z, 0-9, _), starting with a letter"
            elif err["type"] == "string_pattern_mismatch":
                message = f"not a numeric OID (like 1.3.6.1.2.1.1.3.0): {err['input']!r}"
            problems.append((line_for(loc, lines), _path(loc), message))
        raise ProfileError(source, problems) from None


def load_profile(path: Path) -> Profile:
    """Read and validate one profile file; its `name` must be the file's stem."""
    source = path.name
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ProfileError(source, [(None, "(top level)", f"cannot read: {exc}")]) from None
    profile = parse_profile(text, source)
    if profile.name != path.stem:
        raise ProfileError(
            source, [(None, "name", f"{profile.name!r} does not match the file name {source!r}")]
        )
    return profile


def load_profiles(directory: Path = PROFILE_DIR) -> dict[str, Profile]:
    """Every `*.yaml` profile of `directory` by name."""
    return {p.name: p for p in map(load_profile, sorted(directory.glob("*.yaml")))}


# -- values ---------------------------------------------------------------------------------------


def parse_oid(text: str) -> tuple[int, ...]:
    """An OID from dotted text ("1.3.6.1.2.1.1.3.0")."""
    return tuple(int(part) for part in text.strip(".").split("."))


def parse_number(text: str) -> float | None:
    """The first decimal number in `text` ("-12.5 dBm" -> -12.5), or None."""
    match = _NUMBER.search(text)
    return float(match.group()) if match else None


def level_of(spec: ValueSpec, value: float | int | str, label: str | None) -> Level | None:
    """'ok', 'warning' or 'critical' by the spec's thresholds; None without thresholds."""
    th = spec.thresholds
    if th is None:
        return None
    levels: tuple[tuple[Level, Any], ...] = (("critical", th.critical), ("warning", th.warning))
    for name, limit in levels:
        if isinstance(limit, list):
            hit = label in limit
        elif limit is None or not isinstance(value, int | float):
            hit = False
        else:
            hit = value >= limit if th.direction == "above" else value <= limit
        if hit:
            return name
    return "ok"


def unread(spec: ValueSpec, error: str, index: str = "") -> Reading:
    """A `Reading` of `spec` that has no value, and why."""
    return Reading(spec.name, index, None, spec.unit, error=error)


def make_reading(spec: ValueSpec, raw: int | float | str, index: str = "") -> Reading:
    """A `Reading` of `spec` from a raw value (an integer off the wire, or text)."""
    value: int | float | str
    label = None
    if spec.type == "enum":
        value = raw
        if isinstance(raw, str) and raw.strip().lstrip("-").isdigit():
            value = int(raw)
        label = (spec.enum or {}).get(value) or (spec.enum or {}).get(str(value))
    else:
        number = parse_number(raw) if isinstance(raw, str) else raw
        if number is None:
            return unread(spec, f"not a number: {raw!r}", index)
        if spec.type == "counter":
            value = int(number)
        else:
            value = number * spec.scale if spec.scale != 1.0 else number
    return Reading(spec.name, index, value, spec.unit, label, level_of(spec, value, label))
