"""Signing in and out: `/auth/signin`, `/auth/signup`, the provider's redirect back, sign-out;
and `login_required` for pages that need a signed-in user.

A failure while signing in is shown on a page whose button starts a new sign-in: an answer
from the provider is used up either way.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar, cast

import msal
from flask import Blueprint, Response, redirect, render_template, request, url_for
from werkzeug.wrappers import Response as BaseResponse

from app.errors import error_page, log_failure
from app.failures import Failure, SignInFailed
from app.identity import current_identity
from app.security import csrf
from app.urls import local_path, request_path
from common.challenge import usable_claims

bp = Blueprint("auth", __name__, url_prefix="/auth")

F = TypeVar("F", bound=Callable[..., Any])


def login_required(view: F) -> F:
    """A signed-out visit redirects to `/auth/signin?next=<this page>`."""

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if current_identity().user() is None:
            return redirect(url_for("auth.signin", next=request_path()))
        return view(*args, **kwargs)

    return cast(F, wrapper)


@bp.errorhandler(Failure)
def failed(failure: Failure) -> Response:
    """Starting a sign-in can be tried again as it was; a used-up answer needs a new sign-in."""
    log_failure(failure)
    if request.endpoint != "auth.redirect_back":
        action_url, label = request_path(), "Try again"
    elif isinstance(failure, SignInFailed):
        action_url, label = url_for("auth.signin", next=failure.next_path), "Sign in again"
    else:
        action_url, label = url_for("auth.signin"), "Sign in again"
    return error_page(failure.status, failure.message, action_url=action_url, action_label=label)


def _start(prompt: str | None) -> BaseResponse:
    identity = current_identity()
    next_path = local_path(request.args.get("next")) or "/"
    requested = (request.args.get("scope") or "").split()
    scopes = [scope for scope in requested if scope in identity.config.sign_in_scopes]
    claims = usable_claims(request.args.get("claims"))
    if prompt is None and not scopes and claims is None and identity.user() is not None:
        return redirect(next_path)
    return redirect(identity.start_sign_in(next_path, scopes, prompt, claims))


@bp.get("/signin")
def signin() -> BaseResponse:
    """Start signing in; `next` is the local path to return to, `scope` extra API scopes,
    `claims` a claims challenge to satisfy (a step-up: the tenant asks for a second factor;
    a JSON object of bounded size, else ignored)."""
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
    return redirect(current_identity().complete_sign_in(answer.to_dict()))


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
