"""The profile page (`/profile`): the user's Microsoft Graph profile, its edit form, and
"Sign out everywhere".

Reading needs Graph's `User.Read`, saving `User.ReadWrite` and signing out everywhere
`User.RevokeSessions.All`, each acquired only when used (incremental consent). When a token
needs the user (the tenant answers `interaction_required`: a sign-in must be renewed, or a
Conditional Access policy on `User.ReadWrite` wants a second factor; or Graph answers a claims
challenge) the typed values are kept in the session (`app.pending`), the user is sent to the
tenant for that permission (with the challenge's claims) and comes back to `/profile/resume`,
which completes the save (a GET, but it only finishes a save this user posted with the form's
CSRF token, once, within the sign-in's lifetime). The sign-in loop guard is the to-do pages'
(`app.todos.reauth_pending`).
Other failures show the form again with the typed values and what went wrong.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, cast

from flask import Blueprint, current_app, flash, g, redirect, render_template, url_for
from flask_wtf import FlaskForm
from werkzeug.wrappers import Response
from wtforms import StringField
from wtforms.validators import DataRequired, Length, Optional

from app import graph_client, messages, pending
from app.auth import login_required
from app.errors import log_failure
from app.failures import ConsentMissing, Failure, SignInRequired
from app.graph_client import GraphForbidden
from app.identity import current_identity
from app.todos import note_reauth, reauth_done, reauth_pending, signin_url
from config import GRAPH_READWRITE, Config

bp = Blueprint("profile", __name__)

SAVE_ACTION = "profile-save"  # a save a sign-in interrupted (app.pending)
Page = Response | tuple[str, int] | str


@dataclass(frozen=True)
class ProfileField:
    """A field of the form: its name, Graph's property, label, Graph's maximum length."""

    name: str
    graph: str
    label: str
    max_length: int
    required: bool = False


BUILT_IN = (
    ProfileField("display_name", "displayName", "Display name", 256, required=True),
    ProfileField("given_name", "givenName", "Given name", 64),
    ProfileField("surname", "surname", "Surname", 64),
    ProfileField("city", "city", "City", 128),
)
CUSTOM_MAX_LENGTH = 256  # a string custom attribute's limit


def _label(name: str) -> str:
    """`loyaltyTier` → `Loyalty tier`."""
    words = re.sub(r"(?<!^)(?=[A-Z])", " ", name).lower()
    return words[:1].upper() + words[1:]


def fields() -> list[ProfileField]:
    """The built-in fields, then the configured custom attributes (`CUSTOM_ATTRIBUTES`)."""
    config: Config = current_app.config["WEB_CONFIG"]
    custom = [
        ProfileField(f"ext_{n}", config.extension_property(n), _label(n), CUSTOM_MAX_LENGTH)
        for n in config.custom_attributes
    ]
    return [*BUILT_IN, *custom]


def _strip(value: Any) -> Any:
    return value.strip() if isinstance(value, str) else value


def profile_form(data: dict[str, str] | None = None) -> FlaskForm:
    """The edit form (the request's form data on a POST, else `data`), bounded as Graph is."""
    attrs: dict[str, Any] = {}
    for f in fields():
        first = DataRequired(f"Type a {f.label.lower()}.") if f.required else Optional()
        too_long = Length(max=f.max_length, message=f"Type up to {f.max_length} characters.")
        attrs[f.name] = StringField(f.label, validators=[first, too_long], filters=[_strip])
    form_class = type("ProfileForm", (FlaskForm,), attrs)
    if data is not None:
        return cast(FlaskForm, form_class(formdata=None, data=data))
    return cast(FlaskForm, form_class())


def _values(form: FlaskForm) -> dict[str, str]:
    return {f.name: str(form[f.name].data or "") for f in fields()}


def _page(form: FlaskForm | None, status: int = 200, problem: messages.Message | None = None,
          retry_url: str | None = None) -> tuple[str, int]:
    user = current_identity().user() or {}
    email = user.get("email") or user.get("preferred_username") or ""
    html = render_template("profile.html", form=form, fields=fields(), email=email,
                           problem=problem, retry_url=retry_url)
    return html, status


# --- saving ----------------------------------------------------------------------------------


def _save(values: dict[str, str]) -> None:
    """PATCH /me with the values (an empty optional field clears the property)."""
    g.profile_values = values
    graph_client.update_me({f.graph: values.get(f.name) or None for f in fields()})
    reauth_done([GRAPH_READWRITE])
    current_identity().note_profile_change(values["display_name"])


def _take_draft() -> dict[str, str] | None:
    """The values of a save interrupted by a sign-in (`app.pending`)."""
    values = (pending.take(SAVE_ACTION) or {}).get("values")
    return {str(k): str(v) for k, v in values.items()} if isinstance(values, dict) else None


# --- failures --------------------------------------------------------------------------------


def _kept_form() -> FlaskForm | None:
    values = g.get("profile_values")
    return profile_form(values) if values is not None else None


@bp.errorhandler(SignInRequired)
def sign_in_needed(exc: SignInRequired) -> Page:
    """Off to the tenant for the permission (or a step-up's second factor: a Conditional
    Access policy on the scope, or Graph's claims challenge), the typed values kept; a page
    if we just did."""
    current_app.logger.info("sign-in needed for %s: %s", " ".join(exc.scopes), exc.reason)
    again = signin_url(exc.scopes, url_for("profile.show"), exc.claims)
    if reauth_pending(exc.scopes, exc.claims):
        pending.drop()
        problem = (messages.PROFILE_STEP_UP_NOT_DONE if exc.claims is not None else
                   messages.PROFILE_SIGN_IN_AGAIN.format(", even after you signed in again"))
        return _page(_kept_form(), 403, problem, retry_url=again)
    note_reauth(exc.scopes, exc.claims)
    values = g.get("profile_values")
    if values is not None:
        pending.keep(SAVE_ACTION, {"values": values})
        return redirect(signin_url(exc.scopes, url_for("profile.resume"), exc.claims))
    if g.get("profile_op") == "revoke":
        flash(messages.PROFILE_SIGNED_IN_AGAIN_REVOKE, "info")
    return redirect(again)


@bp.errorhandler(Failure)
def failed(failure: Failure) -> Page:
    """The form again with the typed values and what went wrong."""
    log_failure(failure)
    if isinstance(failure, ConsentMissing | GraphForbidden):
        pending.drop()
        again = signin_url(getattr(failure, "scopes", [GRAPH_READWRITE]), url_for("profile.show"))
        return _page(_kept_form(), 403, messages.PROFILE_NO_PERMISSION.format(""), again)
    return _page(_kept_form(), failure.status, failure.message)


# --- pages -----------------------------------------------------------------------------------


@bp.get("/profile")
@login_required
def show() -> Page:
    me = graph_client.get_me([f.graph for f in fields()])
    form = profile_form({f.name: str(me.get(f.graph) or "") for f in fields()})
    return _page(form)


@bp.post("/profile")
@login_required
def save() -> Page:
    form = profile_form()
    if not form.validate():
        return _page(form, 400)
    _save(_values(form))
    flash(messages.PROFILE_SAVED, "success")
    return redirect(url_for("profile.show"))


@bp.get("/profile/resume")
@login_required
def resume() -> Page:
    """Back from the tenant: finish the save the user asked for before it sent them there."""
    values = _take_draft()
    if values is None:
        return redirect(url_for("profile.show"))
    _save(values)
    flash(messages.PROFILE_SIGNED_IN_AGAIN, "success")
    return redirect(url_for("profile.show"))


@bp.post("/profile/sign-out-everywhere")
@login_required
def sign_out_everywhere() -> Page:
    """Graph's revokeSignInSessions, then every session of the user here, then this browser."""
    g.profile_op = "revoke"
    graph_client.revoke_sign_in_sessions()
    return redirect(current_identity().sign_out_everywhere())
