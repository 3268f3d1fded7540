"""Our servers as child processes: one launcher and one readiness probe for `run.py`, the
benchmark and the tests.

    with ServerProcess([sys.executable, "-m", "api", ...], log_dir / "api.log",
                       http_ready("https://localhost:44351/healthz", ca_file)) as api:
        ...  # api answers here; after the block nothing it started is left running

`ServerProcess` starts a command in a process group of its own, with its output in a log
file, and returns from `start()` once the readiness probe answers. `stop()` sends the stop
signal to the process, waits for it to exit, then kills whatever is left of its group, so
children it spawned (a server's workers, say) never outlive it, however it ended: stopped
cleanly, hung, crashed or killed. The process is not reaped before that last kill, so its
group id cannot have been reused by an unrelated process.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from pathlib import Path
from typing import ClassVar, Self

from common.http import HttpClient

ROOT = Path(__file__).resolve().parents[1]  # the repository: every child starts here
START_TIMEOUT = 60.0
STOP_TIMEOUT = 10.0
POLL_INTERVAL = 0.05
LOG_TAIL = 3000  # characters of the log quoted when a start fails


class StartError(RuntimeError):
    """A server could not be started (it exited while starting, was not ready in time, could
    not listen); the message says which, and where its log is."""


class ServerProcess:
    """A server started as `args` (a full command line), its output in `log_file`.

    `ready()` is polled after the start until it answers true (see `http_ready`). `env` is
    added to this process's environment; names in `unset` are removed from it. `stop_signal`
    is what `stop()` sends first (the tenant and Werkzeug stop at once on SIGINT); what is
    left of its process group is killed once it has exited, or `STOP_TIMEOUT` seconds later at
    the latest. Restartable: `start()` after `stop()` runs it again. Usable as a context
    manager. `ServerProcess.running_now()` names those started and not stopped yet (the test
    session checks at its end that none is left).
    """

    _started: ClassVar[dict[int, str]] = {}  # pid -> log file: started, not stopped yet

    @classmethod
    def running_now(cls) -> list[str]:
        """The log files of the processes started in this process and not stopped yet."""
        return sorted(cls._started.values())

    def __init__(
        self,
        args: Sequence[str],
        log_file: Path,
        ready: Callable[[], bool],
        *,
        env: Mapping[str, str] | None = None,
        unset: Collection[str] = (),
        stop_signal: int = signal.SIGTERM,
        timeout: float = START_TIMEOUT,
    ) -> None:
        self.args = list(args)
        self.log_file = log_file
        self.name = log_file.stem
        self.ready = ready
        environment = {**os.environ, **(env or {})}
        self.env = {k: v for k, v in environment.items() if k not in unset}
        self.stop_signal = stop_signal
        self.timeout = timeout
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        if self._proc is None:
            raise RuntimeError(f"{self.name} is not started")
        return self._proc.pid

    @property
    def running(self) -> bool:
        """Started and not exited (yet)."""
        return self._proc is not None and _exit_status(self._proc) is None

    def start(self) -> Self:
        """Start the process and return once `ready()` answers true.

        Raises `StartError` when the process exits first or is not ready within `timeout`
        seconds; whatever happens meanwhile (Ctrl-C included), nothing started is left running.
        """
        if self._proc is not None:
            raise RuntimeError(f"{self.name} is already started")
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        with self.log_file.open("ab") as log:
            self._proc = proc = subprocess.Popen(
                self.args, cwd=ROOT, env=self.env, stdin=subprocess.DEVNULL, stdout=log,
                stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip
        ServerProcess._started[proc.pid] = str(self.log_file)
        try:
            self._wait_until_ready(proc)
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_until_ready(self, proc: subprocess.Popen[bytes]) -> None:
        deadline = time.monotonic() + self.timeout
        while True:
            status = _exit_status(proc)
            if status is not None:
                raise StartError(f"{self.name} exited with status {status} while starting; "
                                 f"see {self.log_file}:\n{self.log()[-LOG_TAIL:]}")
            if self.ready():
                return
            if time.monotonic() > deadline:
                raise StartError(f"{self.name} was not ready within {self.timeout:g} s; "
                                 f"see {self.log_file}:\n{self.log()[-LOG_TAIL:]}")
            time.sleep(POLL_INTERVAL)

    def send_signal(self, signum: int) -> None:
        """Send `signum` to the process itself (not to its group), as Ctrl-C or kill would."""
        if self._proc is not None and _exit_status(self._proc) is None:
            # os.kill, not Popen.send_signal: that one reaps an exited process first.
            os.kill(self._proc.pid, signum)

    def wait(self, timeout: float) -> int:
        """The exit status once the process has exited (-N: killed by signal N); raises
        `subprocess.TimeoutExpired` after `timeout` seconds. Its group is still `stop()`'s."""
        proc = self._proc
        if proc is None:
            raise RuntimeError(f"{self.name} is not started")
        deadline = time.monotonic() + timeout
        while (status := _exit_status(proc)) is None:
            if time.monotonic() > deadline:
                raise subprocess.TimeoutExpired(self.args, timeout)
            time.sleep(POLL_INTERVAL)
        return status

    def stop(self) -> None:
        """Stop the process (its stop signal, then SIGKILL) and kill what is left of its group."""
        proc = self._proc
        if proc is None:
            return
        if _exit_status(proc) is None:
            os.kill(proc.pid, self.stop_signal)
            with contextlib.suppress(subprocess.TimeoutExpired):  # then killed with its group
                self.wait(STOP_TIMEOUT)
        # ProcessLookupError: the group is empty, the process left nothing behind.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        ServerProcess._started.pop(proc.pid, None)
        self._proc = None

    def log(self) -> str:
        """Everything the process has written so far (empty before it started)."""
        return self.log_file.read_text(errors="replace") if self.log_file.exists() else ""

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _exit_status(proc: subprocess.Popen[bytes]) -> int | None:
    """`proc`'s exit status if it has exited, else None; an exited process is left unreaped
    (a zombie keeps its pid, and so its group id, from being reused until `stop()`)."""
    if proc.returncode is not None:
        return proc.returncode
    try:
        info = os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
    except ChildProcessError:  # reaped already
        return proc.poll()
    if info is None:
        return None
    return info.si_status if info.si_code == os.CLD_EXITED else -info.si_status


def http_ready(url: str, ca_file: str | None = None) -> Callable[[], bool]:
    """A readiness probe: true once `url` answers with a status below 500 (redirects are not
    followed), over TLS trusting `ca_file` for https."""
    http = HttpClient(ca_file=ca_file, timeout=(1.0, 3.0))

    def probe() -> bool:
        try:
            return http.get(url, allow_redirects=False).status_code < 500
        except OSError:  # requests' errors are OSErrors, and so is a CA file not there yet
            return False

    return probe
