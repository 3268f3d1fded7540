"""The multi-page flows of External ID's sign-up and sign-in user flow (plain http pages port):

- sign-up: email -> one-time code -> password (Entra's policy) -> attributes -> signed in;
- the code page shared by sign-up, one-time-passcode sign-in, password reset and MFA
  (wrong code, expired code, too many attempts, resend: each says so);
- self-service password reset: email -> code -> new password -> signed in, the user's
  earlier refresh tokens and SSO sessions revoked;
- Cancel: back to the client with `access_denied`.
"""

from __future__ import annotations

import dataclasses
import re
import secrets
from typing import TYPE_CHECKING, Any

from flask import Blueprint, redirect, request, session
from flask.typing import ResponseReturnValue

from devtenant.errors import EntraError
from devtenant.otp import CodeCheck, TooManyCodes
from devtenant.passwords import password_problem
from devtenant.responses import (
    SESSION_EXPIRED,
    csrf_ok,
    current_tenant,
    error_to_client,
    step,
)
from devtenant.signin import (
    FLOW,
    TOO_MANY_CODES,
    Field,
    Step,
    finish_sign_in,
    flow,
    issue_code,
    page_url,
    render_step,
    set_flow,
    start_sso,
)
from devtenant.store import UserExists, hash_password

if TYPE_CHECKING:
    from devtenant.app import Tenant

bp = Blueprint("flows", __name__)
EXISTS = "An account with this email address already exists. Sign in instead."
ENTER_EMAIL = "Enter your email address, for example name@example.com."
WRONG_CODE = "That code is incorrect. Check it and try again."
EXPIRED_CODE = "That code has expired. We sent you a new one."
LOCKED_CODE = "You entered a wrong code too many times. Select Resend code to get a new one."
BUILT_IN_ATTRIBUTES = (
    Field("name", "Display name", autocomplete="name"),
    Field("given_name", "Given name", required=False, autocomplete="given-name", maxlength=64),
    Field("surname", "Surname", required=False, autocomplete="family-name", maxlength=64),
    Field("city", "City", required=False, autocomplete="address-level2", maxlength=128),
)


def _email_field(value: str = "") -> Field:
    return Field("email", "Email address", "email", value, autocomplete="username", maxlength=320)


def _password_fields() -> list[Field]:
    hint = "8 to 256 characters, with 3 of: lowercase, uppercase, numbers, symbols."
    return [
        Field("password", "New password", "password", autocomplete="new-password", hint=hint),
        Field("confirm", "Confirm new password", "password", autocomplete="new-password"),
    ]


def _start(kind: str, email: str, grant: Any, send: bool = True) -> Any:
    """Mail a code for `kind` to `email` and go to the code page (None when rate-limited)."""
    code_id = None
    if send:
        try:
            code_id = current_tenant().mailer.send_code(email, kind, _app(grant))
        except TooManyCodes:
            return None
    set_flow(kind=kind, email=email, code_id=code_id, verified=False)
    return redirect(page_url("flows.verify"))


def _app(grant: Any) -> str:
    return str(grant.client.reg["display_name"])


