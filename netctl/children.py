"""Helper daemons (dnsmasq, Unbound) that netd runs with configurations rendered from the model.

A child is restarted when its rendered configuration changes or when it dies (with back-off).
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
from collections.abc import Callable

log = logging.getLogger("simpul.netd")


def write_atomic(path: str, text: str, mode: int = 0o644) -> bool:
    """Write `text` to `path` via a temporary file and rename; False if the content was the same."""
    try:
        with open(path, encoding="utf-8") as handle:
            if handle.read() == text:
                return False
    except FileNotFoundError:
        pass
    tmp = f"{path}.tmp.{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.chmod(tmp, mode)
    os.replace(tmp, path)
    return True


class Child:
    """One supervised helper process."""

    def __init__(
        self, name: str, conf_path: str, argv: Callable[[str], list[str]], log_path: str
    ) -> None:
        self.name = name
        self.conf_path = conf_path
        self.argv = argv
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None
        self.restarts = 0
        self._next_start = 0.0

    @property
    def running(self) -> bool:
        """Whether the process is alive."""
        return self.proc is not None and self.proc.poll() is None

    def configure(self, text: str) -> None:
        """Install a rendered configuration; restart the child if it changed or is not running."""
        changed = write_atomic(self.conf_path, text)
        if changed and self.running:
            log.info("%s: configuration changed, restarting", self.name)
            self.stop()
        if not self.running:
            self.start()

    def start(self) -> None:
        """Start the process (logs appended to its log file)."""
        with open(self.log_path, "ab") as out:
            self.proc = subprocess.Popen(
                self.argv(self.conf_path), stdout=out, stderr=subprocess.STDOUT, close_fds=True
            )
        log.info("%s: started, pid %d", self.name, self.proc.pid)

    def stop(self, timeout_s: float = 5.0) -> None:
        """Stop the process: SIGTERM, then SIGKILL after `timeout_s`."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def watch(self, now: float) -> None:
        """Restart a child that died, at most every few seconds (doubling up to a minute)."""
        if self.proc is None or self.proc.poll() is None or now < self._next_start:
            return
        log.warning("%s: exited with %s, restarting", self.name, self.proc.returncode)
        self.restarts += 1
        self._next_start = now + min(60.0, 2.0 ** min(self.restarts, 6))
        self.start()

    def status(self) -> dict[str, object]:
        """What the API reports about this child."""
        return {
            "running": self.running,
            "pid": self.proc.pid if self.running and self.proc else None,
            "restarts": self.restarts,
            "config": self.conf_path,
        }
