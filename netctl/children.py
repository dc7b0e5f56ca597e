"""Helper daemons (dnsmasq, Unbound, the DNS front end) that netd runs with configurations
rendered from the model.

A child is restarted (or, if it can, told to reload) when its rendered configuration changes,
and restarted when it dies (with back-off). When
netd itself crashes its helpers keep serving DHCP and DNS; the next netd adopts them by their pid
files instead of starting a second copy that could not bind the ports.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

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


def pid_alive(pid: int) -> bool:
    """Whether `pid` runs (a zombie does not count)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(") ", 1)[1][:1]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


def _cmdline(pid: int) -> list[str]:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")
    except OSError:
        return []


class Child:
    """One supervised helper process, started by this netd or adopted from an earlier one."""

    def __init__(
        self,
        name: str,
        conf_path: str,
        argv: Callable[[str], list[str]],
        log_path: str,
        pid_file: str,
        reload_signal: int | None = None,
    ) -> None:
        self.name = name
        self.reload_signal = reload_signal
        self.conf_path = conf_path
        self.argv = argv
        self.log_path = log_path
        self.pid_file = pid_file
        self.proc: subprocess.Popen[bytes] | None = None
        self.adopted_pid: int | None = None
        self.restarts = 0
        self._next_start = 0.0

    @property
    def pid(self) -> int | None:
        """The helper's pid while it runs."""
        if self.proc is not None:
            return self.proc.pid if self.proc.poll() is None else None
        if self.adopted_pid is not None and pid_alive(self.adopted_pid):
            return self.adopted_pid
        return None

    @property
    def running(self) -> bool:
        """Whether the process is alive."""
        return self.pid is not None

    def _adopt(self) -> None:
        """Take over a helper an earlier netd started with this configuration file."""
        try:
            pid = int(Path(self.pid_file).read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return
        if pid_alive(pid) and any(self.conf_path in arg for arg in _cmdline(pid)):
            self.adopted_pid = pid
            log.info("%s: adopted running pid %d", self.name, pid)

    def configure(self, text: str) -> None:
        """Install a rendered configuration; restart the child if it changed or is not running."""
        if self.proc is None and self.adopted_pid is None:
            self._adopt()
        changed = write_atomic(self.conf_path, text)
        pid = self.pid
        if changed and pid is not None and self.reload_signal is not None:
            log.info("%s: configuration changed, reloading", self.name)
            try:
                os.kill(pid, self.reload_signal)
            except ProcessLookupError:  # it died just now: `watch` starts it again
                log.warning("%s: gone before it could reload", self.name)
        elif changed and pid is not None:
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
        self.adopted_pid = None
        log.info("%s: started, pid %d", self.name, self.proc.pid)

    def stop(self, timeout_s: float = 5.0) -> None:
        """Stop the process: SIGTERM, then SIGKILL after `timeout_s`."""
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.send_signal(signal.SIGTERM)
                try:
                    self.proc.wait(timeout_s)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait()
            self.proc = None
        elif self.adopted_pid is not None:
            for sig, wait_s in ((signal.SIGTERM, timeout_s), (signal.SIGKILL, 1.0)):
                if not pid_alive(self.adopted_pid):
                    break
                os.kill(self.adopted_pid, sig)
                deadline = time.monotonic() + wait_s
                while time.monotonic() < deadline and pid_alive(self.adopted_pid):
                    time.sleep(0.05)
            self.adopted_pid = None

    def watch(self, now: float) -> None:
        """Restart a child that died, at most every few seconds (doubling up to a minute)."""
        if self.running or (self.proc is None and self.adopted_pid is None):
            return
        if now < self._next_start:
            return
        code = self.proc.returncode if self.proc is not None else "an unknown status"
        log.warning("%s: exited with %s, restarting", self.name, code)
        self.restarts += 1
        self._next_start = now + min(60.0, 2.0 ** min(self.restarts, 6))
        self.start()

    def status(self) -> dict[str, object]:
        """What the API reports about this child."""
        return {
            "running": self.running,
            "pid": self.pid,
            "adopted": self.adopted_pid is not None,
            "restarts": self.restarts,
            "config": self.conf_path,
        }
