"""The web app: a Flask confidential client of Microsoft Entra External ID.

`create_app(config)` builds it (flaskr style). The path from signing in to calling the API is
three files: `auth` (the sign-in routes), `identity` (MSAL's flow, the user, tokens) and
`api_client` (the ToDoList API as the user). Around them: `pages` and `todos` (HTML), `proxy`
(JSON for browser code), `health` (`/healthz`, `/readyz`), `failures`/`messages`/`errors` (what
went wrong, in words and in the log), `sessions` and `token_store` (server-side state),
`security` (CSRF, headers), `serving` (request log, proxies) and `doctor` (`flask --app app
doctor`). In production `python -m common.serve app:create_app` serves it (Granian).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import click
import redis
from cachelib.file import FileSystemCache
from flask import Flask, url_for

from app import (
    api_client,
    auth,
    doctor,
    errors,
    graph_client,
    health,
    pages,
    pending,
    profile,
    proxy,
    ratelimit,
    security,
    serving,
    sessions,
    todos,
)
from app.flows import BrowserFlows, FileFlowStore, FlowStore, RedisFlowStore
from app.identity import Identity, current_identity
from app.token_store import FileTokenStore, RedisTokenStore, TokenStore
from app.user_sessions import FileSessionIndex, RedisSessionIndex, SessionIndex
from common.settings import SettingsError
from config import Config

ROOT = Path(__file__).resolve().parent.parent
SESSION_COOKIE = "todo_session"
SESSION_FILE_LIMIT = 10_000
FLOW_LIFETIME = 600.0  # seconds a sign-in may take, from start to the tenant's answer
# Redis: fail fast when the server is down (a 503 page, not a hung request).
REDIS_CONNECT_TIMEOUT = 2.0
REDIS_SOCKET_TIMEOUT = 5.0


@dataclass(frozen=True)
class Stores:
    """Where server-side state lives: all in Redis, or all under the instance directory."""

    sessions: redis.Redis | FileSystemCache
    tokens: TokenStore
    flows: FlowStore
    index: SessionIndex  # each user's sessions (sign out everywhere)
    description: str  # for log lines: the Redis URL without credentials, or the directory


def _stores(config: Config) -> Stores:
    lifetime = config.session_absolute_hours * 3600
    if config.session_type == "redis":
        client = redis.Redis.from_url(
            config.redis_url or "",
            socket_connect_timeout=REDIS_CONNECT_TIMEOUT,
            socket_timeout=REDIS_SOCKET_TIMEOUT,
            health_check_interval=30,
        )
        parts = urlsplit(config.redis_url or "")
        where = f"Redis at {parts.scheme}://{parts.hostname or ''}:{parts.port or ''}{parts.path}"
        return Stores(client, RedisTokenStore(client, lifetime),
                      RedisFlowStore(client, FLOW_LIFETIME, config.signin_pending_limit),
                      RedisSessionIndex(client, lifetime), where)
    config.session_dir.mkdir(parents=True, exist_ok=True)
    files = FileSystemCache(str(config.session_dir), threshold=SESSION_FILE_LIMIT, mode=0o600)
    return Stores(
        files, FileTokenStore(config.instance_dir / "tokens", lifetime),
        FileFlowStore(config.instance_dir / "flows", FLOW_LIFETIME, config.signin_pending_limit),
        FileSessionIndex(config.instance_dir / "user-sessions", lifetime),
        f"files under {config.instance_dir}",
    )


def _session_settings(config: Config) -> dict[str, object]:
    return {
        # A browser-session cookie (no Expires); the server ends a session after
        # SESSION_IDLE_MINUTES without a request or SESSION_ABSOLUTE_HOURS after sign-in
        # (app.identity.Identity.check_session_age). The store keeps an entry that long after
        # its last write, which happens when the session changes, and at most once a minute to
        # note activity.
        "SESSION_PERMANENT": False,
        "SESSION_REFRESH_EACH_REQUEST": False,
        "PERMANENT_SESSION_LIFETIME": timedelta(minutes=config.session_idle_minutes + 1),
        "SESSION_KEY_PREFIX": f"{SESSION_COOKIE}:",
        # `__Host-`: only ever set by this host over https, for the whole site.
        "SESSION_COOKIE_NAME": ("__Host-" if config.secure_cookies else "") + SESSION_COOKIE,
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_SECURE": config.secure_cookies,
    }


def _template_context() -> dict[str, Any]:
    """What every template may use: the signed-in user and the name to greet them with."""
    user = current_identity().user()
    name = ""
    if user:
        name = str(user.get("name") or user.get("preferred_username") or user.get("email") or "")
    return {"current_user": user, "display_name": name or "there"}


def _fixed_urls(app: Flask) -> None:
    """`asset(filename)` and `page(endpoint)` for templates: `url_for` for static files and
    argument-less pages, built once per process. These URLs do not depend on the request (the
    app is served at the root of its host: no proxy adds a path prefix), and building them on
    every render was a visible share of a page's time."""
    app.jinja_env.globals["asset"] = functools.cache(
        lambda filename: url_for("static", filename=filename))
    app.jinja_env.globals["page"] = functools.cache(lambda endpoint: url_for(endpoint))


