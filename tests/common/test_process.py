"""`common.process`: the one launcher and readiness probe of run.py, the benchmark and the tests.

The processes here are small Python programs that behave as our servers might: one leaves a
child of its own behind when asked to stop, one ignores the stop signal, one dies at start.
"""

from __future__ import annotations

import os
import select
import signal
import sys
from pathlib import Path

import pytest

from common import process as process_module
from common.process import ServerProcess, StartError, http_ready
from tests.support.ports import free_port

# Asked to stop, it exits at once, leaving its own child behind (as a Gunicorn master that
# crashed would leave its workers). The child holds the FIFO argv[1] open for writing, says
# so with one byte and would never exit by itself: the FIFO's end of file is its death.
LEAVES_A_CHILD = """
import signal, subprocess, sys
subprocess.Popen([sys.executable, "-c",
    "import signal, sys; f = open(sys.argv[1], 'wb', 0); f.write(b'x'); signal.pause()",
    sys.argv[1]])
signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
print("ready", flush=True)
signal.pause()
"""
IGNORES_SIGTERM = """
import os, signal
signal.signal(signal.SIGTERM, signal.SIG_IGN)
print(f"ready {os.getpid()}", flush=True)
signal.pause()
"""
FAILURE_BOUND = 60.0  # s: only how long a broken stop() may take to be reported as a failure


def says_ready(log_file: Path) -> bool:
    return log_file.exists() and "ready" in log_file.read_text()


def test_stop_also_kills_what_the_process_left_behind(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    log = tmp_path / "parent.log"
    with ServerProcess(
        [sys.executable, "-c", LEAVES_A_CHILD, str(fifo)], log, lambda: says_ready(log)
    ) as parent:
        reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
        readable, _, _ = select.select([reader], [], [], FAILURE_BOUND)
        assert readable, "the child did not start"
        assert os.read(reader, 1) == b"x"
        assert parent.running
    # stop() has run. Reading the FIFO ends (EOF) only once no writer is left: the child died.
    readable, _, _ = select.select([reader], [], [], FAILURE_BOUND)
    assert readable, "the child left behind is still running"
    assert os.read(reader, 1) == b""
    os.close(reader)


def test_a_process_that_ignores_its_stop_signal_is_killed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(process_module, "STOP_TIMEOUT", 0.2)
    log = tmp_path / "stubborn.log"
    stubborn = ServerProcess(
        [sys.executable, "-c", IGNORES_SIGTERM], log, lambda: says_ready(log)
    ).start()
    pid = stubborn.pid
    stubborn.stop()
    assert not stubborn.running
    assert not Path(f"/proc/{pid}").exists()  # killed and reaped


def test_a_process_that_exits_while_starting_is_reported_with_its_log(tmp_path: Path) -> None:
    log = tmp_path / "dies.log"
    dies = ServerProcess(
        [sys.executable, "-c", "import sys; print('no such setting'); sys.exit(3)"],
        log, lambda: False,
    )
    with pytest.raises(StartError) as caught:
        dies.start()
    message = str(caught.value)
    assert "dies exited with status 3 while starting" in message
    assert str(log) in message
    assert "no such setting" in message
    assert not dies.running


def test_a_process_never_ready_is_stopped_and_reported(tmp_path: Path) -> None:
    log = tmp_path / "silent.log"
    silent = ServerProcess(
        [sys.executable, "-c", "import signal; print('started', flush=True); signal.pause()"],
        log, lambda: False, timeout=0.5,
    )
    with pytest.raises(StartError, match=r"silent was not ready within 0\.5 s"):
        silent.start()
    assert not silent.running
    assert "started" in silent.log()


def test_env_is_added_and_unset_names_are_removed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CLIENT_ID", "from-the-developer's-shell")
    log = tmp_path / "env.log"
    script = (
        "import os, signal; "
        "print(os.environ.get('CLIENT_ID'), os.environ.get('ADDED'), 'ready', flush=True); "
        "signal.pause()"
    )
    with ServerProcess(
        [sys.executable, "-c", script], log, lambda: says_ready(log),
        env={"ADDED": "yes"}, unset=["CLIENT_ID"],
    ) as shown:
        assert shown.log().split() == ["None", "yes", "ready"]


def test_send_signal_and_wait_report_the_exit_status(tmp_path: Path) -> None:
    log = tmp_path / "interrupted.log"
    script = (
        "import signal, sys; signal.signal(signal.SIGINT, lambda *_: sys.exit(7)); "
        "print('ready', flush=True); signal.pause()"
    )
    with ServerProcess([sys.executable, "-c", script], log, lambda: says_ready(log)) as proc:
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=FAILURE_BOUND) == 7
        assert not proc.running


def test_http_ready_is_true_once_a_server_answers_below_500(tmp_path: Path) -> None:
    port = free_port()
    root_ready = http_ready(f"http://127.0.0.1:{port}/")
    missing_ready = http_ready(f"http://127.0.0.1:{port}/no-such-file")
    assert not root_ready()  # nothing listens yet
    with ServerProcess(
        [sys.executable, "-m", "http.server", "--bind", "127.0.0.1", "--directory",
         str(tmp_path), str(port)],
        tmp_path / "http.log", root_ready,
    ):
        assert root_ready()
        assert missing_ready()  # 404: the server is up
    assert not root_ready()
