"""Server-side sessions (Flask-Session) that survive an unreachable store and follow https.

- The store (Redis, or files) may be down: opening a session then yields an `UnavailableSession`
  and `init_app`'s `before_request` answers 503 "the session store is unavailable" (an HTML page,
  or problem+json under `/api/`) instead of a 500. A failure while saving turns the response into
  that 503 too, also when the file store merely reports that it could not write (cachelib's
  `set` returns False rather than raising): a sign-in never seems to work and then bounces. If
  the request already changed data at the API (`note_api_change`), the page says it was saved,
  so nobody sends it again. Nothing is cached about the failure: the next request tries the
  store again (redis-py reconnects by itself), so service resumes without a restart. The log
  line names the store (the Redis URL without credentials, or the directory).
- The session cookie is `Secure` when configured (`Config.secure_cookies`) or when the request
  came over https as WSGI sees it (behind a proxy only with `TRUSTED_PROXY_HOPS`, see
  `app.serving.trust_proxies`).
"""

from __future__ import annotations

import os
from typing import Any

import redis
from cachelib.file import FileSystemCache
from flask import Flask, Request, Response, current_app, g, request, session
from flask_session.base import ServerSideSession
from flask_session.cachelib import CacheLibSessionInterface
from flask_session.redis import RedisSessionInterface

from app.errors import error_page
from app.messages import STORE_UNAVAILABLE, STORE_UNAVAILABLE_SAVED
from app.token_store import TokenFilesUnavailable

# What a broken store raises: redis-py's errors, and the file system's.
STORE_ERRORS: tuple[type[BaseException], ...] = (redis.exceptions.RedisError, OSError)
class UnavailableSession(ServerSideSession):
    """Stands in for a session that could not be read; it is never saved."""


def note_api_change(what: str) -> None:
    """This request changed data at the API (`what`: for the page if the session then fails)."""
    g.api_change = what


def store_unavailable() -> Response:
    change = g.get("api_change")
    message = STORE_UNAVAILABLE_SAVED.format(change) if change else STORE_UNAVAILABLE
    response = error_page(503, message)
    response.headers["Retry-After"] = "5"
    return response


def _log_failure(app: Flask, doing: str, exc: BaseException) -> None:
    where = getattr(app.session_interface, "description", "the session store")
    app.logger.error("session store unavailable %s: %s: %s", doing, where,
                     str(exc) or type(exc).__name__)


class _StoreAware:
    """Mixed into Flask-Session's interfaces: store failures become 503s; https → Secure."""

    def get_cookie_secure(self, app: Flask) -> bool:
        return bool(app.config["SESSION_COOKIE_SECURE"]) or request.is_secure

    def open_session(self, app: Flask, req: Request) -> ServerSideSession:
        try:
            return super().open_session(app, req)  # type: ignore[misc]  # a mixin: mypy cannot see the base
        except STORE_ERRORS as exc:
            _log_failure(app, "when reading", exc)
            return UnavailableSession(sid="", permanent=False)

    def save_session(self, app: Flask, session: Any, response: Response) -> None:
        if isinstance(session, UnavailableSession):
            return
        try:
            super().save_session(app, session, response)  # type: ignore[misc]
        except STORE_ERRORS as exc:
            _log_failure(app, "when saving", exc)
            _become(response, store_unavailable())


class RedisSessions(_StoreAware, RedisSessionInterface):
    pass


class FileSessions(_StoreAware, CacheLibSessionInterface):
    def _retrieve_session_data(self, store_id: str) -> Any:
        """cachelib answers None for a session it cannot read, as for one that is not there:
        a store whose directory is gone must not sign everyone out without a word."""
        data = self.cache.get(store_id)
        if data is None and not os.path.isdir(self.cache._path):
            raise OSError(f"the session directory {self.cache._path} is missing")
        return data

    def _upsert_session(self, session_lifetime: Any, session: Any, store_id: str) -> None:
        """cachelib's file store reports a failed write by returning False: make it an error."""
        written = self.cache.set(
            key=store_id, value=dict(session), timeout=int(session_lifetime.total_seconds())
        )
        if not written:
            raise OSError("the session file could not be written")


def delete_stored_session(app: Flask, sid: str) -> None:
    """Delete the stored session `sid` (another browser's: "sign out everywhere")."""
    interface = app.session_interface
    interface._delete_session(interface._get_store_id(sid))  # type: ignore[attr-defined]  # Flask-Session's


def _become(response: Response, replacement: Response) -> None:
    """Turn `response` (already built) into `replacement`, dropping cookies and redirects."""
    response.status_code = replacement.status_code
    response.set_data(replacement.get_data())
    for name in ("Location", "Set-Cookie", "Content-Type"):
        del response.headers[name]
    for name, value in replacement.headers.items():
        if name.lower() != "content-length":
            response.headers[name] = value


# Served without a session: static files (the error page's style) and the health checks.
SESSIONLESS_ENDPOINTS = frozenset({"static", "health.healthz", "health.readyz"})


def _refuse_without_store() -> Response | None:
    if request.endpoint in SESSIONLESS_ENDPOINTS:
        return None
    if isinstance(session, UnavailableSession):
        return store_unavailable()
    return None


def _store_error(exc: Exception) -> Response:
    _log_failure(current_app, "during the request", exc)
    return store_unavailable()


def init_app(
    app: Flask, store: redis.Redis | FileSystemCache, key_prefix: str, description: str
) -> None:
    """Install the session interface for `store` (`description` names it in log lines);
    requests whose session cannot be read get the 503 page (call before anything else that
    reads the session, e.g. CSRF)."""
    interface: RedisSessions | FileSessions
    if isinstance(store, redis.Redis):
        interface = RedisSessions(app, client=store, key_prefix=key_prefix, permanent=False)
    else:
        interface = FileSessions(app, client=store, key_prefix=key_prefix, permanent=False)
    interface.description = description
    app.session_interface = interface
    app.before_request(_refuse_without_store)


def register_error_handlers(app: Flask) -> None:
    """A store failing in the middle of a request (e.g. the token store) answers 503."""
    app.register_error_handler(redis.exceptions.RedisError, _store_error)
    app.register_error_handler(TokenFilesUnavailable, _store_error)
