"""The auth blueprint: sign in, sign up, the provider's redirect back, sign out."""

from __future__ import annotations

import msal
from flask import Blueprint, Response, current_app, redirect, render_template, request, url_for
from werkzeug.wrappers import Response as BaseResponse

from app.errors import error_page
from app.identity import (
    IdentityProviderUnavailable,
    SignInFailed,
    current_identity,
    local_path,
)
from app.security import csrf

bp = Blueprint("auth", __name__, url_prefix="/auth")

FAILURES = {
    "cancelled": (
        400,
        "Sign-in was cancelled",
        "You did not finish signing in, so nothing changed. You can start again whenever "
        "you like.",
    ),
    "provider": (
        400,
        "The sign-in service reported a problem",
        "The sign-in service could not sign you in ({detail}). Please try again.",
    ),
    "state": (
        400,
        "This sign-in response is not valid here",
        "It does not belong to a sign-in started in this browser (it may have been used "
        "already). Please start again.",
    ),
    "expired": (
        400,
        "Your sign-in attempt expired",
        "Signing in took too long or was already completed. Please start again.",
    ),
    "id_token": (
        502,
        "Sign-in failed",
        "The sign-in service's answer could not be verified, so you have not been signed in. "
        "Please try again; if it keeps happening, tell the site's administrator.",
    ),
}


def _start(prompt: str | None) -> BaseResponse:
    identity = current_identity()
    next_path = local_path(request.args.get("next")) or "/"
    requested = (request.args.get("scope") or "").split()
    scopes = [scope for scope in requested if scope in identity.config.api_scopes]
    if prompt is None and not scopes and identity.user() is not None:
        return redirect(next_path)
    return redirect(identity.start_sign_in(next_path, scopes, prompt))


@bp.get("/signin")
def signin() -> BaseResponse:
    """Start signing in; `next` is the local path to return to, `scope` extra API scopes."""
    return _start(prompt=None)


@bp.get("/signup")
def signup() -> BaseResponse:
    """Start signing up: the tenant shows its sign-up page first (`prompt=create`)."""
    return _start(prompt=msal.Prompt.CREATE)


@bp.route("/redirect", methods=["GET", "POST"])
@csrf.exempt  # a form_post comes from the tenant's page; `state` is its CSRF protection
def redirect_back() -> BaseResponse:
    """The provider's answer, as a query (our default) or a form_post."""
    answer = request.form if request.method == "POST" else request.args
    try:
        next_path = current_identity().complete_sign_in(answer.to_dict())
    except IdentityProviderUnavailable as exc:
        # This answer is used up; trying again means starting a new sign-in.
        current_app.logger.warning("sign-in could not be completed: %s", exc)
        return error_page(
            exc.status,
            "The sign-in service is unavailable",
            f"We could not finish signing you in because {exc}. Please try again in a moment.",
            action_url=url_for("auth.signin"),
            action_label="Sign in again",
        )
    except SignInFailed as failure:
        current_app.logger.warning("sign-in failed (%s): %s", failure.kind, failure.detail)
        status, title, message = FAILURES[failure.kind]
        return error_page(
            status,
            title,
            message.format(detail=failure.detail),
            action_url=url_for("auth.signin", next=failure.next_path),
            action_label="Sign in again",
        )
    return redirect(next_path)


@bp.get("/signout")
def signout_confirm() -> Response | BaseResponse:
    """GET never signs anyone out: it asks, with a form that carries the CSRF token."""
    if current_identity().user() is None:
        return redirect(url_for("pages.index"))
    return Response(render_template("signout.html"), mimetype="text/html")


@bp.post("/signout")
def signout() -> BaseResponse:
    """Delete the session here, then end the session at the tenant."""
    return redirect(current_identity().sign_out())
