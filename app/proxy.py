"""The JSON proxy: the ToDoList API's operations for browser code, on the web app's own origin.

`GET/POST /api/todolist`, `GET/PUT/DELETE /api/todolist/<id>` forward to the API with the
signed-in user's token (read scope for GET, write scope otherwise) and answer with the API's
JSON and status. The browser authenticates with its session cookie; writes also need the CSRF
token in the `X-CSRFToken` header. Failures are `application/problem+json` (RFC 9457): 401 when
signed out or a sign-in is needed (never a redirect: scripts cannot follow one to a sign-in
page), 502/503/504 when the API cannot be used. Tokens never appear in any answer.
"""

from __future__ import annotations

from flask import Blueprint, Flask, current_app, jsonify, request, url_for
from flask_wtf.csrf import validate_csrf
from werkzeug.wrappers import Response
from wtforms.validators import ValidationError

from app import api_client
from app.api_client import ApiAnswer, ApiResult, ApiUnavailable
from app.errors import problem
from app.identity import IdentityProviderUnavailable, SignInRequired, current_identity
from common.requestlog import request_id

bp = Blueprint("proxy", __name__, url_prefix="/api/todolist")

MAX_BODY_BYTES = 64 * 1024
CSRF_HEADER = "X-CSRFToken"


def init_app(app: Flask) -> None:
    api_client.init_app(app)
    app.register_blueprint(bp)
    # The proxy checks the CSRF header itself, after the sign-in check, so that a signed-out
    # script gets 401 (sign in) rather than 400 (no CSRF token: it has no session to own one).
    csrf = app.extensions.get("csrf")
    if csrf is not None:
        csrf.exempt(bp)


@bp.after_request
def no_store(resp: Response) -> Response:
    resp.headers["Cache-Control"] = "no-store"
    return resp


@bp.before_request
def signed_in_and_csrf() -> Response | None:
    if current_identity().user() is None:
        return problem(
            401,
            "Sign-in required",
            "Sign in to use the to-do list.",
            signin_url=url_for("auth.signin", next="/todos"),
        )
    if request.method in ("GET", "HEAD", "OPTIONS"):
        return None
    if current_app.config.get("WTF_CSRF_ENABLED", True):
        try:
            validate_csrf(request.headers.get(CSRF_HEADER))
        except ValidationError as exc:
            return problem(
                400,
                "CSRF token missing or invalid",
                f"Send the page's CSRF token in the {CSRF_HEADER} header ({exc.args[0]}).",
            )
    if request.content_length is not None and request.content_length > MAX_BODY_BYTES:
        return problem(413, "Request too large", f"The body may be {MAX_BODY_BYTES} bytes at most.")
    return None


def _forward(method: str, item_id: str | None = None) -> Response:
    data = None
    if method in ("POST", "PUT"):
        data = request.get_data(cache=False)[: MAX_BODY_BYTES + 1]
        if len(data) > MAX_BODY_BYTES:
            return problem(
                413, "Request too large", f"The body may be {MAX_BODY_BYTES} bytes at most."
            )
    rid = request_id()
    try:
        result = api_client.call(method, item_id, data=data)
    except SignInRequired as exc:
        scopes = " ".join(exc.scopes)
        if exc.reason == "consent_required":
            return problem(
                403,
                "Your account lacks permission",
                "This app has not been granted access to the to-do list for this operation.",
                request_id=rid,
            )
        return problem(
            401,
            "Sign-in required",
            "Your sign-in has to be renewed before the to-do list can be used.",
            signin_url=url_for("auth.signin", next="/todos", scope=scopes),
            request_id=rid,
        )
    except IdentityProviderUnavailable as exc:
        return problem(
            exc.status,
            "The sign-in service is unavailable",
            "The sign-in service cannot be reached right now. Please try again later.",
            request_id=rid,
        )
    except ApiUnavailable as exc:
        return problem(exc.status, exc.title, exc.detail, request_id=rid)
    except ApiAnswer as exc:
        if isinstance(exc.body, dict | list):
            resp = jsonify(exc.body)
            resp.status_code = exc.status
            if isinstance(exc.body, dict):
                resp.mimetype = "application/problem+json"
            return resp
        return problem(exc.status, exc.title, exc.detail, request_id=rid)
    return _success(result)


def _success(result: ApiResult) -> Response:
    if result.status == 204 or result.body is None:
        return Response(status=result.status)
    # The API's JSON as it sent it (parsed once already, so it is JSON): no re-encoding.
    resp = Response(result.raw, status=result.status, mimetype="application/json")
    if result.status == 201 and isinstance(result.body, dict) and "id" in result.body:
        resp.headers["Location"] = url_for("proxy.item", item_id=result.body["id"])
    return resp


def _method() -> str:
    # Flask answers HEAD with the GET view (and drops the body); the API is asked with GET.
    return "GET" if request.method == "HEAD" else request.method


@bp.route("", methods=["GET", "POST"])
def collection() -> Response:
    return _forward(_method())


@bp.route("/<item_id>", methods=["GET", "PUT", "DELETE"])
def item(item_id: str) -> Response:
    return _forward(_method(), item_id)
