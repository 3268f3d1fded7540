"""A WSGI app behind an ASGI front that receives each request whole, under a deadline, before a
Python thread sees it.

Why not Granian's WSGI interface: there a WSGI app reads the request body from its own thread,
and a client that announces a body and sends it slowly (or never) holds that thread for as long
as it keeps the connection open. Granian has no body deadline (upstream declined it), and a
deadline kept by the app cannot free the thread: Granian's read goes on until the client closes.
Here the body is received on the event loop, where waiting costs no thread:

- a body larger than `max_body` bytes is refused with 413 (announced: after it is read and
  dropped, so that the client gets the answer rather than a reset, or before any of it is read
  when it announces more than `MAX_DRAIN_BYTES`; sent in chunks: as soon as it passes the
  limit);
- a body not received within `body_timeout` seconds is refused with 408 and the connection
  closed;
- a request without `Content-Length` or `Transfer-Encoding` has no body (RFC 9112 §6.3) and goes
  straight to a thread;
- then the WSGI app runs in one of `threads` threads and its whole response is sent.

Refusals are problem+json with one log line (logger `common.serve`) naming the method, path and
client. Responses are not streamed: neither app streams one (pages, JSON, small static files).

Why not a2wsgi (the usual ASGI→WSGI adapter): it reads the body from the app's thread too, and
it round-trips to the event loop for every part of the response, which made it several times
slower than Granian's WSGI interface here. This front costs one hand-off to a thread and back
per request; docs/bench.md has what it costs against Granian's WSGI interface.
"""

from __future__ import annotations

import asyncio
import functools
import io
import json
import logging
import sys
from collections.abc import Awaitable, Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from http import HTTPStatus
from typing import Any
from urllib.parse import unquote_to_bytes

WSGIApp = Callable[..., Iterable[bytes]]
Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
Headers = list[tuple[bytes, bytes]]
Response = tuple[int, Headers, bytes]

log = logging.getLogger("common.serve")

MAX_DRAIN_BYTES = 1024 * 1024  # an announced body over the limit up to this is read, then refused

# Headers that are not `HTTP_*` in a WSGI environ (PEP 3333).
_UNPREFIXED = {b"content-type": "CONTENT_TYPE", b"content-length": "CONTENT_LENGTH"}


@functools.lru_cache(maxsize=512)  # bounded: clients choose header names
def environ_key(name: bytes) -> str:
    """The environ key of the request header `name` (lower case, as ASGI gives it)."""
    return _UNPREFIXED.get(name) or "HTTP_" + name.decode("latin-1").upper().replace("-", "_")


def problem(status: int, detail: str, instance: str) -> Response:
    """An RFC 9457 problem, as the API writes them (api/errors.py), closing the connection."""
    body = json.dumps({"type": "about:blank", "title": HTTPStatus(status).phrase,
                       "status": status, "detail": detail, "instance": instance}).encode()
    return status, [(b"content-type", b"application/problem+json"), (b"connection", b"close"),
                    (b"content-length", str(len(body)).encode())], body