def _email_ok(email: str) -> bool:
    return bool(re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", email)) and len(email) <= 320


# -- sign-up --------------------------------------------------------------------------------
def _signup_step(email: str = "") -> Step:
    signin = ("signin-link", "Sign in instead", page_url("pages.authorize", drop=("prompt",)))
    intro = "We'll send a code to this address to check that it's yours."
    return Step("Create account", "signup", [_email_field(email)], "Send code", intro, [signin])


@bp.route("/<tenant>/signup", methods=["GET", "POST"])
@step
def signup(t: Tenant, grant: Any) -> ResponseReturnValue:
    email = request.form.get("email", request.args.get("login_hint", "")).strip().lower()
    if request.method == "GET":
        return render_step(grant, _signup_step(email))
    error = None
    if not csrf_ok():
        error = SESSION_EXPIRED
    elif not _email_ok(email):
        error = ENTER_EMAIL
    elif t.store.user_by_email(email) is not None:
        error = EXISTS
    else:
        started = _start("signup", email, grant)
        if started is not None:
            return started
        error = TOO_MANY_CODES
    return render_step(grant, _signup_step(email), error)


def _verified(kind: str) -> dict[str, Any] | None:
    current = flow()
    if current is None or current.get("kind") != kind or not current.get("verified"):
        return None
    return current


@bp.route("/<tenant>/signup/password", methods=["GET", "POST"])
@step
def signup_password(t: Tenant, grant: Any) -> ResponseReturnValue:
    current = _verified("signup")
    if current is None:
        return redirect(page_url("flows.signup"))
    step = Step("Create your password", "set-password", _password_fields(), "Next",
                f"Choose a password for {current['email']}.")
    page = _password_page(grant, step)
    if page is not None:
        return page
    set_flow(**current, password_hash=hash_password(request.form["password"]))
    return redirect(page_url("flows.signup_attributes"))


def _password_page(grant: Any, step: Step) -> ResponseReturnValue | None:
    """The password step's page again (a GET, an expired session, a password the policy
    refuses), or None once the form holds an acceptable password."""
    if request.method == "GET":
        return render_step(grant, step)
    if not csrf_ok():
        return render_step(grant, step, SESSION_EXPIRED)
    problem = password_problem(request.form.get("password", ""), request.form.get("confirm", ""))
    return render_step(grant, step, problem) if problem else None


def _attribute_fields(values: dict[str, str]) -> list[Field]:
    custom = [
        Field(f"ext_{name}", _label(name), required=False, maxlength=256)
        for name in current_tenant().user_flow()["custom_attributes"]
    ]
    fields = [dataclasses.replace(f) for f in (*BUILT_IN_ATTRIBUTES, *custom)]
    for f in fields:
        f.value = values.get(f.name, "")
    return fields


def _label(name: str) -> str:
    """`loyaltyTier` -> "Loyalty tier"."""
    words = re.sub(r"(?<!^)(?=[A-Z])", " ", name).replace("_", " ").lower()
    return words[:1].upper() + words[1:]


def _attributes(fields: list[Field]) -> tuple[dict[str, Any], str | None]:
    """The attributes entered (custom ones under `extensions`), or what is wrong."""
    values: dict[str, Any] = {"extensions": {}}
    for f in fields:
        value = f.value.strip()
        if f.required and not value:
            return values, f"Enter your {f.label.lower()}."
        if len(value) > f.maxlength:
            return values, f"{f.label} can be at most {f.maxlength} characters long."
        if f.name.startswith("ext_"):
            values["extensions"][f.name[4:]] = value
        else:
            values[f.name] = value
    return values, None


@bp.route("/<tenant>/signup/attributes", methods=["GET", "POST"])
@step
def signup_attributes(t: Tenant, grant: Any) -> ResponseReturnValue:
    current = _verified("signup")
    otp = t.user_flow()["sign_in_method"] == "email_otp"
    if current is None or not (otp or current.get("password_hash")):
        return redirect(page_url("flows.signup"))
    fields = _attribute_fields(dict(request.form.items()))
    step = Step("Tell us about yourself", "attributes", fields, "Create account")
    if request.method == "GET":
        return render_step(grant, step)
    if not csrf_ok():
        return render_step(grant, step, SESSION_EXPIRED)
    values, problem = _attributes(fields)
    if problem:
        return render_step(grant, step, problem)
    name = values.pop("name")
    # An account of the one-time-passcode method gets a password nobody knows.
    pw_hash = current.get("password_hash") or hash_password(secrets.token_urlsafe(32))
    try:
        user = t.store.add_user(current["email"], "", name, values, password_hash=pw_hash)
    except UserExists:
        return render_step(grant, step, EXISTS)
    return finish_sign_in(grant, user.oid, ["otp"] if otp else ["pwd"])


# -- the code page --------------------------------------------------------------------------
INTROS = {
    "signup": "Enter the code we sent to {email}.",
    "otp": "Enter the code we sent to {email}.",
    "reset": "If an account exists for {email}, we sent a code to it. Enter it here.",
    "mfa": "To confirm it's you, enter the code we sent to {email}.",
}


def _code_step(current: dict[str, Any]) -> Step:
    hint = "8 digits, for example 12345678."
    code = Field(
        "code",
        "Code",
        value="",
        autocomplete="one-time-code",
        hint=hint,
        inputmode="numeric",
        maxlength=8,
    )
    back = ("back-link", "Use another email address", _restart_url(current["kind"]))
    intro = INTROS[current["kind"]].format(email=current["email"])
    return Step("Verify your email", "verify", [code], "Verify", intro, [back], resend=True)


def _restart_url(kind: str) -> str:
    endpoint = {"signup": "flows.signup", "reset": "flows.reset"}.get(kind, "pages.authorize")
    return page_url(endpoint, drop=("prompt",))


def _resend(grant: Any, current: dict[str, Any], message: str | None) -> Any:
    """A new code (for a reset of an unknown address: none, without saying so)."""
    t = current_tenant()
    step = _code_step(current)
    known = current["kind"] != "reset" or t.store.user_by_email(current["email"]) is not None
    if known:
        try:
            code_id = t.mailer.send_code(current["email"], current["kind"], _app(grant))
        except TooManyCodes:
            return render_step(grant, step, TOO_MANY_CODES)
        set_flow(**{**current, "code_id": code_id})
    if message:
        return render_step(grant, step, message)
    return render_step(grant, step, notice=f"We sent a new code to {current['email']}.")


@bp.route("/<tenant>/verify", methods=["GET", "POST"])
@step
def verify(t: Tenant, grant: Any) -> ResponseReturnValue:
    current = flow()
    if current is None or current.get("verified"):
        return redirect(page_url("pages.authorize"))
    step = _code_step(current)
    if request.method == "GET":
        return render_step(
            grant,
            step,
            None if current.get("code_id") or current["kind"] == "reset" else TOO_MANY_CODES,
        )
    if not csrf_ok():
        return render_step(grant, step, SESSION_EXPIRED)
    if request.form.get("action") == "resend":
        return _resend(grant, current, None)
    entered = request.form.get("code", "")
    result = t.mailer.check(current.get("code_id"), current["email"], current["kind"], entered)
    if result is CodeCheck.OK:
        return _verified_next(grant, current)
    if result in (CodeCheck.EXPIRED, CodeCheck.UNKNOWN) and current.get("code_id"):
        return _resend(grant, current, EXPIRED_CODE)
    return render_step(grant, step, LOCKED_CODE if result is CodeCheck.LOCKED else WRONG_CODE)


def _verified_next(grant: Any, current: dict[str, Any]) -> Any:
    """Where a right code leads: the next page of a sign-up or reset, or signed in."""
    kind = current["kind"]
    if kind == "mfa":
        return issue_code(grant, start_sso(current["oid"], [*current["amr"], "mfa"]))
    if kind == "otp":
        user = current_tenant().store.user_by_email(current["email"])
        if user is None:
            return redirect(page_url("pages.authorize"))
        return finish_sign_in(grant, user.oid, ["otp"])
    set_flow(**{**current, "verified": True, "code_id": None})
    if kind == "reset":
        return redirect(page_url("flows.reset_password"))
    if current_tenant().user_flow()["sign_in_method"] == "email_otp":
        return redirect(page_url("flows.signup_attributes"))
    return redirect(page_url("flows.signup_password"))


# -- self-service password reset --------------------------------------------------------------
def _reset_step(email: str = "") -> Step:
    back = ("signin-link", "Back to sign in", page_url("pages.authorize", drop=("prompt",)))
    intro = "Enter the email address of your account. We'll send you a code to reset your password."
    return Step("Reset your password", "reset", [_email_field(email)], "Send code", intro, [back])


@bp.route("/<tenant>/reset", methods=["GET", "POST"])
@step
def reset(t: Tenant, grant: Any) -> ResponseReturnValue:
    email = request.form.get("email", request.args.get("login_hint", "")).strip().lower()
    if request.method == "GET":
        return render_step(grant, _reset_step(email))
    if not csrf_ok():
        return render_step(grant, _reset_step(email), SESSION_EXPIRED)
    if not _email_ok(email):
        return render_step(grant, _reset_step(email), ENTER_EMAIL)
    known = t.store.user_by_email(email) is not None  # an unknown address gets no mail
    started = _start("reset", email, grant, send=known)
    if started is None:
        return render_step(grant, _reset_step(email), TOO_MANY_CODES)
    return started


@bp.route("/<tenant>/reset/password", methods=["GET", "POST"])
@step
def reset_password(t: Tenant, grant: Any) -> ResponseReturnValue:
    current = _verified("reset")
    user = t.store.user_by_email(current["email"]) if current else None
    if user is None:
        return redirect(page_url("flows.reset"))
    step = Step("Reset your password", "set-password", _password_fields(), "Reset password",
                f"Choose a new password for {user.email}.")
    page = _password_page(grant, step)
    if page is not None:
        return page
    t.store.set_password(user.oid, request.form["password"])
    t.state.revoke_user_sessions(user.oid)  # as Entra does after a reset (AADSTS50173)
    return finish_sign_in(grant, user.oid, ["pwd"])


@bp.get("/<tenant>/cancel")
@step
def cancel(t: Tenant, grant: Any) -> ResponseReturnValue:
    """The user gave up: back to the client with access_denied, as Entra's Cancel does."""
    session.pop(FLOW, None)
    return error_to_client(grant, EntraError("access_denied", 65004))
