"""The console's two languages: Bahasa Indonesia first, English second.

Words are written where they are used, as a pair: `tr("Klien", "Clients")`. The pair keeps both
languages side by side for whoever edits the page, and a missing translation cannot happen.
"""

from __future__ import annotations

from flask import g, has_request_context, request

LANGS = ("id", "en")
COOKIE = "lang"


def lang() -> str:
    """This request's language: the `lang` cookie if set, else Indonesian."""
    if not has_request_context():
        return "id"
    chosen = g.get("lang")
    if chosen is None:
        cookie = request.cookies.get(COOKIE)
        chosen = g.lang = cookie if cookie in LANGS else "id"
    return chosen


def tr(indonesian: str, english: str, **params: object) -> str:
    """The text in this request's language, with `{name}` fields filled from `params`."""
    text = english if lang() == "en" else indonesian
    return text.format(**params) if params else text
