"""Starting and stopping our own servers as real processes for integration tests."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import requests

from common.http import HttpClient

ROOT = Path(__file__).resolve().parents[2]


class ServerProcess:
    """A server started as `python -m <module> ...`, with its output kept in a log file.

    `start()` returns once `ready()` answers true (polled until `timeout` seconds have passed);
    `stop()` terminates it. Usable as a context manager.
    """

    def __init__(
        self,
        args: Sequence[str],
        log_file: Path,
        ready: Callable[[], bool],
        env: Mapping[str, str] | None = None,
        timeout: float = 30.0,
        stop_signal: int = signal.SIGTERM,
    ) -> None:
        """`stop_signal` is sent first at `stop()` (Gunicorn stops at once on SIGINT, while
        SIGTERM drains keep-alive connections for seconds); SIGKILL follows after 10 s."""
        self.args = [sys.executable, *args]
        self.log_file = log_file
        self.ready = ready
        self.env = {**os.environ, **(env or {})}
        self.timeout = timeout
        self.stop_signal = stop_signal
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> ServerProcess:
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        log = self.log_file.open("ab")
        self.proc = subprocess.Popen(
            self.args, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT
        )
        log.close()
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.args} exited early; see {self.log_file}:\n{self.log()}")
            if self.ready():
                return self
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"{self.args} was not ready in {self.timeout}s; see {self.log_file}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(self.stop_signal)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def log(self) -> str:
        return self.log_file.read_text(errors="replace") if self.log_file.exists() else ""

    def __enter__(self) -> ServerProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def http_ready(url: str, ca_file: str | None = None) -> Callable[[], bool]:
    """A readiness probe: true once `url` answers with any status below 500."""
    http = HttpClient(ca_file=ca_file, timeout=(1, 2))

    def probe() -> bool:
        try:
            return http.get(url).status_code < 500
        except requests.RequestException:
            return False

    return probe
