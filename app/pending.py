"""An action the user asked for that a sign-in interrupted, finished when they come back.

When a token needs the user (a scope to consent to, a sign-in to renew, a second factor) the
page keeps what was asked (`keep`: the profile's typed values, the to-do item to delete) in the
session, sends the user to the tenant, and the sign-in returns to a `.../resume` page, which
`take`s it and finishes it. A GET finishing a POST is safe here because only a POST that passed
the CSRF check keeps an action, and `take` hands it out once, to the same user, within the
sign-in flow's lifetime. One action per session: a new one replaces the last.
"""

from __future__ import annotations

import time
from typing import Any

from flask import session

from app.identity import current_identity

PENDING_KEY = "pending_action"
KEPT_AT_SIGN_IN = (PENDING_KEY,)


def keep(kind: str, data: dict[str, Any]) -> None:
    """Remember the action `kind` (e.g. "profile-save") with its JSON-able `data`."""
    identity = current_identity()
    session[PENDING_KEY] = {"kind": kind, "data": data, "user": identity.user_oid(),
                            "at": time.time()}


def drop() -> None:
    session.pop(PENDING_KEY, None)


def take(kind: str) -> dict[str, Any] | None:
    """The data of the pending `kind` action, removed: once, for the same user, while the
    sign-in it waited for could still be going on; else None."""
    entry = session.get(PENDING_KEY)
    if not isinstance(entry, dict) or entry.get("kind") != kind:
        return None
    session.pop(PENDING_KEY, None)
    identity = current_identity()
    if entry.get("user") != identity.user_oid():
        return None  # someone else signed in on this browser: not theirs to finish
    if time.time() - float(entry.get("at", 0)) > identity.flow_lifetime:
        return None
    data = entry.get("data")
    return data if isinstance(data, dict) else None
