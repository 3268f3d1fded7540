"""Serving the app with Werkzeug's threaded WSGI server (local use) without leaking secrets.

The provider's answer arrives as `/auth/redirect?code=...&state=...`; a stock access log would
write the authorization code to the log. `RedactingRequestHandler` logs such values as `[...]`.
"""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode, urlsplit

from flask import Flask
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler
from werkzeug.serving import make_server as werkzeug_make_server

SENSITIVE_PARAMETERS = frozenset(
    {"code", "state", "id_token", "access_token", "refresh_token", "client_info",
     "session_state", "csrf_token"}
)


def redact(path: str) -> str:
    """`path` with the values of sensitive query parameters replaced by `[...]`."""
    parts = urlsplit(path)
    if not parts.query:
        return path
    pairs = [
        (key, "[...]" if key.lower() in SENSITIVE_PARAMETERS else value)
        for key, value in parse_qsl(parts.query, keep_blank_values=True)
    ]
    return f"{parts.path}?{urlencode(pairs, safe='[]./:')}"


class RedactingRequestHandler(WSGIRequestHandler):
    """Werkzeug's request handler with an access log that never shows codes or tokens."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        path = redact(getattr(self, "path", "") or "")
        line = f"{self.command} {path} {self.request_version}".translate(
            self._control_char_table
        )
        self.log("info", '"%s" %s %s', line, code, size)


def make_server(app: Flask, host: str, port: int) -> BaseWSGIServer:
    """A threaded server for `app` on `host:port` (raises OSError if the port is taken)."""
    return werkzeug_make_server(
        host, port, app, threaded=True, request_handler=RedactingRequestHandler
    )
