"""One log line per request: method, path, status, duration and the request id (never a token).

The request id is the caller's `X-Request-ID` when it is a short, plain token (so callers can
correlate their logs with ours), otherwise a new one; it is echoed in the response.
"""

from __future__ import annotations

import logging
import re
import time
import uuid

from flask import Flask, Response, g, request

log = logging.getLogger("api.requests")
REQUEST_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")


def _start() -> None:
    g.started = time.perf_counter()
    given = request.headers.get("X-Request-ID", "")
    g.request_id = given if REQUEST_ID.match(given) else uuid.uuid4().hex


def _finish(response: Response) -> Response:
    request_id = g.get("request_id") or uuid.uuid4().hex
    response.headers["X-Request-ID"] = request_id
    if not log.isEnabledFor(logging.INFO):
        return response
    duration_ms = (time.perf_counter() - g.get("started", time.perf_counter())) * 1000
    path = request.environ.get("api.original_path", request.path)
    log.info(
        "%s %s %s %.1fms request_id=%s",
        request.method,
        path.encode("unicode_escape").decode("ascii")[:300],
        response.status_code,
        duration_ms,
        request_id,
    )
    return response


def register(app: Flask) -> None:
    app.before_request(_start)
    app.after_request(_finish)
