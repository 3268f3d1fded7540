"""What the web app's stores hold for a session id, read as the app reads them.

Tests prove with these that a session is gone, kept nothing of a failed sign-in, or signs in
the right user; only this module knows how the app lays a session out (the names are the
app's own, from `app.identity`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from flask import Flask

from app.identity import ACCOUNT_KEY, TOKENS_KEY, USER_KEY


def _stored(flask_app: Flask, session_id: str | None) -> dict[str, Any] | None:
    if session_id is None:
        return None
    interface = flask_app.session_interface
    return interface._retrieve_session_data(interface._get_store_id(session_id))  # type: ignore[attr-defined]


def session_exists(flask_app: Flask, session_id: str | None) -> bool:
    """Whether the app's session store holds anything for `session_id`."""
    return _stored(flask_app, session_id) is not None


def signed_in_oid(flask_app: Flask, session_id: str | None) -> str | None:
    """The object id of the user the stored session signs in (None: nobody)."""
    user = (_stored(flask_app, session_id) or {}).get(USER_KEY)
    return user.get("oid") if isinstance(user, dict) else None


def holds_sign_in(flask_app: Flask, session_id: str | None) -> bool:
    """Whether the stored session holds anything of a signed-in user: claims, the account or
    a token cache."""
    return bool({USER_KEY, ACCOUNT_KEY, TOKENS_KEY} & set(_stored(flask_app, session_id) or {}))


def stored_tokens(flask_app: Flask, session_id: str | None) -> dict[str, Any] | None:
    """The MSAL token cache (parsed) of the session `session_id` in the app's token store."""
    key = (_stored(flask_app, session_id) or {}).get(TOKENS_KEY)
    if key is None:
        return None
    stored = flask_app.extensions["identity"].tokens.load(key)
    return json.loads(stored.cache) if stored.cache else None


def token_cache_file(flask_app: Flask, session_id: str | None) -> Path:
    """The file that holds the session's token cache (the file-system token store)."""
    key = (_stored(flask_app, session_id) or {}).get(TOKENS_KEY)
    if key is None:
        raise AssertionError(f"the session {session_id!r} has no token cache")
    return flask_app.config["WEB_CONFIG"].instance_dir / "tokens" / f"{key}.json"


def token_key(flask_app: Flask, session_id: str | None) -> str:
    """The key of the session's token cache in the app's token store (to take its lock)."""
    key = (_stored(flask_app, session_id) or {}).get(TOKENS_KEY)
    if not isinstance(key, str):
        raise AssertionError(f"the session {session_id!r} has no token cache")
    return key
