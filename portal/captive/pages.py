"""Request helpers shared by the views and the error pages: language, client IP, JSON or HTML."""

from __future__ import annotations

from flask import g, request

from portal.captive.i18n import DEFAULT_LANG, lang_from, t

JSON_PATHS = ("/watch",)
JSON_PREFIXES = ("/api/",)


def client_ip() -> str:
    """The client's address: the TCP peer (nothing in front of the portal; no X-Forwarded-For)."""
    return request.remote_addr or ""


def set_lang(value: str | None) -> str:
    """Use the language a `lang` parameter asks for (default Bahasa Indonesia) for this request."""
    g.lang = lang_from(value)
    return g.lang


def current_lang() -> str:
    """This request's language."""
    lang = g.get("lang")
    return lang if lang is not None else lang_from(request.args.get("lang"))


def text(key: str, **params: object) -> str:
    """`key` in this request's language."""
    return t(key, current_lang(), **params)


def lang_args(lang: str) -> dict[str, str]:
    """URL parameters that keep `lang` on the next page (none for the default language)."""
    return {} if lang == DEFAULT_LANG else {"lang": lang}


def wants_json() -> bool:
    """Whether to answer in JSON: the page's script endpoints, the API, or `Accept` asking so."""
    if request.path in JSON_PATHS or request.path.startswith(JSON_PREFIXES):
        return True
    best = request.accept_mimetypes.best_match(("text/html", "application/json"))
    return best == "application/json"