class BufferedWSGI:
    """The ASGI app (`asginl`: no lifespan) serving `wsgi_app` as the module docstring says."""

    def __init__(self, wsgi_app: WSGIApp, *, threads: int, body_timeout: float,
                 max_body: int) -> None:
        self.wsgi_app = wsgi_app
        self.body_timeout = body_timeout
        self.max_body = max_body
        self.pool = ThreadPoolExecutor(threads, thread_name_prefix="wsgi")
        self.base_environ: dict[str, Any] = {
            "wsgi.version": (1, 0),
            "wsgi.errors": sys.stderr,
            "wsgi.multithread": True,
            "wsgi.multiprocess": True,
            "wsgi.run_once": False,
            "wsgi.input_terminated": True,
        }

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        environ = self.environ(scope)
        body = await self.body(scope, environ, receive)
        if isinstance(body, bytes):
            environ["wsgi.input"] = io.BytesIO(body)
            loop = asyncio.get_running_loop()
            status, headers, content = await loop.run_in_executor(self.pool, self.call, environ)
        elif body is None:
            return  # the client went away
        else:
            status, headers, content = body
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": content})

    async def body(
        self, scope: Scope, environ: dict[str, Any], receive: Receive
    ) -> bytes | Response | None:
        """The whole request body (its length and encoding read from the request's `environ`);
        a refusal to send instead; None if the client left."""
        length: str | None = environ.get("CONTENT_LENGTH")
        if length is None and "HTTP_TRANSFER_ENCODING" not in environ:
            return b""
        announced = int(length) if length is not None and length.isdigit() else 0
        # An announced body over the limit but of modest size is read and dropped before the
        # 413 (as api/errors.py does): answering while the client still sends closes a
        # connection with unread data, which the client sees as a reset instead of the answer.
        drain = announced > self.max_body
        if drain and announced > MAX_DRAIN_BYTES:
            return self.too_large(scope)
        chunks: list[bytes] = []
        size = 0
        try:
            async with asyncio.timeout(self.body_timeout):
                while True:
                    message = await receive()
                    if message["type"] != "http.request":
                        return None
                    chunk = message.get("body", b"")
                    size += len(chunk)
                    if not drain:
                        if size > self.max_body:
                            return self.too_large(scope)
                        chunks.append(chunk)
                    if not message.get("more_body", False):
                        return self.too_large(scope) if drain else b"".join(chunks)
        except TimeoutError:
            return self.refuse(scope, 408, "The request body did not arrive within "
                               f"{self.body_timeout:g} seconds.")

    def too_large(self, scope: Scope) -> Response:
        return self.refuse(scope, 413, f"The request body is larger than {self.max_body} bytes.")

    def refuse(self, scope: Scope, status: int, detail: str) -> Response:
        client = scope.get("client")
        log.warning("%s %s %s from %s: %s", status, scope["method"], scope["path"],
                    client[0] if client else "?", detail)
        return problem(status, detail, scope["path"])

    def environ(self, scope: Scope) -> dict[str, Any]:
        """The WSGI environ of an ASGI request, but for `wsgi.input` (PEP 3333: `PATH_INFO` is the
        percent-decoded path as bytes read as latin-1)."""
        environ = self.base_environ.copy()
        server = scope.get("server") or ("localhost", "80")
        client = scope.get("client")
        raw_path = scope.get("raw_path")
        path = unquote_to_bytes(raw_path) if raw_path else scope["path"].encode()
        environ.update({
            "REQUEST_METHOD": scope["method"],
            "SCRIPT_NAME": scope.get("root_path", ""),
            "PATH_INFO": path.decode("latin-1"),
            "QUERY_STRING": scope["query_string"].decode("latin-1"),
            "SERVER_NAME": server[0],
            "SERVER_PORT": str(server[1]),
            "SERVER_PROTOCOL": "HTTP/" + scope["http_version"],
            "REMOTE_ADDR": client[0] if client else "",
            "wsgi.url_scheme": scope["scheme"],
        })
        for name, value in scope["headers"]:
            key = environ_key(name)
            text = value.decode("latin-1")
            if key in environ:
                text = environ[key] + ("; " if key == "HTTP_COOKIE" else ",") + text
            environ[key] = text
        return environ

    def call(self, environ: dict[str, Any]) -> Response:
        """Run the WSGI app in this (pool) thread; its status, headers and whole body."""
        started: list[Any] = []
        written: list[bytes] = []

        def start_response(status: str, headers: list[tuple[str, str]],
                           exc_info: Any = None) -> Callable[[bytes], None]:
            started[:] = [status, headers]
            return written.append

        result = self.wsgi_app(environ, start_response)
        try:
            written.extend(result)
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                close()
        status, headers = started
        encoded = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers]
        return int(status[:3]), encoded, b"".join(written)
