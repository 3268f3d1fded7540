"""`python run.py` with no tenant configured: the local tenant, the API and the web app together.

A person's path through it: sign up at the printed address, see the to-do page (the API is
wired in), press Ctrl-C, and all three are gone.
"""

from __future__ import annotations

import html
import signal
import socket
import subprocess
import sys
from pathlib import Path

from common.process import ServerProcess, http_ready
from tests.support.person import Person
from tests.support.ports import free_port

TENANT_SETTINGS = ("CLIENT_ID", "AUTHORITY", "TENANT_SUBDOMAIN", "CLIENT_SECRET", "PORT")


def listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def test_local_mode_starts_everything_and_ctrl_c_stops_it(tmp_path: Path) -> None:
    web_port, tenant_port, pages_port, api_port = (free_port() for _ in range(4))
    instance = tmp_path / "instance"
    run = ServerProcess(
        [sys.executable, "run.py", "--env-file", str(tmp_path / "absent.env"),
         "--instance", str(instance), "--port", str(web_port), "--tenant-port", str(tenant_port),
         "--tenant-pages-port", str(pages_port), "--api-port", str(api_port)],
        log_file=tmp_path / "run.log",
        ready=http_ready(f"http://localhost:{web_port}/"),
        unset=TENANT_SETTINGS,
        timeout=120,
    )
    with run:
        assert f"The web app is running at http://localhost:{web_port}" in run.log()
        for port in (tenant_port, pages_port, api_port):
            assert listening(port)
        ca_file = str(instance / "devtenant" / "ca.pem")
        grace = Person(f"http://localhost:{web_port}", ca_file)
        assert grace.sign_up("grace@example.com", "a long passphrase", "Grace").status_code == 302
        assert "Hi Grace!" in html.unescape(grace.get("/").text)
        todos = grace.get("/todos")
        assert todos.status_code == 200, todos.text
        run.send_signal(signal.SIGINT)
        try:
            assert run.wait(timeout=30) == 0
        except subprocess.TimeoutExpired:
            raise AssertionError(f"run.py did not stop on Ctrl-C:\n{run.log()}") from None
    assert "Stopping ..." in run.log()
    assert not listening(web_port)
    assert not listening(tenant_port)
    assert not listening(pages_port)
    assert not listening(api_port)
    assert (instance / "web" / "session_secret").is_file()
    assert (instance / "logs" / "devtenant.log").is_file()
