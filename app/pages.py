"""The pages blueprint: the home page and the signed-in user's ID-token claims.

After signing out the browser comes back (from the tenant's sign-out page, to
`POST_LOGOUT_REDIRECT_URI`, by default `/`) with no session: sign-out deleted it. So the
sign-out answer leaves a small cookie of its own, `todo_signed_out` (no data, 5 minutes,
HttpOnly, SameSite=Lax), and the home page says "You are signed out." once and drops it. The
post-logout address stays what the tenant has registered.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, current_app, make_response, render_template, request
from werkzeug.wrappers import Response

from app import messages
from app.auth import login_required
from app.identity import current_identity
from config import Config

bp = Blueprint("pages", __name__)

TIME_CLAIMS = frozenset({"exp", "iat", "nbf", "auth_time"})
SIGNED_OUT_COOKIE = "todo_signed_out"
SIGNED_OUT_SECONDS = 300  # long enough for the round trip through the tenant's sign-out
SIGN_OUT_ENDPOINTS = frozenset({"auth.signout", "profile.sign_out_everywhere"})


@bp.after_app_request
def _mark_signed_out(response: Response) -> Response:
    """A sign-out that went through (its redirect) leaves the marker for the home page."""
    if request.endpoint in SIGN_OUT_ENDPOINTS and response.status_code == 302:
        config: Config = current_app.config["WEB_CONFIG"]
        response.set_cookie(
            SIGNED_OUT_COOKIE, "1", max_age=SIGNED_OUT_SECONDS, httponly=True, samesite="Lax",
            secure=config.secure_cookies or request.is_secure,
        )
    return response


def _display(name: str, value: Any) -> str:
    if name in TIME_CLAIMS and isinstance(value, int | float) and not isinstance(value, bool):
        moment = datetime.fromtimestamp(value, tz=UTC)
        return f"{value} ({moment:%Y-%m-%d %H:%M:%S} UTC)"
    if isinstance(value, list):
        return ", ".join(str(item) for item in value)
    return str(value)


@bp.get("/")
def index() -> Response:
    marked = SIGNED_OUT_COOKIE in request.cookies
    signed_out = messages.SIGNED_OUT if marked and current_identity().user() is None else None
    response = make_response(render_template("index.html", signed_out=signed_out))
    if marked:
        response.delete_cookie(SIGNED_OUT_COOKIE, httponly=True, samesite="Lax")
    return response


@bp.get("/users/id")
@login_required
def claims() -> str:
    user = current_identity().user() or {}
    rows = [(name, _display(name, value)) for name, value in sorted(user.items())]
    return render_template("claims.html", rows=rows)
