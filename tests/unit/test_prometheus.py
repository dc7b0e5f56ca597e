"""The Prometheus text exposition (format 0.0.4) and the /metrics WSGI app."""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable
from typing import Any
from wsgiref.util import setup_testing_defaults
from wsgiref.validate import validator

import pytest

from monitoring.prometheus import CONTENT_TYPE, Family, Sample, metrics_app, render

FAMILIES = [
    Family(
        "simpul_export_sent_points_total",
        "Points the InfluxDB server took.",
        "counter",
        (Sample(123),),
    ),
    Family(
        "simpul_uplink_bytes_total",
        "Bytes per uplink and direction.",
        "counter",
        (
            Sample(2**60 + 1, (("uplink", "vsat-1"), ("dir", "rx"))),
            Sample(0, (("uplink", "fiber"), ("dir", "tx"))),
        ),
    ),
    Family("simpul_spool_fill_ratio", "Spool fill, 0..1.", "gauge", (Sample(0.25),)),
]


def test_render_exact() -> None:
    assert render(FAMILIES) == (
        "# HELP simpul_export_sent_points_total Points the InfluxDB server took.\n"
        "# TYPE simpul_export_sent_points_total counter\n"
        "simpul_export_sent_points_total 123\n"
        "# HELP simpul_uplink_bytes_total Bytes per uplink and direction.\n"
        "# TYPE simpul_uplink_bytes_total counter\n"
        'simpul_uplink_bytes_total{uplink="vsat-1",dir="rx"} 1152921504606846977\n'
        'simpul_uplink_bytes_total{uplink="fiber",dir="tx"} 0\n'
        "# HELP simpul_spool_fill_ratio Spool fill, 0..1.\n"
        "# TYPE simpul_spool_fill_ratio gauge\n"
        "simpul_spool_fill_ratio 0.25\n"
    )


def test_escaping_of_help_and_label_values() -> None:
    text = render(
        [
            Family(
                "m",
                'A "help" with \\ and\nnewline',
                "gauge",
                (Sample(1, (("site", 'Camat "Lama"\\Baru\nPulau'),)),),
            )
        ]
    )
    assert text.splitlines() == [
        '# HELP m A "help" with \\\\ and\\nnewline',  # quotes stay as they are in HELP
        "# TYPE m gauge",
        'm{site="Camat \\"Lama\\"\\\\Baru\\nPulau"} 1',
    ]


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (math.nan, "NaN"),
        (math.inf, "+Inf"),
        (-math.inf, "-Inf"),
        (-1.5, "-1.5"),
        (1e-05, "1e-05"),
        (2.0, "2.0"),
        (-3, "-3"),
    ],
)
def test_values(value: float, text: str) -> None:
    assert render([Family("g", "h", "gauge", (Sample(value),))]).splitlines()[-1] == f"g {text}"


def test_a_family_without_samples_and_no_families() -> None:
    assert render([Family("g", "h", "gauge")]) == "# HELP g h\n# TYPE g gauge\n"
    assert render([]) == ""


@pytest.mark.parametrize(
    ("family", "message"),
    [
        (Family("1bad", "h", "gauge"), "invalid metric name"),
        (Family("bad-name", "h", "gauge"), "invalid metric name"),
        (Family("g", "h", "histogram"), "counter or gauge"),  # type: ignore[arg-type]
        (Family("g", "h", "gauge", (Sample(1, (("a", "1"), ("a", "2"))),)), "repeats"),
        (Family("g", "h", "gauge", (Sample(1, (("__name__", "x"),)),)), "invalid label"),
        (Family("g", "h", "gauge", (Sample(1, (("a-b", "x"),)),)), "invalid label"),
        (Family("g", "h", "gauge", (Sample(True),)), "must be a number"),
        (Family("g", "h", "gauge", (Sample("1"),)), "must be a number"),  # type: ignore[arg-type]
    ],
)
def test_invalid(family: Family, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        render([family])


def test_a_family_twice_is_refused() -> None:
    with pytest.raises(ValueError, match="given twice"):
        render([Family("g", "h", "gauge"), Family("g", "h", "gauge")])


# -- the WSGI app -------------------------------------------------------------------------------


def call(
    app: Any, method: str = "GET", path: str = "/metrics"
) -> tuple[str, dict[str, str], bytes]:
    environ: dict[str, Any] = {
        "REQUEST_METHOD": method,
        "SCRIPT_NAME": "",
        "PATH_INFO": path,
        "QUERY_STRING": "",
    }
    setup_testing_defaults(environ)
    got: dict[str, Any] = {}

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        got.update(status=status, headers=dict(headers))
        return lambda data: None

    result = validator(app)(environ, start_response)
    try:
        body = b"".join(result)
    finally:
        result.close()
    return got["status"], got["headers"], body


def families() -> Iterable[Family]:
    return FAMILIES


def test_get_metrics() -> None:
    status, headers, body = call(metrics_app(families))
    assert status == "200 OK"
    assert headers["Content-Type"] == CONTENT_TYPE == "text/plain; version=0.0.4; charset=utf-8"
    assert body == render(FAMILIES).encode()
    assert headers["Content-Length"] == str(len(body))


def test_collect_runs_per_request() -> None:
    calls: list[int] = []

    def collect() -> list[Family]:
        calls.append(1)
        return [Family("scrapes_total", "Scrapes.", "counter", (Sample(len(calls)),))]

    app = metrics_app(collect)
    call(app)
    assert call(app)[2].endswith(b"scrapes_total 2\n")


def test_head_has_headers_only() -> None:
    status, headers, body = call(metrics_app(families), "HEAD")
    assert (status, body) == ("200 OK", b"")
    assert headers["Content-Type"] == CONTENT_TYPE


@pytest.mark.parametrize("path", ["/", "/metrics/", "/favicon.ico", "/metricsx"])
def test_other_paths_are_404(path: str) -> None:
    status, headers, body = call(metrics_app(families), path=path)
    assert status == "404 Not Found"
    assert headers["Content-Type"].startswith("text/plain")
    assert b"/metrics" in body


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "OPTIONS"])
def test_other_methods_are_405(method: str) -> None:
    status, headers, _body = call(metrics_app(families), method)
    assert status == "405 Method Not Allowed"
    assert headers["Allow"] == "GET, HEAD"


def test_a_failing_collect_is_a_short_500(caplog: pytest.LogCaptureFixture) -> None:
    def collect() -> list[Family]:
        raise RuntimeError("store locked: secret detail")

    with caplog.at_level(logging.ERROR, logger="simpul.export"):
        status, headers, body = call(metrics_app(collect))
    assert status == "500 Internal Server Error"
    assert headers["Content-Type"].startswith("text/plain")
    assert body == b"metrics collection failed\n"
    assert "store locked" in caplog.text, "the traceback goes to the log"


def test_invalid_families_are_a_500_too() -> None:
    status, _headers, body = call(metrics_app(lambda: [Family("bad-name", "h", "gauge")]))
    assert (status, body) == ("500 Internal Server Error", b"metrics collection failed\n")
