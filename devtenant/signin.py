"""Completing a sign-in: the second factor when the MFA policy or a `claims` request asks for
it, the SSO session, and the authorization code sent back to the client.

A multi-page flow (sign-up, one-time-code sign-in, password reset, MFA) keeps its progress in
the tenant's signed session cookie under `flow` (kind, email, the pending code's id, what was
verified); the authorization request itself travels in each page's query string.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from flask import redirect, render_template, request, session, url_for

from devtenant.claims import Claims, SignedIn, SignIn
from devtenant.errors import EntraError
from devtenant.oauth import resolve_delegated
from devtenant.otp import TooManyCodes
from devtenant.records import SsoSession
from devtenant.responses import auth_args, current_tenant, error_to_client, to_client
from devtenant.store import UserInfo

log = logging.getLogger(__name__)
FLOW = "flow"
TOO_MANY_CODES = "We sent you too many codes. Wait 10 minutes, then try again."


@dataclass
class Field:
    """An input of a step page."""

    name: str
    label: str
    type: str = "text"
    value: str = ""
    required: bool = True
    autocomplete: str = "off"
    hint: str = ""
    inputmode: str = ""
    maxlength: int = 256


@dataclass
class Step:
    """A step page: heading, fields, the submit button, and ways back or sideways."""

    title: str
    form_id: str
    fields: list[Field]
    submit: str
    intro: str = ""
    links: list[tuple[str, str, str]] = field(default_factory=list)  # (id, text, href)
    resend: bool = False


def render_step(grant: Any, step: Step, error: str | None = None, notice: str | None = None) -> Any:
    """A step page with the app's name, the error summary (focused) and a Cancel link."""
    cancel = page_url("flows.cancel")
    html = render_template(
        "step.html",
        step=step,
        error=error,
        notice=notice,
        app_name=grant.client.reg["display_name"],
        cancel=cancel,
    )
    return html, 200


def flow() -> dict[str, Any] | None:
    value = session.get(FLOW)
    return value if isinstance(value, dict) else None


def set_flow(**values: Any) -> None:
    session[FLOW] = values


def page_url(endpoint: str, drop: tuple[str, ...] = ()) -> str:
    """The URL of another page of the same flow, carrying the authorization request."""
    tenant = request.view_args["tenant"]  # type: ignore[index]
    return url_for(endpoint, tenant=tenant, **auth_args(drop))


# -- SSO sessions ---------------------------------------------------------------------------
def current_sso() -> SsoSession | None:
    t = current_tenant()
    sso = t.state.session(session.get("sid", ""))
    if sso is None or t.store.user(sso.oid) is None:
        return None
    return sso


def start_sso(oid: str, amr: list[str]) -> SsoSession:
    t = current_tenant()
    t.state.end_session(session.get("sid"))
    session.clear()  # a new session at sign-in (and the end of any flow)
    sso = t.state.new_session(oid, amr)
    session["sid"] = sso.sid
    return sso


def issue_code(grant: Any, sso: SsoSession) -> Any:
    """The authorization code for the SSO session's user, back to the client."""
    asked = Claims.parse(request.args.get("claims"))
    withheld = current_tenant().step_up().withheld_acrs
    acrs = tuple(c for c in asked.acrs if c not in withheld) if sso.mfa else ()
    sign_in = SignIn(tuple(sso.amr or ["pwd"]), acrs, asked.cp1)
    user = SignedIn(sso.oid, sso.sid, sso.auth_time, sign_in)
    _status, _body, headers = grant.create_authorization_response(grant.redirect_uri, user)
    location = dict(headers)["Location"]
    base_params = set(parse_qsl(urlsplit(grant.redirect_uri).query))
    params = {k: v for k, v in parse_qsl(urlsplit(location).query) if (k, v) not in base_params}
    return to_client(grant.redirect_uri, params, request.args.get("response_mode", "query"))


# -- MFA ------------------------------------------------------------------------------------
def needs_mfa(grant: Any, user: UserInfo) -> bool:
    """Whether the policy (user, app or scope) or the request's `claims` (an authentication
    context) asks for a second factor."""
    t = current_tenant()
    if Claims.parse(request.args.get("claims")).acrs:
        return True
    scopes = resolve_delegated(
        request.args.get("scope", ""), grant.client.reg, t.store.registrations["api"]
    )
    return t.mfa_policy().covers((user.oid, user.email), grant.client.get_client_id(), scopes.full)


def start_mfa(grant: Any, user: UserInfo, amr: list[str]) -> Any:
    """Mail a code to the user and show the code page (the second factor)."""
    app = grant.client.reg["display_name"]
    try:
        code_id: str | None = current_tenant().mailer.send_code(user.email, "mfa", app)
    except TooManyCodes:
        code_id = None
    set_flow(kind="mfa", email=user.email, oid=user.oid, amr=amr, code_id=code_id)
    return redirect(page_url("flows.verify"))


def finish_sign_in(grant: Any, oid: str, amr: list[str]) -> Any:
    """The user proved `amr`: a second factor first if needed, else the SSO session and code."""
    user = current_tenant().store.user(oid)
    if user is None:
        return error_to_client(grant, EntraError("invalid_grant", 50173))
    if "mfa" not in amr and needs_mfa(grant, user):
        return start_mfa(grant, user, amr)
    return issue_code(grant, start_sso(oid, amr))
