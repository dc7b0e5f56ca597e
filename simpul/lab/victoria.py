"""VictoriaMetrics (Debian's /usr/bin/victoria-metrics) as the InfluxDB v2 API server of the export
tests and benchmark: on 127.0.0.1 with a free port and a data directory of its own, stopped and
started again at will (same port, same data), and always stopped at the end. The lab's internet
runs one too, with the same command line (`victoria_argv`).

It takes influxdb-client's writes on /api/v2/write (gzip too) and names series
`measurement_field`; `export()` reads them back through /api/v1/export (JSON lines).
"""

from __future__ import annotations

import json
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

BINARY = "/usr/bin/victoria-metrics"
READY_S = 20


def free_port() -> int:
    """A TCP port of 127.0.0.1 nobody listens on (at this moment)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def victoria_argv(listen: str, data_path: Path, *flags: str) -> list[str]:
    """VictoriaMetrics on `listen` (host:port) with its data in `data_path`, logging only
    errors; `flags` are extra command-line flags."""
    return [BINARY, f"-httpListenAddr={listen}", f"-storageDataPath={data_path}",
            "-loggerLevel=ERROR", *flags]  # fmt: skip


class Victoria:
    """One VictoriaMetrics process on 127.0.0.1 (`flags` are extra command-line flags)."""

    def __init__(self, data_path: Path, *flags: str) -> None:
        self.data_path = data_path
        self.flags = flags
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = data_path.parent / f"{data_path.name}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Start it and wait until /health answers."""
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                victoria_argv(f"127.0.0.1:{self.port}", self.data_path, *self.flags),
                stdout=log, stderr=log,
            )  # fmt: skip
        deadline = time.monotonic() + READY_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"victoria-metrics exited: {self.log.read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(f"{self.url}/health", timeout=1) as answer:
                    if answer.status == 200:
                        return
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"victoria-metrics not ready within {READY_S} s: {self.log}")

    def stop(self) -> None:
        """Stop it (SIGTERM, then SIGKILL after 15 s); its data stays."""
        if self.proc is None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc = None

    def get(self, path: str, **query: str) -> bytes:
        """GET a path of its HTTP API."""
        url = f"{self.url}{path}" + (f"?{urlencode(query)}" if query else "")
        with urllib.request.urlopen(url, timeout=10) as answer:
            return answer.read()

    def export(self, match: str) -> dict[tuple[tuple[str, str], ...], list[tuple[int, float]]]:
        """Every series matching the selector: its labels (sorted, `__name__` included) → its
        (timestamp ms, value) samples in time order."""
        self.get("/internal/force_flush")  # make what was just written searchable
        series: dict[tuple[tuple[str, str], ...], list[tuple[int, float]]] = {}
        for line in self.get("/api/v1/export", **{"match[]": match}).splitlines():
            item: dict[str, Any] = json.loads(line)
            key = tuple(sorted(item["metric"].items()))
            series.setdefault(key, []).extend(zip(item["timestamps"], item["values"], strict=True))
        return {key: sorted(samples) for key, samples in series.items()}

    def values(self, name: str) -> list[float]:
        """All values of the series named `name` (any labels), in time order per series."""
        return [v for samples in self.export(f'{{__name__="{name}"}}').values() for _, v in samples]


@contextmanager
def victoria(data_path: Path, *flags: str) -> Iterator[Victoria]:
    """A started VictoriaMetrics, stopped when the block ends (also on failure)."""
    vm = Victoria(data_path, *flags)
    try:
        vm.start()
        yield vm
    finally:
        vm.stop()
