"""`python run.py` with no tenant configured: the local tenant, the API and the web app together.

A person's path through it: sign up at the printed address, see the to-do page (the API is wired
in), press Ctrl-C, and all three are gone. Out of the box, a delete and a profile save ask for a
second factor (the code from the tenant's mailbox page), and are done on return. What goes wrong
is said plainly: a port in use (held here by a socket of the test) is named with the option that
moves it, before anything starts or is stored; a tenant that does not come up leaves its data as
it was; a child that dies stops the rest.
"""

from __future__ import annotations

import contextlib
import html
import json
import os
import shlex
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests

from common.process import ROOT, ServerProcess, http_ready
from devtenant.store import DEFAULT_PAGES_PORT, DEFAULT_PORT, TenantStore
from tests.support.browser import Page, Redirect
from tests.support.person import Person
from tests.support.ports import free_port

TENANT_SETTINGS = ("CLIENT_ID", "AUTHORITY", "TENANT_SUBDOMAIN", "CLIENT_SECRET", "PORT")
PORT_OPTIONS = ("--port", "--tenant-port", "--tenant-pages-port", "--api-port")


@dataclass(frozen=True)
class Account:
    email: str
    password: str


def listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def command(tmp_path: Path, ports: dict[str, int]) -> list[str]:
    options = [str(part) for option, port in ports.items() for part in (option, port)]
    return [sys.executable, "run.py", "--env-file", str(tmp_path / "absent.env"),
            "--instance", str(tmp_path / "instance"), *options]


def local_mode(tmp_path: Path, ports: dict[str, int]) -> ServerProcess:
    """run.py in local mode on `ports`, ready once the web app answers."""
    return ServerProcess(
        command(tmp_path, ports), log_file=tmp_path / "run.log",
        ready=http_ready(f"http://localhost:{ports['--port']}/"), unset=TENANT_SETTINGS,
        timeout=120,
    )


def run_to_the_end(tmp_path: Path, ports: dict[str, int]) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in TENANT_SETTINGS}
    return subprocess.run(command(tmp_path, ports), cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=120, check=False)


def stored_ports(instance: Path) -> tuple[int, int]:
    tenant = json.loads((instance / "devtenant" / "tenant.json").read_text())
    return tenant["port"], tenant["pages_port"]


@pytest.fixture
def ports() -> dict[str, int]:
    return {option: free_port() for option in PORT_OPTIONS}


@pytest.fixture
def held(ports: dict[str, int], request: pytest.FixtureRequest) -> Iterator[int]:
    """The port of the option `request.param`, held by a listening socket of the test."""
    port = ports[request.param]
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", port))
        holder.listen()
        yield port


def test_local_mode_starts_everything_and_ctrl_c_stops_it(
    tmp_path: Path, ports: dict[str, int]
) -> None:
    instance = tmp_path / "instance"
    web_port = ports["--port"]
    with local_mode(tmp_path, ports) as run:
        assert f"The web app is running at http://localhost:{web_port}" in run.log()
        for port in ports.values():
            assert listening(port)
        ca_file = str(instance / "devtenant" / "ca.pem")
        grace = Person(f"http://localhost:{web_port}", ca_file)
        assert grace.sign_up("grace@example.com", "A long passphrase", "Grace").status_code == 302
        assert "Hi Grace!" in html.unescape(grace.get("/").text)
        todos = grace.get("/todos")
        assert todos.status_code == 200, todos.text
        assert stored_ports(instance) == (ports["--tenant-port"], ports["--tenant-pages-port"])
        run.send_signal(signal.SIGINT)
        try:
            assert run.wait(timeout=30) == 0
        except subprocess.TimeoutExpired:
            raise AssertionError(f"run.py did not stop on Ctrl-C:\n{run.log()}") from None
    assert "Stopping ..." in run.log()
    for port in ports.values():
        assert not listening(port)
    assert (instance / "web" / "session_secret").is_file()
    assert (instance / "logs" / "devtenant.log").is_file()
    assert (instance / "logs" / "api.log").is_file()
    web_log = (instance / "logs" / "web.log").read_text()
    assert "INFO app.requests: GET /todos 200 " in web_log  # the app's own request line
    assert "GET /todos 200" in run.log()  # on the console too