def _settings() -> Config:
    """The environment over `./.env`; under the `flask` command a problem is shown plainly."""
    try:
        return Config.load()
    except SettingsError as exc:
        if click.get_current_context(silent=True) is not None:
            raise click.ClickException(f"FAIL  settings: {exc}") from exc
        raise


def _identity(config: Config, stores: Stores) -> Identity:
    browser_flows = BrowserFlows(config.session_secret, FLOW_LIFETIME, config.secure_cookies)
    identity = Identity(config, stores.tokens, stores.flows, browser_flows, stores.index)
    identity.keep_at_sign_in.update(todos.KEPT_AT_SIGN_IN, pending.KEPT_AT_SIGN_IN)
    return identity


def create_app(config: Config | None = None) -> Flask:
    """The web app for `config` (by default: the environment over `./.env`)."""
    config = config or _settings()
    app = Flask(
        __name__,
        instance_path=str(config.instance_dir),
        template_folder=str(ROOT / "templates"),
        static_folder=str(ROOT / "static"),
    )
    app.config.update(
        SECRET_KEY=config.session_secret,
        WEB_CONFIG=config,
        MAX_CONTENT_LENGTH=64 * 1024,
        # CSRF tokens live as long as the server-side session they belong to; a page left
        # open for an hour still signs out.
        WTF_CSRF_TIME_LIMIT=None,
        **_session_settings(config),
    )
    serving.init_app(app)
    serving.trust_proxies(app, config.trusted_proxy_hops)
    stores = _stores(config)
    sessions.init_app(app, stores.sessions, key_prefix=f"{SESSION_COOKIE}:",
                      description=stores.description)
    security.init_app(app)
    identity = _identity(config, stores)
    app.before_request(identity.check_session_age)
    app.extensions["identity"] = identity
    app.extensions[api_client.EXTENSION] = api_client.create(config)
    app.extensions[graph_client.EXTENSION] = graph_client.create(config)
    errors.init_app(app)
    sessions.register_error_handlers(app)
    app.context_processor(_template_context)
    _fixed_urls(app)
    # The proxy checks the CSRF header itself, after the sign-in check, so that a signed-out
    # script gets 401 (sign in) rather than 400 (no CSRF token: it has no session to own one).
    security.csrf.exempt(proxy.bp)
    for blueprint in (pages.bp, auth.bp, todos.bp, profile.bp, proxy.bp, health.bp):
        app.register_blueprint(blueprint)
    health.init_app(app, stores.sessions)
    ratelimit.init_app(app, config)
    doctor.init_app(app)
    return app
