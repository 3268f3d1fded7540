"""Rendering failures: the HTML error page, RFC 9457 problem+json, and the app-wide handlers.

Blueprints register their own handlers for `app.failures.Failure` (the to-do pages re-show the
form with the typed text, the proxy answers problem+json, sign-in pages offer a new sign-in);
what no blueprint handles lands here: 404, 405, CSRF refusals, a `Host` outside `TRUSTED_HOSTS`
(400), any other `Failure`, and any other exception (500, logged with its trace, shown without
details). Paths under `/api/` get problem+json, every other path an HTML page.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, Response, current_app, jsonify, render_template, request, url_for
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException, SecurityError

from app import messages
from app.failures import Failure, log_safe
from app.messages import Message
from app.urls import request_path

PROBLEM_TYPE = "about:blank"


def wants_json() -> bool:
    """Requests under `/api/` get problem+json; every other path gets an HTML page."""
    return request.path.startswith("/api/")


def log_failure(failure: Failure) -> None:
    """The failure's one log line (its level says whether an administrator must act)."""
    current_app.logger.log(failure.level, "%s (%s %s)", failure.log, request.method, request.path)


def problem(status: int, title: str, detail: str, **extra: Any) -> Response:
    """An RFC 9457 problem+json response."""
    body = {"type": PROBLEM_TYPE, "title": title, "status": status, "detail": detail, **extra}
    response = jsonify(body)
    response.status_code = status
    response.mimetype = "application/problem+json"
    return response


def error_page(
    status: int,
    message: Message,
    *,
    action_url: str | None = None,
    action_label: str | None = None,
) -> Response:
    """The error page (or problem+json under `/api/`) with an optional way to try again."""
    if wants_json():
        return problem(status, message.title, message.text)
    body = render_template(
        "error.html",
        status=status,
        title=message.title,
        message=message.text,
        action_url=action_url or url_for("pages.index"),
        action_label=action_label or "Go to the home page",
    )
    return Response(body, status=status, mimetype="text/html")


def _http_error(exc: HTTPException) -> Response:
    status = exc.code or 500
    if status == 404:
        return error_page(404, messages.NOT_FOUND)
    if status == 405:
        return error_page(405, messages.NOT_ALLOWED)
    text = exc.description or "The request could not be handled."
    return error_page(status, Message(exc.name, text))


def _untrusted_host(exc: SecurityError) -> Response:
    """A `Host` outside `TRUSTED_HOSTS`: no address of this site can be built from it, so the
    page is one of its own (the layout's links are built with `url_for`)."""
    current_app.logger.info("refused a request for host %s (not in TRUSTED_HOSTS)",
                            log_safe(request.headers.get("Host", ""), 100))
    message = messages.HOST_NOT_SERVED
    if wants_json():
        return problem(400, message.title, message.text)
    body = render_template("host_refused.html", title=message.title, message=message.text)
    return Response(body, status=400, mimetype="text/html")


def _csrf_error(exc: CSRFError) -> Response:
    current_app.logger.info("refused a request without a valid CSRF token: %s",
                            log_safe(exc.description))
    return error_page(400, messages.FORM_EXPIRED)


def _failure(failure: Failure) -> Response:
    log_failure(failure)
    again = request_path() if request.method == "GET" else url_for("pages.index")
    return error_page(failure.status, failure.message, action_url=again, action_label="Try again")


def _unexpected(exc: Exception) -> Response:
    current_app.logger.log(
        logging.ERROR, "unhandled error on %s %s", request.method, request.path, exc_info=exc
    )
    return error_page(500, messages.UNEXPECTED)


def init_app(app: Flask) -> None:
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(SecurityError, _untrusted_host)
    app.register_error_handler(CSRFError, _csrf_error)
    app.register_error_handler(Failure, _failure)
    app.register_error_handler(Exception, _unexpected)