@pytest.mark.parametrize("held", PORT_OPTIONS, indirect=True)
def test_a_port_in_use_is_named_with_its_option_and_nothing_starts_or_is_stored(
    tmp_path: Path, ports: dict[str, int], held: int
) -> None:
    (option,) = [name for name, port in ports.items() if port == held]
    result = run_to_the_end(tmp_path, ports)
    assert result.returncode == 1, result.stderr
    assert f"  - port {held}, " in result.stderr
    assert f"({option})" in result.stderr
    assert "Traceback" not in result.stderr
    # The fix, ready to paste: the same command with another port for the busy one.
    suggested = shlex.split(result.stderr.strip().splitlines()[-1])
    assert suggested[:2] == ["python", "run.py"]
    chosen = {name: int(suggested[suggested.index(name) + 1]) for name in PORT_OPTIONS}
    assert chosen[option] != held
    assert {k: v for k, v in chosen.items() if k != option} == {
        k: v for k, v in ports.items() if k != option
    }
    assert "The web app is running" not in result.stdout
    for name, port in ports.items():
        if name != option:
            assert not listening(port)
    # The tenant's data keeps the ports it had (here, a first run: the defaults).
    assert stored_ports(tmp_path / "instance") == (DEFAULT_PORT, DEFAULT_PAGES_PORT)


def test_ports_stay_as_they_were_when_the_tenant_does_not_come_up(
    tmp_path: Path, ports: dict[str, int]
) -> None:
    tenant_dir = tmp_path / "instance" / "devtenant"
    TenantStore(tenant_dir)  # the data a first run created
    (tenant_dir / "server-key.pem").write_text("not a key\n")  # it cannot serve TLS now
    result = run_to_the_end(tmp_path, ports)
    assert result.returncode == 1, result.stderr
    log_file = tmp_path / "instance" / "logs" / "devtenant.log"
    assert f"run.py: devtenant exited with status 1 while starting; see {log_file}" in (
        result.stderr
    )
    assert stored_ports(tmp_path / "instance") == (DEFAULT_PORT, DEFAULT_PAGES_PORT)


def api_process(run_pid: int) -> int:
    """The pid of run.py's child serving the API (`python -m api`)."""
    children: list[int] = []
    for task in Path(f"/proc/{run_pid}/task").iterdir():
        # run.py's threads come and go (each request is served on one): a task may end
        # between listing and reading it.
        with contextlib.suppress(FileNotFoundError, ProcessLookupError):
            children += [int(pid) for pid in (task / "children").read_text().split()]
    for pid in children:
        args = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        if b"-m" in args and args[args.index(b"-m") + 1] == b"api":
            return pid
    raise AssertionError(f"run.py ({run_pid}) has no API child among {children}")


def test_a_child_that_dies_is_named_and_the_rest_is_stopped(
    tmp_path: Path, ports: dict[str, int]
) -> None:
    with local_mode(tmp_path, ports) as run:
        os.kill(api_process(run.pid), signal.SIGKILL)
        try:
            status = run.wait(timeout=30)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"run.py went on without the API:\n{run.log()}") from None
    assert status == 1
    api_log = tmp_path / "instance" / "logs" / "api.log"
    assert (f"run.py: the ToDoList API exited with status -9; its log is {api_log}"
            in run.log())
    for port in ports.values():
        assert not listening(port)


def _second_factor(person: Person, location: str) -> requests.Response:
    """Through the tenant's code page (the code from its mailbox) and back to the app."""
    page = person.tenant.open(person.start(location))
    assert isinstance(page, Page), "the tenant did not ask for a second factor"
    back = person.tenant.enter_code(person.tenant.expect_page(page, "verify"), person.user.email)
    assert isinstance(back, Redirect), back
    return person.deliver(back)


def test_local_mode_asks_for_a_second_factor_on_a_delete_and_a_profile_save(
    tmp_path: Path, ports: dict[str, int]
) -> None:
    web = f"http://localhost:{ports['--port']}"
    with local_mode(tmp_path, ports):
        ca_file = str(tmp_path / "instance" / "devtenant" / "ca.pem")
        ada = Person(web, ca_file, Account("ada@example.com", "A long passphrase"))
        assert ada.sign_up(ada.user.email, ada.user.password, "Ada").status_code == 302
        assert ada.post_form("/todos", {"description": "Sell the car"}).status_code == 302
        item = ada.get("/api/todolist").json()[0]["id"]
        away = ada.post_form(f"/todos/{item}/delete", {"description": "Sell the car"})
        assert urlsplit(away.headers["Location"]).path == "/auth/signin"
        assert _second_factor(ada, away.headers["Location"]).headers["Location"] == (
            "/todos/resume")
        assert ada.get("/todos/resume").headers["Location"] == "/todos"
        assert ada.get("/api/todolist").json() == []

        bob = Person(web, ca_file, Account("bob@example.com", "Another long passphrase"))
        assert bob.sign_up(bob.user.email, bob.user.password, "Bob").status_code == 302
        token = bob.csrf_token("/profile")
        page = bob.get("/profile").text
        assert 'name="display_name" value="Bob"' in page
        away = bob.post_form("/profile", {"display_name": "Bob Stepped-Up"}, csrf_token=token)
        assert _second_factor(bob, away.headers["Location"]).headers["Location"] == (
            "/profile/resume")
        assert bob.get("/profile/resume").headers["Location"] == "/profile"
        assert "Hi Bob Stepped-Up!" in html.unescape(bob.get("/").text)
