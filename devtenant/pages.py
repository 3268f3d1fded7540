"""Browser pages (plain http pages port): authorize with sign-in, sign-up, sign-out.

Authorization requests are validated by Authlib (client, redirect URI, response type, PKCE).
The sign-in and sign-up forms post back to their own URL, whose query string still carries
the authorization request, so nothing about a pending request is kept server-side.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import jwt
from authlib.oauth2 import OAuth2Error
from flask import (
    Blueprint,
    Flask,
    Response,
    abort,
    current_app,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_wtf.csrf import CSRFError, validate_csrf
from werkzeug.exceptions import HTTPException

from devtenant import graph
from devtenant.errors import EntraError, Trace, describe, error_uri
from devtenant.oauth import UnknownScopeError, redirect_matches, resolve_delegated
from devtenant.state import SsoSession
from devtenant.store import UserExists
from devtenant.urls import GRAPH_PREFIX

if TYPE_CHECKING:
    from devtenant.app import Tenant

bp = Blueprint("pages", __name__)
log = logging.getLogger(__name__)


def _tenant(tenant: str) -> Tenant:
    t = current_app.extensions["devtenant"]
    if tenant.lower() not in (t.store.tenant_id, t.store.tenant_name.lower()):
        abort(404)
    return t


def error_page(error: EntraError, status: int = 400) -> tuple[str, int]:
    """Entra's own error page (no redirect to the client), with its troubleshooting details."""
    t = current_app.extensions["devtenant"]
    html = render_template(
        "error.html",
        code=error.code,
        message=error.message(t.store.tenant_id),
        trace=Trace.for_request(),
    )
    return html, status


def to_client(redirect_uri: str, params: dict[str, str], response_mode: str) -> Any:
    """Send the browser back to the client: a redirect (query) or an auto-posted form."""
    if response_mode == "form_post":
        html = render_template("form_post.html", action=redirect_uri, fields=params)
        return Response(html, headers={"Cache-Control": "no-store"})
    sep = "&" if urlsplit(redirect_uri).query else "?"
    return redirect(f"{redirect_uri}{sep}{urlencode(params)}", code=302)


def error_to_client(grant: Any, error: EntraError, redirect_uri: str | None = None) -> Any:
    t = current_app.extensions["devtenant"]
    params = {
        "error": error.error,
        "error_description": describe(error, t.store.tenant_id, Trace.for_request()),
        "error_uri": error_uri(error),
    }
    if error.suberror:
        params["suberror"] = error.suberror
    if request.args.get("state"):
        params["state"] = request.args["state"]
    target = redirect_uri or grant.redirect_uri
    return to_client(target, params, request.args.get("response_mode", "query"))


def current_sso() -> SsoSession | None:
    t = current_app.extensions["devtenant"]
    sso = t.state.sessions.get(session.get("sid", ""))
    if sso is None or t.store.user(sso.oid) is None:
        return None
    return sso


def start_sso(oid: str) -> SsoSession:
    t = current_app.extensions["devtenant"]
    t.state.end_session(session.get("sid"))
    session.clear()  # a new session at sign-in
    sso = t.state.new_session(oid)
    session["sid"] = sso.sid
    return sso


def issue_code(grant: Any, sso: SsoSession) -> Any:
    _status, _body, headers = grant.create_authorization_response(grant.redirect_uri, sso)
    location = dict(headers)["Location"]
    base_params = set(parse_qsl(urlsplit(grant.redirect_uri).query))
    params = {k: v for k, v in parse_qsl(urlsplit(location).query) if (k, v) not in base_params}
    return to_client(grant.redirect_uri, params, request.args.get("response_mode", "query"))


