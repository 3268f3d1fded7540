"""What serves the apps (`python -m common.serve`, Granian and `common.buffering`): clients that
send half a header or half a body hold nothing, a header that never ends is dropped, a body that
never ends is refused at its deadline, a body over the limit is refused (announced: before it is
read), TLS for the API, and SIGTERM or SIGINT stop it.

Slow clients are real sockets that send part of a request and wait. The server runs with fewer
Python threads than there are such clients, so a server that gave each of them a thread would
have none left for the normal request, which must be answered within 1 second.
"""

from __future__ import annotations

import contextlib
import signal
import socket
import ssl
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from common.process import ServerProcess, http_ready
from tests.api.tokens import READWRITE_ALL, Tokens
from tests.prod.conftest import ProdWeb
from tests.support.ports import free_port

SLOW_CLIENTS = 10
FEW_THREADS = {"WEB_CONCURRENCY": "1", "THREADS": "2"}


@contextlib.contextmanager
def slow_clients(
    port: int, first_bytes: bytes, tls_ca: str | None = None
) -> Iterator[list[socket.socket]]:
    """SLOW_CLIENTS connections to `port` that each sent `first_bytes` and then nothing."""
    context = ssl.create_default_context(cafile=tls_ca) if tls_ca else None
    opened: list[socket.socket] = []
    try:
        for _ in range(SLOW_CLIENTS):
            sock = socket.create_connection(("127.0.0.1", port), timeout=10)
            if context is not None:
                sock = context.wrap_socket(sock, server_hostname="localhost")
            opened.append(sock)
            sock.sendall(first_bytes)
        yield opened
    finally:
        for sock in opened:
            sock.close()


def answer_of(sock: socket.socket) -> bytes:
    """What the server sent on `sock` until it closed it or 10 s passed."""
    received = b""
    with contextlib.suppress(TimeoutError, ConnectionError, ssl.SSLError):
        while chunk := sock.recv(4096):
            received += chunk
            if b"\r\n\r\n" in received:
                break
    return received


def until_closed(sock: socket.socket) -> bytes:
    """All the server sent on `sock` until it closed it (TimeoutError after 10 s)."""
    received = b""
    while chunk := sock.recv(4096):
        received += chunk
    return received


HALF_HEADER = b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nX-Slow: "
# A form (the web app's CSRF check reads it) announced at 100 bytes, of which 12 are sent.
HALF_BODY = (b"POST /todos HTTP/1.1\r\nHost: localhost\r\n"
             b"Content-Type: application/x-www-form-urlencoded\r\n"
             b"Content-Length: 100\r\n\r\ndescription=")


@pytest.mark.parametrize("first_bytes", [HALF_HEADER, HALF_BODY], ids=["header", "body"])
def test_clients_sending_half_a_request_do_not_delay_the_web_app(
    prod_web_settings: dict[str, str], tmp_path: Path, first_bytes: bytes
) -> None:
    with ProdWeb(prod_web_settings, tmp_path, **FEW_THREADS) as web, \
            slow_clients(web.port, first_bytes):
        resp = requests.get(f"http://127.0.0.1:{web.port}/healthz", timeout=1.0)
        assert resp.status_code == 200


def test_clients_sending_half_a_header_do_not_delay_the_api(api_server_factory: Any) -> None:
    api = api_server_factory()  # python -m api: 1 worker x 4 threads, https
    with slow_clients(api.port, HALF_HEADER, tls_ca=api.ca_file):
        resp = api.http.get(f"{api.base}/healthz", timeout=1.0)
        assert resp.status_code == 200


def test_clients_sending_half_a_body_do_not_delay_the_api(
    api_server_factory: Any, tenant: Any
) -> None:
    api = api_server_factory()
    token = Tokens(tenant).app(READWRITE_ALL).token
    # A JSON body with a valid token: what the API reads.
    half_body = (f"POST /api/todolist HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer "
                 f"{token}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n"
                 '{"description": "').encode()
    with slow_clients(api.port, half_body, tls_ca=api.ca_file):
        resp = api.http.get(f"{api.base}/healthz", timeout=1.0)
        assert resp.status_code == 200


