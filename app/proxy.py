"""The JSON proxy: the ToDoList API's operations for browser code, on the web app's own origin.

`GET/POST /api/todolist`, `GET/PUT/DELETE /api/todolist/<id>` (`<id>` a positive whole number;
anything else is a 404 without a call) forward to the API with the signed-in user's token (read
scope for GET, write scope otherwise) and answer with the API's JSON and status. The browser
authenticates with its session cookie; writes also need the CSRF token in the `X-CSRFToken`
header. Failures are `application/problem+json` (RFC 9457): 401 when signed out or a sign-in is
needed (never a redirect: scripts cannot follow one to a sign-in page; a step-up, the API's
claims challenge, has `type` `STEP_UP_TYPE` and a `signin_url` that asks for the second
factor), 403 without consent,
the API's own 4xx answer, 5xx when the tenant or the API cannot be used. Tokens never appear in
any answer.
"""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify, request, url_for
from flask_wtf.csrf import validate_csrf
from werkzeug.wrappers import Response
from wtforms.validators import ValidationError

from app import api_client, messages, todos
from app.api_client import ApiAnswer, ApiResult
from app.errors import log_failure, problem
from app.failures import Failure, SignInRequired
from app.identity import current_identity
from common.requestlog import request_id

bp = Blueprint("proxy", __name__, url_prefix="/api/todolist")

MAX_BODY_BYTES = 64 * 1024
CSRF_HEADER = "X-CSRFToken"
# The problem type of a step-up (RFC 9457 §3.1.1: a URI naming the problem; a tag URI, RFC 4151,
# since no page describes it): the API asked for claims (a second factor) the token lacks.
STEP_UP_TYPE = "tag:todolist-web,2025:step-up-required"


@bp.after_request
def no_store(resp: Response) -> Response:
    resp.headers["Cache-Control"] = "no-store"
    return resp


@bp.before_request
def signed_in_and_csrf() -> Response | None:
    """Signed in first (401), then the CSRF header on writes (400), then the body's size."""
    if current_identity().user() is None:
        return problem(401, messages.SIGN_IN_NEEDED.title, messages.SIGN_IN_NEEDED.text,
                       signin_url=url_for("auth.signin", next="/todos"))
    if request.method in ("GET", "HEAD", "OPTIONS"):
        return None
    if current_app.config.get("WTF_CSRF_ENABLED", True):
        try:
            validate_csrf(request.headers.get(CSRF_HEADER))
        except ValidationError as exc:
            text = messages.CSRF_HEADER_MISSING.text.format(CSRF_HEADER, exc.args[0])
            return problem(400, messages.CSRF_HEADER_MISSING.title, text)
    if request.content_length is not None and request.content_length > MAX_BODY_BYTES:
        return _too_large()
    return None


def _too_large() -> Response:
    return problem(413, messages.TOO_LARGE.title, messages.TOO_LARGE.text.format(MAX_BODY_BYTES))


@bp.errorhandler(SignInRequired)
def sign_in_needed(exc: SignInRequired) -> Response:
    """401 with where to sign in; for a step-up (a claims challenge) its own `type`, and a
    `signin_url` that asks the tenant for those claims (the second factor)."""
    current_app.logger.info("sign-in needed for %s: %s", " ".join(exc.scopes), exc.reason)
    signin_url = todos.signin_url(exc.scopes, "/todos", exc.claims)
    if exc.claims is not None:
        return problem(401, messages.STEP_UP_NEEDED.title, messages.STEP_UP_NEEDED.text,
                       type=STEP_UP_TYPE, signin_url=signin_url, request_id=request_id())
    return problem(401, messages.SIGN_IN_RENEW.title, messages.SIGN_IN_RENEW.text,
                   signin_url=signin_url, request_id=request_id())


@bp.errorhandler(Failure)
def failed(failure: Failure) -> Response:
    """The API's own 4xx JSON is passed through; anything else is our problem+json."""
    if isinstance(failure, ApiAnswer) and isinstance(failure.body, dict | list):
        resp = jsonify(failure.body)
        resp.status_code = failure.status
        if isinstance(failure.body, dict):
            resp.mimetype = "application/problem+json"
        return resp
    log_failure(failure)
    return problem(failure.status, failure.message.title, failure.message.text,
                   request_id=request_id())


def _forward(method: str, item_id: int | None = None) -> Response:
    data = None
    if method in ("POST", "PUT"):
        data = request.get_data(cache=False)[: MAX_BODY_BYTES + 1]
        if len(data) > MAX_BODY_BYTES:
            return _too_large()
    return _success(api_client.call(method, item_id, data=data))


def _success(result: ApiResult) -> Response:
    if result.status == 204 or result.body is None:
        return Response(status=result.status)
    # The API's JSON as it sent it (parsed once already, so it is JSON): no re-encoding.
    resp = Response(result.raw, status=result.status, mimetype="application/json")
    if result.status == 201 and isinstance(result.body, dict) and isinstance(
        result.body.get("id"), int
    ):
        resp.headers["Location"] = url_for("proxy.item", item_id=result.body["id"])
    return resp


def _method() -> str:
    # Flask answers HEAD with the GET view (and drops the body); the API is asked with GET.
    return "GET" if request.method == "HEAD" else request.method


@bp.route("", methods=["GET", "POST"])
def collection() -> Response:
    return _forward(_method())


# Only a positive whole number is an item id: `.`, `..`, `abc`, `0`, `-1` or `1.5` are 404 here,
# without a call (forwarded, a dot segment could name another path of the API).
@bp.route("/<int(min=1):item_id>", methods=["GET", "PUT", "DELETE"])
def item(item_id: int) -> Response:
    return _forward(_method(), item_id)
