"""The ToDoList routes: the original API's contract, with its permission rules enforced.

`POST` also takes an `Idempotency-Key` (draft-ietf-httpapi-idempotency-key-header): a client
that repeats a create it is unsure about (a timeout, a lost answer) with the same key gets the
first answer again instead of a second item.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

from flask import Blueprint, Response, current_app, g, request

from .auth import Caller, Permission, requires
from .claims import require_delete_context
from .errors import ApiProblem
from .storage import (
    IDEMPOTENCY_KEY_LIFETIME,
    MAX_DESCRIPTION_LENGTH,
    MAX_IDEMPOTENCY_KEY_LENGTH,
    NIL_OWNER,
    IdempotencyKey,
    KeyReused,
    ToDoStore,
    TooManyItems,
)

bp = Blueprint("todolist", __name__, url_prefix="/api/todolist")

GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
INTEGER = re.compile(r"^[+-]?[0-9]{1,19}$")
INT64_MAX = 2**63 - 1
# Every description must hold a visible character and no NUL (PostgreSQL text cannot store it).
DESCRIPTION_PATTERN = r"^[^\u0000]*[^\s\u0000][^\u0000]*$"
DESCRIPTION = re.compile(DESCRIPTION_PATTERN)
IDEMPOTENCY_KEY_HEADER = "Idempotency-Key"
# 1 to 255 visible ASCII characters (no space): a UUID, a ULID, a hash all fit.
IDEMPOTENCY_KEY_PATTERN = rf"^[!-~]{{1,{MAX_IDEMPOTENCY_KEY_LENGTH}}}$"
IDEMPOTENCY_KEY = re.compile(IDEMPOTENCY_KEY_PATTERN)


def _store() -> ToDoStore:
    return current_app.extensions["todolist.store"]


def _caller() -> Caller:
    return g.caller


def _json(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    # The standard library's encoder directly: our data is plain JSON types, and this is what
    # Flask's provider would produce with `sort_keys` off, without its per-call indirection.
    return Response(json.dumps(data), status=status, mimetype="application/json", headers=headers)


def _item_id(raw: str) -> int:
    """The path's id as an int (400 unless it is a 64-bit integer)."""
    if INTEGER.match(raw) is None or not -INT64_MAX - 1 <= int(raw) <= INT64_MAX:
        raise ApiProblem(400, f"The id in the path must be an integer, not {raw[:40]!r}.")
    return int(raw)


def _body() -> dict[str, Any]:
    """The request's JSON object with lower-cased member names (400/415 otherwise)."""
    mimetype = request.mimetype
    if mimetype and mimetype != "application/json" and not mimetype.endswith("+json"):
        raise ApiProblem(415, "The request body must be JSON (Content-Type: application/json).")
    raw = request.get_data(cache=False)
    try:
        data = json.loads(raw)
    except RecursionError as exc:
        raise ApiProblem(400, "The request body's JSON nests too deeply.") from exc
    except ValueError as exc:
        raise ApiProblem(400, "The request body is not valid JSON.") from exc
    if not isinstance(data, dict):
        raise ApiProblem(400, "The request body must be a JSON object.")
    members: dict[str, Any] = {}
    for name, value in data.items():
        key = name.lower()
        if key in members:
            raise ApiProblem(400, f"The member {key!r} appears more than once.")
        members[key] = value
    return members


def _description(body: dict[str, Any]) -> str:
    """The body's description (400 with a message a person can act on otherwise: web pages
    show it next to the field)."""
    value = body.get("description")
    if value is None or value == "":
        raise ApiProblem(400, "Type a description.")
    if not isinstance(value, str):
        raise ApiProblem(400, "The description must be text (a JSON string).")
    if len(value) > MAX_DESCRIPTION_LENGTH:
        raise ApiProblem(
            400,
            f"Type a description of up to {MAX_DESCRIPTION_LENGTH} characters; "
            f"this one has {len(value):,}.",
        )
    if "\u0000" in value:
        raise ApiProblem(
            400, "The description holds a NUL character, which cannot be kept; remove it."
        )
    if DESCRIPTION.match(value) is None:
        raise ApiProblem(400, "Type a description, not only spaces.")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ApiProblem(
            400, "The description holds a character that is not valid Unicode; remove it."
        ) from exc
    return value


