"""The Prometheus text endpoint: metric families rendered in the text exposition format 0.0.4
(pure), and a WSGI app that serves them on GET /metrics.

A family is a name, a HELP text, a type (counter or gauge) and its samples, each with its labels
and a value. By Prometheus's convention counters' names end in `_total`; that is the caller's
choice, as is keeping labels low-cardinality.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

log = logging.getLogger("simpul.export")

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
_METRIC_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
_ESCAPE_HELP = str.maketrans({"\\": r"\\", "\n": r"\n"})
_ESCAPE_LABEL = str.maketrans({"\\": r"\\", "\n": r"\n", '"': r"\""})

StartResponse = Callable[[str, list[tuple[str, str]]], Any]
WsgiApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


@dataclass(frozen=True)
class Sample:
    """One value of a family, with its labels as (name, value) pairs."""

    value: int | float
    labels: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Family:
    """A metric family: name, HELP text, type and samples."""

    name: str
    help: str
    type: Literal["counter", "gauge"]
    samples: tuple[Sample, ...] = field(default=())


def _value(value: int | float) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"sample value must be a number, not {value!r}")
    if isinstance(value, int):
        return str(value)  # exact, even for byte counters beyond 2**53
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(value)


def _labels(family: str, labels: tuple[tuple[str, str], ...]) -> str:
    if not labels:
        return ""
    names = [name for name, _ in labels]
    if len(set(names)) != len(names):
        raise ValueError(f"{family}: a label repeats in {names}")
    for name in names:
        if not _LABEL_NAME.fullmatch(name) or name.startswith("__"):
            raise ValueError(f"{family}: invalid label name {name!r}")
    return "{" + ",".join(f'{n}="{v.translate(_ESCAPE_LABEL)}"' for n, v in labels) + "}"


def render(families: Iterable[Family]) -> str:
    """The families in the text exposition format 0.0.4 (ValueError for invalid names, a label
    name twice in a sample, or a family name twice)."""
    lines: list[str] = []
    seen: set[str] = set()
    for f in families:
        if not _METRIC_NAME.fullmatch(f.name):
            raise ValueError(f"invalid metric name {f.name!r}")
        if f.name in seen:
            raise ValueError(f"metric family {f.name!r} given twice")
        if f.type not in ("counter", "gauge"):
            raise ValueError(f"{f.name}: type must be counter or gauge, not {f.type!r}")
        seen.add(f.name)
        lines.append(f"# HELP {f.name} {f.help.translate(_ESCAPE_HELP)}")
        lines.append(f"# TYPE {f.name} {f.type}")
        lines.extend(f"{f.name}{_labels(f.name, s.labels)} {_value(s.value)}" for s in f.samples)
    return "".join(f"{line}\n" for line in lines)


def metrics_app(collect: Callable[[], Iterable[Family]]) -> WsgiApp:
    """A WSGI app answering GET (and HEAD) /metrics with `render(collect())`; 404 on any other
    path, 405 for other methods, and a short 500 (the traceback goes to the log only) when
    collecting or rendering fails."""

    def app(environ: dict[str, Any], start_response: StartResponse) -> list[bytes]:
        def answer(status: str, body: bytes, *headers: tuple[str, str]) -> list[bytes]:
            start_response(status, [*headers, ("Content-Length", str(len(body)))])
            return [] if environ["REQUEST_METHOD"] == "HEAD" else [body]

        plain = ("Content-Type", "text/plain; charset=utf-8")
        if environ.get("PATH_INFO", "") != "/metrics":
            return answer("404 Not Found", b"not found; metrics are at /metrics\n", plain)
        if environ["REQUEST_METHOD"] not in ("GET", "HEAD"):
            return answer(
                "405 Method Not Allowed", b"method not allowed\n", plain, ("Allow", "GET, HEAD")
            )
        try:
            body = render(collect()).encode()
        except Exception:
            log.exception("collecting metrics for /metrics failed")
            return answer("500 Internal Server Error", b"metrics collection failed\n", plain)
        return answer("200 OK", body, ("Content-Type", CONTENT_TYPE))

    return app
