"""RFC 9457 problem details for every error the API answers, including Flask's own."""

from __future__ import annotations

from collections.abc import Mapping
from http import HTTPStatus

from flask import Flask, Response, current_app, json, request
from sqlalchemy.exc import OperationalError
from werkzeug.exceptions import HTTPException, MethodNotAllowed

PROBLEM_JSON = "application/problem+json"


class ApiProblem(Exception):
    """Raised anywhere in a request to answer with a problem+json body."""

    def __init__(self, status: int, detail: str, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.headers = dict(headers or {})


def problem(status: int, detail: str, headers: Mapping[str, str] | None = None) -> Response:
    body = {
        "type": "about:blank",
        "title": HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
        "instance": request.environ.get("api.original_path", request.path),
    }
    response = Response(json.dumps(body), status=status, mimetype=PROBLEM_JSON)
    response.headers.update(headers or {})
    return response


def _api_problem(exc: ApiProblem) -> Response:
    return problem(exc.status, exc.detail, exc.headers)


MAX_DRAIN_BYTES = 1024 * 1024


def _drain_body() -> None:
    """Read (and drop) an unread request body of modest size before answering early.

    Answering 413 while the client is still sending makes the server close a connection with
    unread data, which the client sees as a reset instead of our answer.
    """
    length = request.content_length or 0
    if 0 < length <= MAX_DRAIN_BYTES:
        stream = request.environ["wsgi.input"]
        while length > 0:
            chunk = stream.read(min(length, 65536))
            if not chunk:
                break
            length -= len(chunk)


def _http_exception(exc: HTTPException) -> Response:
    status = exc.code or 500
    if status == 413:
        _drain_body()
    headers: dict[str, str] = {}
    if isinstance(exc, MethodNotAllowed) and exc.valid_methods:
        headers["Allow"] = ", ".join(sorted(exc.valid_methods))
    detail = {
        404: f"There is no resource at {request.path}.",
        405: f"{request.method} is not allowed on {request.path}.",
    }.get(status, exc.description or HTTPStatus(status).phrase)
    return problem(status, detail, headers)


def _database_unavailable(exc: OperationalError) -> Response:
    current_app.logger.error("database unavailable: %s", type(exc.orig).__name__)
    return problem(503, "The to-do store is unavailable; try again shortly.", {"Retry-After": "5"})


def _unexpected(exc: Exception) -> Response:
    current_app.logger.exception("unhandled error", exc_info=exc)
    return problem(500, "The API failed to handle this request; it has been logged.")


def register(app: Flask) -> None:
    app.register_error_handler(ApiProblem, _api_problem)
    app.register_error_handler(HTTPException, _http_exception)
    app.register_error_handler(OperationalError, _database_unavailable)
    app.register_error_handler(Exception, _unexpected)
