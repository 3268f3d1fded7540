"""A key endpoint standing in for the tenant's `jwks_uri`, on a real loopback socket.

`JwksServer(keys)` serves `{"keys": keys}` over plain http and counts the requests. `hold()`
makes the next request wait until the test releases it, so a test can act while a key-set
fetch is in progress and tell afterwards whether something happened before it was answered:

    hold = server.hold()
    ...start whatever fetches...
    assert hold.arrived.wait(WAIT)      # the fetch is at the server, unanswered
    ...act...
    finished_first = not hold.answering.is_set()
    hold.release.set()

A held request is answered after `HOLD_LIMIT` seconds even without a release, so code that
waits for the fetch where it should not still lets the test finish (and fail its ordering
assertion) instead of hanging. Clients must then wait longer than that for an answer
(`client()`): a read timeout first would end the fetch early and hide the wait.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from common.http import HttpClient

HOLD_LIMIT = 20.0
# How long a test waits for something that must happen (an event that, in working code,
# comes at once): a bound on a broken run, not a measure of speed.
WAIT = 30.0


def client() -> HttpClient:
    """An HTTP client that waits for a held answer (its read timeout is past `HOLD_LIMIT`)."""
    return HttpClient(timeout=(3.05, HOLD_LIMIT + WAIT))


def rsa_jwk(kid: str) -> dict[str, Any]:
    """The public JWK of a new RSA signing key named `kid`."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return {**RSAAlgorithm.to_jwk(key.public_key(), as_dict=True), "kid": kid, "use": "sig"}


@dataclass
class Hold:
    """One held request: `arrived` when it reached the server, `release` to let it be
    answered (with `status`); `answering` is set before the first byte of the answer is
    written, so whatever has the answer (or waited for it) comes after `answering`."""

    status: int = 200
    arrived: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)
    answering: threading.Event = field(default_factory=threading.Event)


class JwksServer:
    def __init__(self, keys: list[dict[str, Any]]) -> None:
        self.keys = list(keys)
        self.requests = 0
        self._lock = threading.Lock()
        self._hold: Hold | None = None
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                with server._lock:
                    server.requests += 1
                    hold, server._hold = server._hold, None
                if hold is not None:
                    hold.arrived.set()
                    hold.release.wait(HOLD_LIMIT)
                    hold.answering.set()
                status = 200 if hold is None else hold.status
                body = json.dumps({"keys": server.keys}).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_port}/discovery/v2.0/keys"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def hold(self, status: int = 200) -> Hold:
        """Hold the next request until released; then answer it with `status`."""
        hold = Hold(status=status)
        with self._lock:
            self._hold = hold
        return hold

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> JwksServer:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