def validated_grant() -> tuple[Any, Any]:
    """(grant, None) for a valid authorization request, else (None, the response to send)."""
    t = current_app.extensions["devtenant"]
    client_id = request.args.get("client_id", "")
    try:
        grant = t.server.get_consent_grant(request=request, end_user=None)
    except OAuth2Error as exc:
        client = t.store.client(client_id) if client_id else None
        if client is None:
            return None, error_page(EntraError("unauthorized_client", 700016, client_id=client_id))
        uri = request.args.get("redirect_uri")
        if uri is None or not redirect_matches(uri, client.get("redirect_uris") or []):
            error = EntraError("invalid_request", 50011, detail=uri or "", client_id=client_id)
            return None, error_page(error)
        detail = exc.description or exc.error or "invalid request"
        code = 9002325 if "code_challenge" in detail else 9002313
        error = EntraError(exc.error or "invalid_request", code, detail=detail)
        if exc.redirect_uri:  # Authlib validated the client and its redirect URI
            return None, error_to_client(None, error, exc.redirect_uri)
        return None, error_page(error)
    args = request.args
    if not args.get("code_challenge") or args.get("code_challenge_method") != "S256":
        return None, error_to_client(grant, EntraError("invalid_request", 9002325))
    try:
        resolve_delegated(args.get("scope", ""), grant.client.reg, t.store.registrations["api"])
    except UnknownScopeError as error:
        return None, error_to_client(grant, error.at_authorize(grant.client.reg))
    except EntraError as error:
        if error.code == 65001:  # in the browser Entra answers consent_required itself
            error = error.as_error("consent_required")
        return None, error_to_client(grant, error)
    return grant, None


def _auth_args(drop: tuple[str, ...] = ()) -> dict[str, Any]:
    return {k: v for k, v in request.args.items() if k not in drop}


def _csrf_ok() -> bool:
    try:
        validate_csrf(request.form.get("csrf_token", ""))
    except Exception:
        return False
    return True


@bp.route("/<tenant>/oauth2/v2.0/authorize", methods=["GET", "POST"])
def authorize(tenant: str) -> ResponseReturnValue:
    t = _tenant(tenant)
    if request.method == "GET":
        t.state.count("authorize")
    grant, response = validated_grant()
    if grant is None:
        return response
    prompt = request.args.get("prompt", "")
    if prompt == "create" and request.method == "GET":
        return redirect(url_for("pages.signup", tenant=tenant, **_auth_args()))
    signup_url = url_for("pages.signup", tenant=tenant, **_auth_args(drop=("prompt",)))
    error = None
    if request.method == "POST":
        if not _csrf_ok():
            error = "Your session expired. Please sign in again."
        else:
            user = t.store.check_password(
                request.form.get("email", ""), request.form.get("password", "")
            )
            if user is not None:
                return issue_code(grant, start_sso(user.oid))
            error = EntraError("invalid_grant", 50126).message(t.store.tenant_id)
        return render_template(
            "signin.html", error=error, email=request.form.get("email", ""), signup=signup_url
        ), 200
    sso = current_sso()
    if prompt == "none":
        if sso is None:
            return error_to_client(grant, EntraError("login_required", 50058))
        return issue_code(grant, sso)
    if sso is not None and prompt not in ("login", "select_account"):
        return issue_code(grant, sso)
    return render_template(
        "signin.html", error=None, email=request.args.get("login_hint", ""), signup=signup_url
    )


@bp.route("/<tenant>/signup", methods=["GET", "POST"])
def signup(tenant: str) -> ResponseReturnValue:
    t = _tenant(tenant)
    grant, response = validated_grant()
    if grant is None:
        return response
    signin_url = url_for("pages.authorize", tenant=tenant, **_auth_args(drop=("prompt",)))
    form = {"email": request.form.get("email", ""), "name": request.form.get("name", "")}
    if request.method == "GET":
        return render_template("signup.html", error=None, form=form, signin=signin_url)
    error = None
    if not _csrf_ok():
        error = "Your session expired. Please try again."
    elif not request.form.get("password"):
        error = "Enter a password."
    else:
        try:
            user = t.store.add_user(form["email"], request.form.get("password", ""), form["name"])
        except UserExists:
            error = "An account with this email address already exists. Sign in instead."
        except ValueError as exc:
            error = str(exc).capitalize() + "."
        else:
            return issue_code(grant, start_sso(user.oid))
    return render_template("signup.html", error=error, form=form, signin=signin_url)


@bp.get("/<tenant>/oauth2/v2.0/logout")
def logout(tenant: str) -> ResponseReturnValue:
    t = _tenant(tenant)
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
