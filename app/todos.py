"""The to-do list pages (`/todos`): list, add, edit, delete, all working without JavaScript.

Every write is a form POST answered by a redirect (POST-redirect-GET) with a flash message.
Views only call the API; what went wrong is the blueprint's handlers' job. Nothing the user
typed is dropped: `@keeps_text` records the form (which one, the text), so a failed write comes
back with the text in its box and says why; when the user has to sign in again (for the write
scope, say) the text is kept in the session as a draft and put back afterwards.

Sign-in loops are cut: before sending the user to sign in for a scope we note it in the
session; if silent acquisition for that scope fails again right after, we show a page instead.
"""

from __future__ import annotations

import functools
import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar, cast
from urllib.parse import urlencode

from flask import (
    Blueprint,
    current_app,
    flash,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from werkzeug.wrappers import Response

from app import api_client, messages, pending
from app.api_client import ApiForbidden, ApiNotFound, ApiRejected, ApiUnavailable
from app.auth import login_required
from app.errors import log_failure
from app.failures import ConsentMissing, Failure, SignInRequired
from app.identity import current_identity
from app.sessions import note_api_change

bp = Blueprint("todos", __name__)

DRAFT_KEY = "todo_draft"
REAUTH_KEY = "todo_reauth"
# Kept in the new session when the user signs in again for a scope, so that the text and the
# "sent to sign in" marker survive the round trip; "_flashes" is Flask's message list.
KEPT_AT_SIGN_IN = (DRAFT_KEY, REAUTH_KEY, "_flashes")
REAUTH_WINDOW_SECONDS = 600
DELETE_ACTION = "todo-delete"  # a delete a step-up interrupted (app.pending)
KEY_FIELD = "idempotency_key"
KEY_PATTERN = re.compile(r"^[0-9a-f]{32}$")

F = TypeVar("F", bound=Callable[..., Any])
Page = Response | tuple[str, int] | str


@bp.app_context_processor
def todo_settings() -> dict[str, Any]:
    return {"todo_max_length": _max_length()}


# --- the form a request came from --------------------------------------------------------------


@dataclass(frozen=True)
class TodoForm:
    """The form a request belongs to: `op` add/edit/delete, the page it is on, the text, and
    for the add form its idempotency key (kept when the form comes back, so that sending the
    same text again after a failure cannot add it twice)."""

    op: str
    item_id: int | None
    text: str | None
    key: str

    @property
    def page(self) -> str:
        return "edit" if self.op == "edit" else "list"

    @property
    def next_path(self) -> str:
        """Where to come back to after signing in."""
        if self.op == "edit":
            return url_for("todos.edit", item_id=self.item_id)
        return url_for("todos.index")


def keeps_text(op: str) -> Callable[[F], F]:
    """Record the view's form in `g.todo_form`: a POST's text, or a GET's kept draft."""

    def decorate(view: F) -> F:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            item_id = kwargs.get("item_id")
            if request.method == "POST":
                text = request.form.get("description", "") if op != "delete" else None
                key = _idempotency_key(request.form.get(KEY_FIELD))
            else:
                text, key = _take_draft(op, item_id)
            g.todo_form = TodoForm(op, item_id, text, key)
            return view(*args, **kwargs)

        return cast(F, wrapper)

    return decorate


def _form() -> TodoForm:
    return cast(TodoForm, g.get("todo_form") or TodoForm("add", None, None, _new_key()))


def _new_key() -> str:
    return uuid.uuid4().hex


def _idempotency_key(value: str | None) -> str:
    """The form's key if it is one of ours (32 hex digits), else a new one."""
    return value if value and KEY_PATTERN.match(value) else _new_key()


# --- drafts and the sign-in loop guard -------------------------------------------------------


def _user_oid() -> str | None:
    user = current_identity().user() or {}
    return user.get("oid") or user.get("sub")


def _take_draft(op: str, item_id: int | None = None) -> tuple[str | None, str]:
    """The text the user typed before being sent to sign in (once, for this form), and the
    form's idempotency key (the draft's, or a new one)."""
    draft = session.get(DRAFT_KEY)
    if not isinstance(draft, dict) or draft.get("op") != op or draft.get("id") != item_id:
        return None, _new_key()
    session.pop(DRAFT_KEY, None)
    if draft.get("user") != _user_oid():
        # Someone else signed in on this browser: the text is not theirs to see.
        return None, _new_key()
    description = draft.get("description")
    text = description if isinstance(description, str) else None
    return text, _idempotency_key(draft.get("key"))


def reauth_pending(scopes: list[str], claims: str | None = None) -> bool:
    """Whether we just sent the user to sign in for `scopes` (and a claims challenge's
    `claims`, for a step-up): the sign-in loop guard; the profile pages use it too."""
    marker = session.get(REAUTH_KEY)
    return (
        isinstance(marker, dict)
        and marker.get("scopes") == scopes
        and marker.get("claims") == claims
        and time.time() - float(marker.get("at", 0)) < REAUTH_WINDOW_SECONDS
    )


def note_reauth(scopes: list[str], claims: str | None = None) -> None:
    """We are sending the user to sign in for `scopes` (with `claims`, for a step-up)."""
    session[REAUTH_KEY] = {"scopes": scopes, "claims": claims, "at": time.time()}


def reauth_done(scopes: list[str]) -> None:
    """A call with `scopes` went through: a sign-in we sent the user to for them worked."""
    marker = session.get(REAUTH_KEY)
    if isinstance(marker, dict) and marker.get("scopes") == scopes:
        session.pop(REAUTH_KEY, None)


def _succeeded(kind: str) -> None:
    reauth_done(api_client.scopes_for(kind))


def signin_url(scopes: list[str], next_path: str, claims: str | None = None) -> str:
    """`/auth/signin` for `scopes`, back to `next_path`; `claims` for a step-up."""
    query = {"next": next_path, "scope": " ".join(scopes)}
    if claims is not None:
        query["claims"] = claims
    return url_for("auth.signin") + "?" + urlencode(query)


# --- failures --------------------------------------------------------------------------------


def _permission_page(writing: bool, after_sign_in: bool, retry_url: str | None) -> Page:
    message = messages.no_permission(writing, after_sign_in)
    return render_template(
        "todo_problem.html", title=message.title, message=message.text,
        description=_form().text, retry_url=retry_url,
    ), 403


def _step_up_page(retry_url: str) -> Page:
    """The loop guard's page for a claims challenge the sign-in did not satisfy."""
    message = messages.STEP_UP_NOT_DONE
    return render_template("todo_problem.html", title=message.title, message=message.text,
                           description=_form().text, retry_url=retry_url), 403


@bp.errorhandler(SignInRequired)
def sign_in_needed(exc: SignInRequired) -> Page:
    """Off to sign in for the scope (and a step-up's claims), the text kept, or the delete
    kept to be finished on return (`/todos/resume`); a page instead if we just did that."""
    form = _form()
    writing = exc.scopes == api_client.scopes_for(api_client.WRITE)
    current_app.logger.info("sign-in needed for %s: %s", " ".join(exc.scopes), exc.reason)
    if reauth_pending(exc.scopes, exc.claims):
        # We sent the user to sign in for this and silent acquisition (or the API) still
        # refuses: the tenant will not give this account that token. A page, not a loop.
        session.pop(REAUTH_KEY, None)
        again = signin_url(exc.scopes, form.next_path, exc.claims)
        if exc.claims is not None:
            pending.drop()
            return _step_up_page(again)
        return _permission_page(writing, True, again)
    note_reauth(exc.scopes, exc.claims)
    if exc.claims is not None and form.op == "delete":
        pending.keep(DELETE_ACTION, {"id": form.item_id, "description": _deleted_text()})
        return redirect(signin_url(exc.scopes, url_for("todos.resume"), exc.claims))
    if form.text is not None:
        session[DRAFT_KEY] = {
            "op": form.op, "id": form.item_id, "description": form.text, "user": _user_oid(),
            "key": form.key,
        }
    if form.op == "delete":
        flash(messages.SIGNED_IN_AGAIN_DELETE, "info")
    elif form.text:
        flash(messages.SIGNED_IN_AGAIN_TEXT, "info")
    return redirect(signin_url(exc.scopes, form.next_path, exc.claims))


@bp.errorhandler(Failure)
def failed(failure: Failure) -> Page:
    """The page for a failed to-do operation, the user's text kept."""
    log_failure(failure)
    form = _form()
    if isinstance(failure, ConsentMissing):
        # External ID's customers cannot grant consent themselves: no sign-in round trip.
        session.pop(REAUTH_KEY, None)
        writing = failure.scopes == api_client.scopes_for(api_client.WRITE)
        return _permission_page(writing, False, signin_url(failure.scopes, form.next_path))
    if isinstance(failure, ApiForbidden):
        return _permission_page(request.method != "GET", False, None)
    if isinstance(failure, ApiNotFound):
        flash(messages.ITEM_GONE, "error")
        return redirect(url_for("todos.index"))
    if isinstance(failure, ApiRejected):
        return _form_page(form, field_error=failure.detail, status=400)
    return _form_page(form, problem=failure.message, status=failure.status)


def _form_page(
    form: TodoForm,
    *,
    status: int,
    problem: messages.Message | None = None,
    field_error: str | None = None,
) -> tuple[str, int]:
    """Re-show the form the user was on, their text in the box, with what went wrong."""
    shown = {"problem": problem and problem.text, "problem_title": problem and problem.title,
             "field_error": field_error}
    if form.page == "edit":
        item = {"id": form.item_id, "description": form.text or ""}
        return render_template("todo_edit.html", item=item, **shown), status
    items: list[dict[str, Any]] | None = None
    if problem is None:
        # The API refused the input but works: show the list under the form as usual.
        try:
            items = _sorted(api_client.call("GET").body)
        except (Failure, SignInRequired):
            items = None
    return render_template("todos.html", items=items, draft=form.text, form_key=form.key,
                           **shown), status


def _max_length() -> int:
    return cast(int, current_app.config["WEB_CONFIG"].todo_description_max_length)


def _too_long(form: TodoForm) -> Page | None:
    """The form again, the text in its box, when the text is longer than the API takes: said
    in words here (an input's `maxlength` would cut it silently; the API refuses it too)."""
    length, limit = len(form.text or ""), _max_length()
    if length <= limit:
        return None
    refusal = messages.DESCRIPTION_TOO_LONG.format(limit, length)
    return _form_page(form, field_error=refusal, status=400)


def _sorted(items: Any) -> list[dict[str, Any]]:
    if not isinstance(items, list):
        raise ApiUnavailable(messages.API_GARBLED, 502, "to-do API GET listed no JSON array")
    valid = [i for i in items if isinstance(i, dict) and isinstance(i.get("id"), int)]
    return sorted(valid, key=lambda i: i["id"])


# --- pages -----------------------------------------------------------------------------------


@bp.get("/todos")
@login_required
@keeps_text("add")
def index() -> Page:
    items = _sorted(api_client.call("GET").body)
    _succeeded(api_client.READ)
    return render_template("todos.html", items=items, draft=_form().text, problem=None,
                           field_error=None, form_key=_form().key)


@bp.post("/todos")
@login_required
@keeps_text("add")
def add() -> Page:
    form = _form()
    if (refused := _too_long(form)) is not None:
        return refused
    result = api_client.call("POST", json={"description": form.text}, idempotency_key=form.key)
    _succeeded(api_client.WRITE)
    body = result.body if isinstance(result.body, dict) else {}
    added = body.get("description", form.text)
    note_api_change(f"“{added}”")
    flash(messages.ADDED.format(added), "success")
    return redirect(url_for("todos.index"))


@bp.get("/todos/<int:item_id>/edit")
@login_required
@keeps_text("edit")
def edit(item_id: int) -> Page:
    item = api_client.call("GET", item_id).body
    _succeeded(api_client.READ)
    if not isinstance(item, dict):
        raise ApiUnavailable(messages.API_GARBLED, 502, f"to-do API GET item {item_id}: no object")
    draft = _form().text
    if draft is not None:
        item = {**item, "description": draft}
    return render_template("todo_edit.html", item=item, problem=None, field_error=None)


@bp.post("/todos/<int:item_id>/edit")
@login_required
@keeps_text("edit")
def update(item_id: int) -> Page:
    if (refused := _too_long(_form())) is not None:
        return refused
    description = _form().text or ""
    api_client.call("PUT", item_id, json={"description": description})
    _succeeded(api_client.WRITE)
    note_api_change(f"“{description.strip()}”")
    flash(messages.SAVED.format(description.strip()), "success")
    return redirect(url_for("todos.index"))


def _deleted_text() -> str:
    """The deleted item's text for the flash: the form carries it (no extra call to the API)."""
    return (request.form.get("description") or "").strip()[: _max_length() + 1]


def _delete(item_id: int, named: str) -> Page:
    api_client.call("DELETE", item_id)
    _succeeded(api_client.WRITE)
    note_api_change("The deletion")
    fits = 0 < len(named) <= _max_length()
    flash(messages.DELETED.format(named) if fits else messages.DELETED_UNNAMED, "success")
    return redirect(url_for("todos.index"))


@bp.post("/todos/<int:item_id>/delete")
@login_required
@keeps_text("delete")
def delete(item_id: int) -> Page:
    return _delete(item_id, _deleted_text())


@bp.get("/todos/resume")
@login_required
def resume() -> Page:
    """Back from a step-up (a second factor the API asked for): finish the delete the user
    pressed before it (`app.pending`: once, same user, within the sign-in's lifetime)."""
    kept = pending.take(DELETE_ACTION) or {}
    item_id = kept.get("id")
    if not isinstance(item_id, int) or item_id < 1:
        return redirect(url_for("todos.index"))
    g.todo_form = TodoForm("delete", item_id, None, _new_key())
    return _delete(item_id, str(kept.get("description") or ""))
