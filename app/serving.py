"""Serving the app: the request log, request ids, trusted proxies, and Werkzeug for local use.

The provider's answer arrives as `/auth/redirect?code=...&state=...`; a stock access log would
write the authorization code to the log. So:
- `init_app` logs one line per request itself (logger `app.requests`: method, path with
  sensitive query values as `[...]`, status, duration, request id) and gives each request an id
  (the caller's `X-Request-ID` when it is a plain short token, else a new one) that is sent on
  to the ToDoList API and echoed in the response. In production this is the access log
  (`common.serve` switches Granian's own off).
- `RedactingRequestHandler` does the same for Werkzeug's access log (local use).
- `trust_proxies` applies `X-Forwarded-For/-Proto/-Host/-Port` only for the configured number
  of proxy hops (`TRUSTED_PROXY_HOPS`; 0, the default, trusts none).
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from flask import Flask, request
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler
from werkzeug.serving import make_server as werkzeug_make_server

from common import requestlog

SENSITIVE_PARAMETERS = frozenset(
    {"code", "state", "id_token", "access_token", "refresh_token", "client_info",
     "session_state", "csrf_token"}
)


log = logging.getLogger("app.requests")


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


def init_app(app: Flask) -> None:
    """Request ids and the one-line-per-request log (registered first, so it runs last)."""
    requestlog.install(
        app, log, lambda: redact(request.full_path if request.query_string else request.path)
    )


def trust_proxies(app: Flask, hops: int) -> None:
    """Apply the `X-Forwarded-*` headers of `hops` proxies in front of the app (0: none)."""
    if hops > 0:
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops, x_port=hops
        )


class RedactingRequestHandler(WSGIRequestHandler):
    """Werkzeug's request handler with an access log that never shows codes or tokens."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        path = redact(getattr(self, "path", "") or "")
        line = f"{self.command} {path} {self.request_version}".translate(
            self._control_char_table
        )
        self.log("info", '"%s" %s %s', line, code, size)


def make_server(app: Flask | Any, host: str, port: int) -> BaseWSGIServer:
    """A threaded server for `app` on `host:port` (raises OSError if the port is taken)."""
    return werkzeug_make_server(
        host, port, app, threaded=True, request_handler=RedactingRequestHandler
    )
