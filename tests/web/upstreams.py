"""Stand-ins for a broken ToDoList API: servers that hang, answer 500, or answer HTML.

They are not our component (the real API is tested against the real one); they exist to make
the web app meet the failures a real deployment meets: a server that accepts a connection and
never answers, a proxy answering 500 or an HTML error page, a port where nothing listens.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self

import requests


class HangingServer:
    """Accepts TCP connections on 127.0.0.1 and never sends a byte (until stopped)."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.accepted: list[socket.socket] = []
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/todolist"

    def _run(self) -> None:
        self.sock.settimeout(0.2)
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.accepted.append(conn)

    def __enter__(self) -> HangingServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self.thread.join()
        for conn in self.accepted:
            conn.close()
        self.sock.close()


class _LoopbackServer:
    """A threaded HTTP server on 127.0.0.1 with `handler`, as a context manager; `url` is
    where the web app would find the API on it."""

    def __init__(self, handler: type[BaseHTTPRequestHandler]) -> None:
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/todolist"

    def __enter__(self) -> Self:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()


class ScriptedServer(_LoopbackServer):
    """An HTTP server on 127.0.0.1 answering every request with `status`, `body`, `ctype`.

    `requests` records (method, path, headers, body) of what arrived. With `hang` set it reads
    the request and never answers (until stopped). All four may be changed while it runs.
    """

    def __init__(self, status: int = 500, body: Any = "", ctype: str = "text/html") -> None:
        self.status, self.body, self.ctype = status, body, ctype
        self.hang = False
        self._release = threading.Event()
        self.requests: list[tuple[str, str, dict[str, str], bytes]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                data = self.rfile.read(length) if length else b""
                outer.requests.append((self.command, self.path, dict(self.headers), data))
                if outer.hang:
                    outer._release.wait()
                    return
                payload = outer.body
                if not isinstance(payload, str | bytes):
                    payload = json.dumps(payload)
                raw = payload.encode() if isinstance(payload, str) else payload
                self.send_response(outer.status)
                self.send_header("Content-Type", outer.ctype)
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            do_GET = do_POST = do_PUT = do_DELETE = _answer

            def log_message(self, format: str, *args: object) -> None:
                return

        super().__init__(Handler)

    def __exit__(self, *exc: object) -> None:
        self._release.set()
        super().__exit__(*exc)


class RelayServer(_LoopbackServer):
    """An HTTP server on 127.0.0.1 that relays every request to the real API at `target`
    (its https origin, trusting `ca_file`) and, once the API has answered a POST, calls
    `after_post()` before passing the answer on: something can go wrong at exactly the
    moment the API has already changed data.
    """

    def __init__(self, target: str, ca_file: str, after_post: Callable[[], None]) -> None:
        self.after_post = after_post
        http = requests.Session()
        http.trust_env = False
        http.verify = ca_file
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def _relay(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                data = self.rfile.read(length) if length else None
                headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
                answer = http.request(self.command, target + self.path, data=data,
                                      headers=headers, allow_redirects=False, timeout=30)
                if self.command == "POST":
                    outer.after_post()
                self.send_response(answer.status_code)
                for name in ("Content-Type", "Location"):
                    if name in answer.headers:
                        self.send_header(name, answer.headers[name])
                self.send_header("Content-Length", str(len(answer.content)))
                self.end_headers()
                self.wfile.write(answer.content)

            do_GET = do_POST = do_PUT = do_DELETE = _relay

            def log_message(self, format: str, *args: object) -> None:
                return

        super().__init__(Handler)