def _new_owner(body: dict[str, Any], caller: Caller) -> str:
    """The new item's owner: the user's own oid, or for apps `owner` (default: the nil GUID).

    A given `owner` must be a GUID (or null) for every caller, even a user whose value is
    ignored, so that the same body is valid or invalid whoever sends it.
    """
    value = body.get("owner")
    if value is not None and (not isinstance(value, str) or GUID.match(value) is None):
        raise ApiProblem(400, "'owner' must be a GUID (e.g. 3e8f…-db63-43a2-a767-5d7db…).")
    if not caller.is_app:
        return caller.oid
    return NIL_OWNER if value is None else value.lower()


def _idempotency_key(body: dict[str, Any], caller: Caller) -> IdempotencyKey | None:
    """The request's `Idempotency-Key` for the store (400 if malformed), or None without one.

    The fingerprint is the SHA-256 of the body as parsed (member names lower-cased, sorted),
    so a client re-serialising the same body differently still repeats the same request.
    """
    raw = request.headers.get(IDEMPOTENCY_KEY_HEADER)
    if raw is None:
        return None
    if IDEMPOTENCY_KEY.fullmatch(raw) is None:
        raise ApiProblem(
            400,
            f"The {IDEMPOTENCY_KEY_HEADER} header must be 1 to {MAX_IDEMPOTENCY_KEY_LENGTH} "
            "visible ASCII characters without spaces (a UUID, say).",
        )
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"))  # ASCII: \u escapes
    fingerprint = hashlib.sha256(canonical.encode("ascii")).hexdigest()
    return IdempotencyKey(caller.id, raw, fingerprint)


def _too_many(exc: TooManyItems, owner: str, caller: Caller) -> ApiProblem:
    who = f"The owner {owner} has" if caller.is_app else "You have"
    items = f"{exc.count:,} item" + ("" if exc.count == 1 else "s")
    if exc.count == exc.limit:
        text = f"{who} {items}, the most this list keeps."
    else:
        text = f"{who} {items}; this list keeps at most {exc.limit:,}."
    return ApiProblem(409, f"{text} Delete some to add more.")


def _not_found(item_id: int) -> ApiProblem:
    return ApiProblem(404, f"There is no to-do {item_id}.")


@bp.get("", strict_slashes=False)
@requires(Permission.READ)
def list_items() -> Response:
    return _json(_store().list_json(_caller().owner_filter))


@bp.get("/<raw_id>", strict_slashes=False)
@requires(Permission.READ)
def get_item(raw_id: str) -> Response:
    item_id = _item_id(raw_id)
    item = _store().get(item_id, _caller().owner_filter)
    if item is None:
        raise _not_found(item_id)
    return _json(item.to_json())


@bp.post("", strict_slashes=False)
@requires(Permission.WRITE)
def create_item() -> Response:
    caller = _caller()
    body = _body()
    idempotency = _idempotency_key(body, caller)
    description = _description(body)
    owner = _new_owner(body, caller)
    try:
        item = _store().create(owner, description, idempotency)
    except KeyReused as exc:
        raise ApiProblem(
            422,
            f"This {IDEMPOTENCY_KEY_HEADER} was used for another request in the last "
            f"{IDEMPOTENCY_KEY_LIFETIME // 3600} hours; use a new key for a new request.",
        ) from exc
    except TooManyItems as exc:
        raise _too_many(exc, owner, caller) from exc
    # A repeated request gets the first answer: the same status, body and Location.
    return _json(item.to_json(), 201, {"Location": f"/api/todolist/{item.id}"})


@bp.put("/<raw_id>", strict_slashes=False)
@requires(Permission.WRITE)
def update_item(raw_id: str) -> Response:
    item_id = _item_id(raw_id)
    description = _description(_body())
    item = _store().update(item_id, _caller().owner_filter, description)
    if item is None:
        raise _not_found(item_id)
    return _json(item.to_json())


@bp.delete("/<raw_id>", strict_slashes=False)
@requires(Permission.WRITE)
def delete_item(raw_id: str) -> Response:
    require_delete_context(_caller())
    item_id = _item_id(raw_id)
    if not _store().delete(item_id, _caller().owner_filter):
        raise _not_found(item_id)
    return Response(status=204)
