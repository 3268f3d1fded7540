"""Request ids and the one-line-per-request log, the same in the web app and the API.

Each request gets an id: the caller's `X-Request-ID` when it is a short, plain token (so the
logs of a caller and the service it calls can be correlated), otherwise a new one. It is echoed
in the response, and the web app sends it on to the ToDoList API. One log line per request:
method, path (as the component chooses to show it: the web app hides codes and tokens), status,
duration and the request id. Never a header or a body, so never a token. Every record of that
log and of the app's own logger has its control characters escaped (`common.logsafe`): what a
caller sends can never start a log line of its own.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Callable

from flask import Flask, Response, g, request

from common import logsafe

REQUEST_ID_HEADER = "X-Request-ID"
_PLAIN = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


def request_id() -> str:
    """This request's correlation id (decided once per request)."""
    rid = g.get("request_id")
    if not rid:
        given = request.headers.get(REQUEST_ID_HEADER, "")
        rid = given if _PLAIN.match(given) else uuid.uuid4().hex
        g.request_id = rid
    return rid


def install(app: Flask, log: logging.Logger, shown_path: Callable[[], str]) -> None:
    """Give `app` request ids and its one-line-per-request log on `log`; `log` and
    `app.logger` escape control characters."""
    logsafe.install(app.logger, log)

    def start() -> None:
        g.started = time.perf_counter()
        request_id()

    def finish(response: Response) -> Response:
        rid = request_id()
        response.headers[REQUEST_ID_HEADER] = rid
        if log.isEnabledFor(logging.INFO):
            duration_ms = (time.perf_counter() - g.get("started", time.perf_counter())) * 1000
            log.info(
                "%s %s %s %.1fms request_id=%s",
                request.method,
                shown_path().encode("unicode_escape").decode("ascii")[:300],
                response.status_code,
                duration_ms,
                rid,
            )
        return response

    app.before_request(start)
    app.after_request(finish)
