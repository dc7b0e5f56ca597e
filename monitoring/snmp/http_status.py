"""Values of an `http` profile from a modem's status page: a regex's first group over the body,
or a dotted path into its JSON."""

from __future__ import annotations

import json
import re
from typing import Any

from monitoring.snmp.model import Reading
from monitoring.snmp.profiles import Profile, ValueSpec, make_reading, unread


def status_url(profile: Profile, address: str) -> str:
    """The profile's URL for one device (`{address}` replaced)."""
    assert profile.url is not None, "an http profile has a url"
    return profile.url.replace("{address}", address)


def _walk(document: Any, path: str) -> Any:
    node = document
    for part in path.split("."):
        if isinstance(node, list) and part.lstrip("-").isdigit():
            node = node[int(part)]
        elif isinstance(node, dict):
            node = node[part]
        else:
            raise KeyError(part)
    return node


def _one(spec: ValueSpec, body: str, document: Any) -> Reading:
    if spec.regex is not None:
        match = re.search(spec.regex, body)
        if match is None:
            return unread(spec, f"regex {spec.regex!r} not found")
        return make_reading(spec, match.group(1))
    assert spec.json_path is not None, "validated: regex or json"
    if document is None:
        return unread(spec, "the page is not JSON")
    try:
        raw = _walk(document, spec.json_path)
    except (KeyError, IndexError):
        return unread(spec, f"no {spec.json_path} in the JSON")
    if isinstance(raw, bool) or not isinstance(raw, int | float | str):
        return unread(spec, f"{spec.json_path} is not a value")
    return make_reading(spec, raw)


def extract(profile: Profile, body: str) -> tuple[Reading, ...]:
    """Every value of `profile` from a status page's body; a value not found carries an error."""
    try:
        document = json.loads(body)
    except ValueError:
        document = None
    return tuple(_one(spec, body, document) for spec in profile.values)
