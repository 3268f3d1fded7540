"""The ToDoList API: a Flask resource server compatible with the ASP.NET original's clients.

`create_app(config)` fetches the tenant's discovery document and signing keys (so a missing
tenant is reported at start-up, not on the first request), opens the to-do store and registers
the blueprints: `todolist` (`/api/todolist`), `health` (`/healthz`), `openapi`
(`/api/openapi.json`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Any

from flask import Flask, Response, request

from common import requestlog
from common.http import HttpClient
from common.oidc import KeySet, fetch_discovery

from . import claims, errors, health, openapi, todolist
from .auth import TokenValidator
from .config import Config
from .storage import ToDoStore, make_engine

MAX_BODY_BYTES = 64 * 1024


class CaseInsensitivePaths:
    """WSGI middleware: routes match case-insensitively, as the original's did.

    All our routes are lower case and ids are digits, so lower-casing the path is the same as
    case-insensitive matching. The path as sent is kept for the request log.
    """

    def __init__(self, wsgi_app: Callable[..., Iterable[bytes]]) -> None:
        self.wsgi_app = wsgi_app

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        path = environ.get("PATH_INFO", "")
        environ["api.original_path"] = path
        environ["PATH_INFO"] = path.lower()
        return self.wsgi_app(environ, start_response)


def _response_headers(response: Response) -> Response:
    """No MIME sniffing anywhere; no caching of answers that depend on the caller's token."""
    response.headers["X-Content-Type-Options"] = "nosniff"
    if "Authorization" in request.headers or request.path.startswith("/api/todolist"):
        response.headers["Cache-Control"] = "no-store"
    return response


def create_app(config: Config | None = None, http: HttpClient | None = None) -> Flask:
    """The API for `config` (raises `common.oidc.DiscoveryError` if the tenant is unreachable,
    `common.oidc.TokenError` if its key set is).

    `config` defaults to the environment over `api/.env` (`python -m common.serve api:create_app`);
    `http` is the client for the tenant (default: a new `HttpClient` trusting `CA_FILE`).
    """
    config = config or Config.from_env()
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY_BYTES
    app.json.sort_keys = False  # type: ignore[attr-defined]  # keep id, owner, description

    http = http or HttpClient(ca_file=config.ca_file)
    discovery = fetch_discovery(http, config.authority)
    keys = KeySet(http, discovery["jwks_uri"], config.jwks_min_refresh_seconds)
    if keys.load() == 0:
        app.logger.warning("the tenant's key set at %s holds no RS256 key", discovery["jwks_uri"])
    app.extensions["todolist.validator"] = TokenValidator(
        keys,
        issuer=discovery["issuer"],
        audience=config.client_id,
        tenant_id=config.tenant_id,
        leeway=config.clock_skew_seconds,
    )

    if config.require_mfa_for_delete:
        app.extensions[claims.CONTEXT_EXTENSION] = config.mfa_auth_context

    store = ToDoStore(make_engine(config.database_url), config.max_items_per_owner)
    store.create_schema()
    if config.demo_seed and store.seed_demo():
        app.logger.info("demo seed: added the sample's three to-dos to the empty store")
    app.extensions["todolist.store"] = store

    errors.register(app)
    requestlog.install(
        app,
        logging.getLogger("api.requests"),
        lambda: request.environ.get("api.original_path", request.path),
    )
    app.after_request(_response_headers)
    app.register_blueprint(todolist.bp)
    app.register_blueprint(health.bp)
    app.register_blueprint(openapi.bp)
    app.wsgi_app = CaseInsensitivePaths(app.wsgi_app)  # type: ignore[method-assign]
    return app


__all__ = ["Config", "create_app"]