def test_a_body_that_never_ends_is_refused_at_its_deadline_and_the_connection_closed(
    prod_web_settings: dict[str, str], tmp_path: Path
) -> None:
    with ProdWeb(prod_web_settings, tmp_path, BODY_READ_TIMEOUT="1") as web, \
            slow_clients(web.port, HALF_BODY) as clients:
        # Read to the end: the server closes each connection (10 s is the socket's own timeout).
        answers = [until_closed(sock) for sock in clients]
        log = web.log()
    assert all(answer.startswith(b"HTTP/1.1 408") for answer in answers), answers[0]
    assert all(b"application/problem+json" in answer for answer in answers)
    assert all(b'"detail": "The request body did not arrive within 1 seconds."' in answer
               for answer in answers)
    assert log.count("408 POST /todos from 127.0.0.1: The request body did not arrive within 1 "
                     "seconds.") == SLOW_CLIENTS


def test_a_chunked_body_over_the_limit_is_refused_when_it_passes_it(
    prod_web_settings: dict[str, str], tmp_path: Path
) -> None:
    chunk = b"x" * 800
    request = (b"POST /todos HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n"
               + b"320\r\n" + chunk + b"\r\n")
    with ProdWeb(prod_web_settings, tmp_path, MAX_BODY_BYTES="1000") as web, \
            slow_clients(web.port, request) as clients:
        first = clients[0]
        first.sendall(b"320\r\n" + chunk + b"\r\n")  # 1,600 bytes: past the limit, not ended
        answer = answer_of(first)
    assert answer.startswith(b"HTTP/1.1 413"), answer


def test_a_header_that_never_ends_is_dropped(
    prod_web_settings: dict[str, str], tmp_path: Path
) -> None:
    with ProdWeb(prod_web_settings, tmp_path, HEADER_READ_TIMEOUT="1") as web, \
            slow_clients(web.port, HALF_HEADER) as clients:
        # The server closes each connection at the deadline; 10 s is the socket's own timeout.
        assert all(b"200 OK" not in answer_of(sock) for sock in clients)
        assert all(sock.recv(1) == b"" for sock in clients)


def test_a_body_over_the_limit_is_refused_before_it_is_read(
    prod_web_settings: dict[str, str], tmp_path: Path
) -> None:
    announce = b"POST /todos HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5000000\r\n\r\n"
    with ProdWeb(prod_web_settings, tmp_path) as web, slow_clients(web.port, announce) as clients:
        assert answer_of(clients[0]).startswith(b"HTTP/1.1 413")


def test_the_api_is_served_over_tls_only(api_server_factory: Any) -> None:
    api = api_server_factory()
    assert api.http.get(f"{api.base}/healthz").status_code == 200
    with pytest.raises(requests.ConnectionError):
        requests.get(f"http://127.0.0.1:{api.port}/healthz", timeout=5)


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT])
def test_the_server_stops_on_sigterm_and_sigint_within_its_graceful_timeout(
    prod_web_settings: dict[str, str], tmp_path: Path, stop: int
) -> None:
    port = free_port()
    env = {**prod_web_settings, "BIND": f"127.0.0.1:{port}", "GRACEFUL_TIMEOUT": "5",
           "REDIRECT_URI": f"http://localhost:{port}/auth/redirect",
           "POST_LOGOUT_REDIRECT_URI": f"http://localhost:{port}/",
           "INSTANCE_DIR": str(tmp_path / "instance"), **FEW_THREADS}
    server = ServerProcess([sys.executable, "-m", "common.serve", "app:create_app"],
                           tmp_path / "web.log", http_ready(f"http://127.0.0.1:{port}/healthz"),
                           env=env)
    with server, slow_clients(port, HALF_HEADER):
        assert requests.get(f"http://127.0.0.1:{port}/healthz", timeout=5).status_code == 200
        server.send_signal(stop)
        try:
            status = server.wait(timeout=5 + 5)  # GRACEFUL_TIMEOUT, and as much again
        except subprocess.TimeoutExpired:
            pytest.fail(f"still running after its graceful timeout:\n{server.log()[-2000:]}")
        assert status == 0, server.log()[-2000:]
        with pytest.raises(requests.ConnectionError):
            requests.get(f"http://127.0.0.1:{port}/healthz", timeout=5)
        assert live_members_of_group(server.pid) == []


def live_members_of_group(pgid: int) -> list[int]:
    """The processes of group `pgid` that have not exited (zombies are not counted)."""
    members = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError):
            state, _ppid, group = stat.read_text().rsplit(")", 1)[1].split()[:3]
            if int(group) == pgid and state != "Z":
                members.append(int(stat.parent.name))
    return members
