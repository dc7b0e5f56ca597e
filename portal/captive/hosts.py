"""Host headers and the portal's own URLs (pure).

The portal only ever redirects to URLs built from its configuration, never from the request.
"""

from __future__ import annotations

from portal.captive.i18n import DEFAULT_LANG, LANGS


def bare_host(host_header: str) -> str:
    """The host name of a Host header: lowercase, without port, brackets or trailing dot."""
    host = host_header.strip().lower()
    if host.startswith("["):
        end = host.find("]")
        return host[1:end] if end > 0 else host
    name, colon, port = host.rpartition(":")
    if colon and port.isdigit() and ":" not in name:
        host = name
    return host.rstrip(".")


def is_portal_host(host_header: str, hostname: str, address: str | None) -> bool:
    """Whether a request was addressed to the portal itself (its hostname or its address)."""
    host = bare_host(host_header)
    return bool(host) and (host == hostname.lower() or (address is not None and host == address))


def lang_query(lang: str) -> str:
    """`?lang=xx` for a language other than the default, else empty."""
    return f"?lang={lang}" if lang in LANGS and lang != DEFAULT_LANG else ""


def start_url(hostname: str, http_port: int, lang: str = DEFAULT_LANG) -> str:
    """The portal's start page over plain HTTP, where redirected clients are sent."""
    port = "" if http_port == 80 else f":{http_port}"
    return f"http://{hostname}{port}/{lang_query(lang)}"


def user_portal_url(hostname: str, https_port: int) -> str:
    """The portal's HTTPS address for RFC 8908's `user-portal-url`."""
    port = "" if https_port == 443 else f":{https_port}"
    return f"https://{hostname}{port}/"
