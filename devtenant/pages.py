"""Browser pages (plain http pages port): authorize with sign-in, and sign-out.

Authorization requests are validated by Authlib (client, redirect URI, response type, PKCE).
The sign-in form posts back to its own URL, whose query string still carries the
authorization request. Sign-up, codes, password reset and MFA are in `devtenant.flows`.
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import urlencode, urlsplit

import jwt
from flask import Blueprint, Flask, redirect, render_template, request, session, url_for
from flask.typing import ResponseReturnValue
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

from devtenant import graph
from devtenant.errors import EntraError
from devtenant.oauth import redirect_matches
from devtenant.otp import TooManyCodes
from devtenant.responses import (
    SESSION_EXPIRED,
    auth_args,
    csrf_ok,
    current_tenant,
    error_page,
    error_to_client,
    tenant_of,
    validated_grant,
)
from devtenant.signin import (
    TOO_MANY_CODES,
    current_sso,
    finish_sign_in,
    issue_code,
    needs_mfa,
    page_url,
    set_flow,
    start_mfa,
)
from devtenant.urls import GRAPH_PREFIX

bp = Blueprint("pages", __name__)
log = logging.getLogger(__name__)
NO_ACCOUNT = "We couldn't find an account with that email address."
_tenant = tenant_of  # the tenant a page's path names (views of other modules use it too)


def _signin_page(grant: Any, error: str | None, email: str, status: int = 200) -> Any:
    t = tenant_of(request.view_args["tenant"])  # type: ignore[index]
    tenant = request.view_args["tenant"]  # type: ignore[index]
    links = {
        "signup": url_for("flows.signup", tenant=tenant, **auth_args(drop=("prompt",))),
        "forgot": url_for("flows.reset", tenant=tenant, **auth_args(drop=("prompt",))),
        "cancel": url_for("flows.cancel", tenant=tenant, **auth_args()),
    }
    html = render_template(
        "signin.html",
        error=error,
        email=email,
        otp=t.user_flow()["sign_in_method"] == "email_otp",
        app_name=grant.client.reg["display_name"],
        **links,
    )
    return html, status


def _password_sign_in(grant: Any) -> Any:
    t = tenant_of(request.view_args["tenant"])  # type: ignore[index]
    email = request.form.get("email", "")
    user = t.store.check_password(email, request.form.get("password", ""))
    if user is not None:
        return finish_sign_in(grant, user.oid, ["pwd"])
    return _signin_page(grant, EntraError("invalid_grant", 50126).message(t.store.tenant_id), email)


def _otp_sign_in(grant: Any) -> Any:
    """Email one-time passcode: a code to the address, then the code page."""
    t = tenant_of(request.view_args["tenant"])  # type: ignore[index]
    email = request.form.get("email", "").strip().lower()
    user = t.store.user_by_email(email) if email else None
    if user is None:
        return _signin_page(grant, NO_ACCOUNT, email)
    try:
        code_id = t.mailer.send_code(email, "otp", grant.client.reg["display_name"])
    except TooManyCodes:
        return _signin_page(grant, TOO_MANY_CODES, email)
    set_flow(kind="otp", email=email, code_id=code_id)
    return redirect(page_url("flows.verify"))


def _from_session(grant: Any, prompt: str) -> Any | None:
    """The answer an existing SSO session gives (None: show the sign-in form)."""
    sso = current_sso()
    user = current_tenant().store.user(sso.oid) if sso else None
    if prompt == "none":
        if sso is None or user is None:
            return error_to_client(grant, EntraError("login_required", 50058))
        if not sso.mfa and needs_mfa(grant, user):
            resource = grant.client.reg["display_name"]
            return error_to_client(
                grant, EntraError("interaction_required", 50076, detail=resource)
            )
        return issue_code(grant, sso)
    if sso is None or user is None or prompt in ("login", "select_account"):
        return None
    if not sso.mfa and needs_mfa(grant, user):
        return start_mfa(grant, user, list(sso.amr or ["pwd"]))  # step-up
    return issue_code(grant, sso)


@bp.route("/<tenant>/oauth2/v2.0/authorize", methods=["GET", "POST"])
def authorize(tenant: str) -> ResponseReturnValue:
    t = tenant_of(tenant)
    if request.method == "GET":
        t.state.count("authorize")
    grant, response = validated_grant()
    if grant is None:
        return response
    prompt = request.args.get("prompt", "")
    if prompt == "create" and request.method == "GET":
        return redirect(url_for("flows.signup", tenant=tenant, **auth_args()))
    if request.method == "POST":
        if not csrf_ok():
            return _signin_page(grant, SESSION_EXPIRED, request.form.get("email", ""))
        if t.user_flow()["sign_in_method"] == "email_otp":
            return _otp_sign_in(grant)
        return _password_sign_in(grant)
    answered = _from_session(grant, prompt)
    if answered is not None:
        return answered
    return _signin_page(grant, None, request.args.get("login_hint", ""))


@bp.get("/<tenant>/oauth2/v2.0/logout")
def logout(tenant: str) -> ResponseReturnValue:
    t = tenant_of(tenant)
    t.state.count("logout")
    target = request.args.get("post_logout_redirect_uri")
    if target:
        client_id = request.args.get("client_id", "")
        hint = request.args.get("id_token_hint")
        if not client_id and hint:
            try:
                client_id = jwt.decode(hint, options={"verify_signature": False}).get("aud", "")
            except jwt.PyJWTError:
                client_id = ""
        clients = [t.store.client(client_id)] if client_id else t.store.clients()
        allowed = [uri for c in clients if c for uri in c.get("post_logout_redirect_uris", [])]
        if not redirect_matches(target, allowed):
            error = EntraError("invalid_request", 50011, detail=target, client_id=client_id)
            return error_page(error)
    t.state.end_session(session.get("sid"))
    session.clear()
    if target:
        state = request.args.get("state")
        sep = "&" if urlsplit(target).query else "?"
        return redirect(target + (f"{sep}{urlencode({'state': state})}" if state else ""))
    return render_template("signed_out.html")


def register_error_pages(app: Flask) -> None:
    """Errors never show a stack trace: a short page (or JSON for the token endpoint)."""

    @app.errorhandler(CSRFError)
    def csrf_error(exc: CSRFError) -> ResponseReturnValue:
        return render_template("error.html", code=None, message="Your session expired."), 400

    def wants_json() -> bool:
        return request.path.startswith("/_admin/") or request.path.endswith("/oauth2/v2.0/token")

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> ResponseReturnValue:
        status = exc.code or 500  # Flask hands code-less HTTPExceptions to no handler
        if request.path.startswith(GRAPH_PREFIX + "/") and request.scheme == "https":
            return graph.http_error(exc)
        if wants_json():
            return {
                "error": exc.name.lower().replace(" ", "_"),
                "error_description": exc.description,
            }, status
        return render_template("error.html", code=None, message=exc.description), status

    @app.errorhandler(Exception)
    def unexpected(exc: Exception) -> ResponseReturnValue:
        log.exception("unexpected error")
        if wants_json():
            return {"error": "server_error", "error_description": "Something went wrong."}, 500
        return render_template("error.html", code=None, message="Something went wrong."), 500
