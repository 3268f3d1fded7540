"""The to-do list pages (`/todos`): list, add, edit, delete, all working without JavaScript.

Every write is a form POST answered by a redirect (POST-redirect-GET) with a flash message.
Nothing the user typed is dropped: when a write cannot be done the page comes back with the
text still in its box and says why; when the user has to sign in again (for the write scope,
say) the text is kept in the session as a draft and put back in the box afterwards.

Sign-in loops are cut: before sending the user to sign in for a scope we note it in the
session; if silent acquisition for that scope fails again right after, we show a page instead.
"""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import urlencode

from flask import (
    Blueprint,
    Flask,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from werkzeug.wrappers import Response

from app import api_client
from app.api_client import (
    ApiForbidden,
    ApiNotFound,
    ApiRejected,
    ApiUnavailable,
    TodoApiError,
)
from app.identity import (
    IdentityProviderUnavailable,
    SignInRequired,
    current_identity,
    login_required,
)

bp = Blueprint("todos", __name__)

DRAFT_KEY = "todo_draft"
REAUTH_KEY = "todo_reauth"
# Kept in the new session when the user signs in again for a scope, so that the text and the
# "sent to sign in" marker survive the round trip; "_flashes" is Flask's message list.
KEPT_AT_SIGN_IN = (DRAFT_KEY, REAUTH_KEY, "_flashes")
REAUTH_WINDOW_SECONDS = 600


def init_app(app: Flask) -> None:
    """Everything the to-do list adds to the web app: API client, pages, JSON proxy."""
    api_client.init_app(app)
    app.register_blueprint(bp)
    app.extensions["identity"].keep_at_sign_in.update(KEPT_AT_SIGN_IN)

    @app.context_processor
    def todo_settings() -> dict[str, Any]:
        return {"todo_max_length": api_client.max_description_length()}


# --- drafts and the sign-in loop guard -------------------------------------------------------


def _user_oid() -> str | None:
    user = current_identity().user() or {}
    return user.get("oid") or user.get("sub")


def _save_draft(op: str, description: str, item_id: int | None = None) -> None:
    session[DRAFT_KEY] = {
        "op": op, "id": item_id, "description": description, "user": _user_oid()
    }


def _take_draft(op: str, item_id: int | None = None) -> str | None:
    """The text the user typed before being sent to sign in, once, for this form."""
    draft = session.get(DRAFT_KEY)
    if not isinstance(draft, dict) or draft.get("op") != op or draft.get("id") != item_id:
        return None
    session.pop(DRAFT_KEY, None)
    if draft.get("user") != _user_oid():
        # Someone else signed in on this browser: the text is not theirs to see.
        return None
    description = draft.get("description")
    return description if isinstance(description, str) else None


def _reauth_pending(scopes: list[str]) -> bool:
    marker = session.get(REAUTH_KEY)
    return (
        isinstance(marker, dict)
        and marker.get("scopes") == scopes
        and time.time() - float(marker.get("at", 0)) < REAUTH_WINDOW_SECONDS
    )


def _succeeded(kind: str) -> None:
    """A call with `kind`'s scope went through: a sign-in we sent the user to for it worked."""
    marker = session.get(REAUTH_KEY)
    if isinstance(marker, dict) and marker.get("scopes") == api_client.scopes_for(kind):
        session.pop(REAUTH_KEY, None)


def signin_url(scopes: list[str], next_path: str) -> str:
    return url_for("auth.signin") + "?" + urlencode({"next": next_path, "scope": " ".join(scopes)})


# --- failures --------------------------------------------------------------------------------


def _problem_page(title: str, message: str, status: int, **extra: Any) -> tuple[str, int]:
    return render_template("todo_problem.html", title=title, message=message, **extra), status


def _failure(
    exc: Exception,
    *,
    next_path: str,
    op: str,
    description: str | None = None,
    item_id: int | None = None,
    form_page: str = "list",
) -> Response | tuple[str, int]:
    """The page for a failed to-do operation; `description` is what the user typed, if any."""
    if isinstance(exc, SignInRequired):
        scopes = list(exc.scopes)
        consent_missing = exc.reason == "consent_required"
        if consent_missing or _reauth_pending(scopes):
            # No consent for this scope (External ID's customers cannot grant it themselves),
            # or we sent the user to sign in for it and silent acquisition still fails: the
            # tenant will not give this account that permission. A page, not a loop.
            session.pop(REAUTH_KEY, None)
            writing = scopes == api_client.scopes_for(api_client.WRITE)
            return _problem_page(
                "Your account lacks permission",
                "Your account does not have permission to "
                + ("change" if writing else "read")
                + " the to-do list: this app has not been granted that access"
                + ("" if consent_missing else ", even after you signed in again")
                + ". Ask the administrator of this site to grant it.",
                403,
                description=description,
                retry_url=signin_url(scopes, next_path),
            )
        session[REAUTH_KEY] = {"scopes": scopes, "at": time.time()}
        if description is not None:
            _save_draft(op, description, item_id)
        if op == "delete":
            flash("You signed in again. Press Delete once more to remove the item.", "info")
        elif description:
            flash("You signed in again; your text is back in the box, ready to save.", "info")
        return redirect(signin_url(scopes, next_path))
    if isinstance(exc, ApiForbidden):
        return _problem_page(
            "Your account lacks permission",
            "Your account does not have permission to "
            + ("read" if request.method == "GET" else "change")
            + " the to-do list. Ask the administrator of this site to grant it access.",
            403,
            description=description,
        )
    if isinstance(exc, ApiNotFound):
        flash("That item no longer exists.", "error")
        return redirect(url_for("todos.index"))
    if isinstance(exc, ApiRejected):
        return _form_page(form_page, item_id, description, field_error=exc.detail, status=400)
    if isinstance(exc, IdentityProviderUnavailable):
        message = "It cannot be reached right now. Please try again later."
        return _form_page(
            form_page, item_id, description, problem=message, status=exc.status,
            problem_title="The sign-in service is unavailable.",
        )
    if isinstance(exc, ApiUnavailable):
        return _form_page(
            form_page, item_id, description, problem=exc.detail, status=exc.status
        )
    raise exc


def _form_page(
    form_page: str,
    item_id: int | None,
    description: str | None,
    *,
    problem: str | None = None,
    problem_title: str = "The to-do service is unavailable.",
    field_error: str | None = None,
    status: int,
) -> tuple[str, int]:
    """Re-show the form the user was on, their text in the box, with what went wrong."""
    if form_page == "edit":
        return render_template(
            "todo_edit.html",
            item={"id": item_id, "description": description or ""},
            problem=problem,
            problem_title=problem_title,
            field_error=field_error,
        ), status
    items: list[dict[str, Any]] | None = None
    if problem is None:
        # The API refused the input but works: show the list under the form as usual.
        try:
            items = _sorted(api_client.call("GET").body)
        except (TodoApiError, SignInRequired, IdentityProviderUnavailable):
            items = None
    return render_template(
        "todos.html",
        items=items,
        draft=description,
        problem=problem,
        problem_title=problem_title,
        field_error=field_error,
    ), status


def _sorted(items: Any) -> list[dict[str, Any]]:
    if not isinstance(items, list):
        raise ApiUnavailable("The to-do service gave an answer we cannot read.", 502)
    valid = [i for i in items if isinstance(i, dict) and isinstance(i.get("id"), int)]
    return sorted(valid, key=lambda i: i["id"])


def _description() -> str:
    return request.form.get("description", "")


# --- pages -----------------------------------------------------------------------------------


@bp.get("/todos")
@login_required
def index() -> Response | tuple[str, int] | str:
    draft = _take_draft("add")
    try:
        items = _sorted(api_client.call("GET").body)
    except (TodoApiError, SignInRequired, IdentityProviderUnavailable) as exc:
        return _failure(exc, next_path=url_for("todos.index"), op="add", description=draft)
    _succeeded(api_client.READ)
    return render_template("todos.html", items=items, draft=draft, problem=None, field_error=None)


@bp.post("/todos")
@login_required
def add() -> Response | tuple[str, int]:
    description = _description()
    try:
        result = api_client.call("POST", json={"description": description})
    except (TodoApiError, SignInRequired, IdentityProviderUnavailable) as exc:
        return _failure(
            exc, next_path=url_for("todos.index"), op="add", description=description
        )
    _succeeded(api_client.WRITE)
    added = result.body.get("description", description) if isinstance(result.body, dict) else ""
    flash(f"Added “{added}”.", "success")
    return redirect(url_for("todos.index"))


@bp.get("/todos/<int:item_id>/edit")
@login_required
def edit(item_id: int) -> Response | tuple[str, int] | str:
    draft = _take_draft("edit", item_id)
    here = url_for("todos.edit", item_id=item_id)
    try:
        item = api_client.call("GET", item_id).body
    except (TodoApiError, SignInRequired, IdentityProviderUnavailable) as exc:
        return _failure(
            exc, next_path=here, op="edit", description=draft, item_id=item_id, form_page="edit"
        )
    _succeeded(api_client.READ)
    if not isinstance(item, dict):
        return _failure(
            ApiUnavailable("The to-do service gave an answer we cannot read.", 502),
            next_path=here, op="edit", description=draft, item_id=item_id, form_page="edit",
        )
    if draft is not None:
        item = {**item, "description": draft}
    return render_template("todo_edit.html", item=item, problem=None, field_error=None)


@bp.post("/todos/<int:item_id>/edit")
@login_required
def update(item_id: int) -> Response | tuple[str, int]:
    description = _description()
    try:
        api_client.call("PUT", item_id, json={"description": description})
    except (TodoApiError, SignInRequired, IdentityProviderUnavailable) as exc:
        return _failure(
            exc,
            next_path=url_for("todos.edit", item_id=item_id),
            op="edit",
            description=description,
            item_id=item_id,
            form_page="edit",
        )
    _succeeded(api_client.WRITE)
    flash(f"Saved “{description.strip()}”.", "success")
    return redirect(url_for("todos.index"))


@bp.post("/todos/<int:item_id>/delete")
@login_required
def delete(item_id: int) -> Response | tuple[str, int]:
    try:
        api_client.call("DELETE", item_id)
    except (TodoApiError, SignInRequired, IdentityProviderUnavailable) as exc:
        return _failure(exc, next_path=url_for("todos.index"), op="delete")
    _succeeded(api_client.WRITE)
    flash("Item deleted.", "success")
    return redirect(url_for("todos.index"))
