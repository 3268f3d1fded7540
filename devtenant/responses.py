"""What every browser page of the tenant answers with: the authorization request validated
again on each page (its query string travels from page to page), Entra's error page, the
redirect (or auto-posted form) back to the client, and the step pages' common template."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode, urlsplit

from authlib.oauth2 import OAuth2Error
from flask import Response, abort, current_app, redirect, render_template, request
from flask.typing import ResponseReturnValue
from flask_wtf.csrf import validate_csrf

from devtenant.errors import EntraError, Trace, describe, error_uri
from devtenant.oauth import UnknownScopeError, redirect_matches, resolve_delegated

if TYPE_CHECKING:
    from devtenant.app import Tenant

SESSION_EXPIRED = "Your session expired. Please try again."


def tenant_of(tenant: str) -> Tenant:
    """The tenant a page's first path segment names (its id or its name), else 404."""
    t = current_tenant()
    if tenant.lower() not in (t.store.tenant_id, t.store.tenant_name.lower()):
        abort(404)
    return t


def current_tenant() -> Tenant:
    return current_app.extensions["devtenant"]


def error_page(error: EntraError, status: int = 400) -> tuple[str, int]:
    """Entra's own error page (no redirect to the client), with its troubleshooting details."""
    html = render_template(
        "error.html",
        code=error.code,
        message=error.message(current_tenant().store.tenant_id),
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
    params = {
        "error": error.error,
        "error_description": describe(error, current_tenant().store.tenant_id, Trace.for_request()),
        "error_uri": error_uri(error),
    }
    if error.suberror:
        params["suberror"] = error.suberror
    if request.args.get("state"):
        params["state"] = request.args["state"]
    target = redirect_uri or grant.redirect_uri
    return to_client(target, params, request.args.get("response_mode", "query"))


def _invalid_request(exc: OAuth2Error) -> tuple[None, Any]:
    """Why Authlib refused the request: Entra's page for a bad client or redirect URI, else
    an error sent back to the client."""
    t = current_tenant()
    client_id = request.args.get("client_id", "")
    client = t.store.client(client_id) if client_id else None
    if client is None:
        return None, error_page(EntraError("unauthorized_client", 700016, client_id=client_id))
    uri = request.args.get("redirect_uri")
    if uri is None or not redirect_matches(uri, client.get("redirect_uris") or []):
        return None, error_page(
            EntraError("invalid_request", 50011, detail=uri or "", client_id=client_id)
        )
    detail = exc.description or exc.error or "invalid request"
    code = 9002325 if "code_challenge" in detail else 9002313
    error = EntraError(exc.error or "invalid_request", code, detail=detail)
    if exc.redirect_uri:  # Authlib validated the client and its redirect URI
        return None, error_to_client(None, error, exc.redirect_uri)
    return None, error_page(error)


def validated_grant() -> tuple[Any, Any]:
    """(grant, None) for a valid authorization request, else (None, the response to send)."""
    t = current_tenant()
    try:
        grant = t.server.get_consent_grant(request=request, end_user=None)
    except OAuth2Error as exc:
        return _invalid_request(exc)
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


StepView = Callable[["Tenant", Any], ResponseReturnValue]


def step(view: StepView) -> Callable[[str], ResponseReturnValue]:
    """A page of a sign-in, sign-up or reset flow (`/<tenant>/...`): `view(t, grant)` runs only
    for this tenant (else 404) and a valid authorization request (else its refusal), which
    every page checks again since its query string travels from page to page."""

    @functools.wraps(view)
    def page(tenant: str) -> ResponseReturnValue:
        t = tenant_of(tenant)
        grant, response = validated_grant()
        if grant is None:
            return response
        return view(t, grant)

    return page


def auth_args(drop: tuple[str, ...] = ()) -> dict[str, Any]:
    """The authorization request's parameters, for the next page's URL."""
    return {k: v for k, v in request.args.items() if k not in drop}


def csrf_ok() -> bool:
    try:
        validate_csrf(request.form.get("csrf_token", ""))
    except Exception:
        return False
    return True
