"""Error pages (HTML) and problem+json answers (under `/api/`): never a trace, always a way on.

`error_page()` is what views call to say what went wrong; the handlers registered by
`init_app()` cover what views do not catch: 404, 405, CSRF refusals, `SignInRequired`
(a redirect to sign in, or 401 for the JSON API), `IdentityProviderUnavailable`, and any other
exception (500, logged, shown without details).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from flask import Flask, Response, current_app, jsonify, redirect, render_template, request, url_for
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

from app.identity import IdentityProviderUnavailable, SignInRequired, request_path

PROBLEM_TYPE = "about:blank"


def wants_json() -> bool:
    """Requests under `/api/` get problem+json; every other path gets an HTML page."""
    return request.path.startswith("/api/")


def problem(status: int, title: str, detail: str, **extra: Any) -> Response:
    """An RFC 9457 problem+json response."""
    body = {"type": PROBLEM_TYPE, "title": title, "status": status, "detail": detail, **extra}
    response = jsonify(body)
    response.status_code = status
    response.mimetype = "application/problem+json"
    return response


def error_page(
    status: int,
    title: str,
    message: str,
    *,
    action_url: str | None = None,
    action_label: str | None = None,
) -> Response:
    """The error page (or problem+json under `/api/`) with an optional way to try again."""
    if wants_json():
        return problem(status, title, message)
    body = render_template(
        "error.html",
        status=status,
        title=title,
        message=message,
        action_url=action_url or url_for("pages.index"),
        action_label=action_label or "Go to the home page",
    )
    return Response(body, status=status, mimetype="text/html")


def _http_error(exc: HTTPException) -> Response:
    status = exc.code or 500
    if status == 404:
        return error_page(404, "Page not found",
                          "There is no page at this address. Check the link or start again.")
    if status == 405:
        return error_page(405, "Not allowed", "This page cannot be used that way.")
    return error_page(status, exc.name, exc.description or "The request could not be handled.")


def _csrf_error(exc: CSRFError) -> Response:
    current_app.logger.info("refused a request without a valid CSRF token: %s", exc.description)
    return error_page(
        400,
        "This form has expired",
        "The form was not accepted because it came without this site's security token, or "
        "the token has expired. Go back, reload the page and try again.",
        action_url=url_for("pages.index"),
    )


def _return_path() -> str:
    """Where to come back after signing in: this page, or for a form post the page it was on."""
    if request.method == "GET":
        return request_path()
    referrer = urlsplit(request.referrer or "")
    if referrer.netloc == request.host and referrer.path.startswith("/"):
        return referrer.path + (f"?{referrer.query}" if referrer.query else "")
    return "/"


def _sign_in_required(exc: SignInRequired) -> Response:
    if wants_json():
        return problem(401, "Sign-in required", "Sign in again to continue.", reason=exc.reason)
    scope = " ".join(exc.scopes) or None
    return redirect(url_for("auth.signin", next=_return_path(), scope=scope))


def _provider_unavailable(exc: IdentityProviderUnavailable) -> Response:
    current_app.logger.warning("identity provider unavailable: %s", exc)
    return error_page(
        exc.status,
        "The sign-in service is unavailable",
        f"We could not complete this because {exc}. Please try again in a moment.",
        action_url=request_path() if request.method == "GET" else url_for("pages.index"),
        action_label="Try again",
    )


def _unexpected(exc: Exception) -> Response:
    current_app.logger.exception("unhandled error on %s %s", request.method, request.path)
    return error_page(
        500,
        "Something went wrong",
        "An unexpected error stopped this page. It has been logged; please try again.",
    )


def init_app(app: Flask) -> None:
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(CSRFError, _csrf_error)
    app.register_error_handler(SignInRequired, _sign_in_required)
    app.register_error_handler(IdentityProviderUnavailable, _provider_unavailable)
    app.register_error_handler(Exception, _unexpected)
