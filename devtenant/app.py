"""The Flask application of the local tenant (`create_app(config)`) and its shared state."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flask import Flask
from flask_wtf.csrf import generate_csrf

from devtenant.oauth import EntraAuthorizationServer, resolve_app, resolve_delegated
from devtenant.state import TenantState
from devtenant.store import DEFAULT_DATA_DIR, TenantStore, UserInfo
from devtenant.tokens import TokenFactory, client_info
from devtenant.urls import issuer_for


@dataclass
class Config:
    """Settings of one tenant process (the CLI builds it from its options)."""

    data_dir: Path = Path(DEFAULT_DATA_DIR)
    host: str | None = None
    port: int | None = None
    pages_port: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)


class Tenant:
    """The tenant's parts, reachable from views as `current_app.extensions["devtenant"]`."""

    def __init__(self, store: TenantStore) -> None:
        self.store = store
        self.state = TenantState()
        self.tokens = TokenFactory(store, self.state)
        self.server = EntraAuthorizationServer(self)

    def user_tokens(
        self,
        client: dict[str, Any],
        user: UserInfo,
        scope: str,
        sid: str,
        azpacr: str,
        nonce: str | None = None,
        auth_time: int | None = None,
    ) -> dict[str, Any]:
        """The token response of the auth-code and refresh grants."""
        scopes = resolve_delegated(scope, client, self.store.registrations["api"])
        issuer = issuer_for()
        access, lifetime = self.tokens.delegated_access_token(
            issuer, client, user, scopes.audience, " ".join(scopes.short), sid, azpacr
        )
        body: dict[str, Any] = {
            "token_type": "Bearer",
            "scope": scopes.response_scope,
            "expires_in": lifetime,
            "ext_expires_in": lifetime,
            "access_token": access,
        }
        if "offline_access" in scopes.reserved:
            body["refresh_token"] = self.state.new_refresh_token(
                client["client_id"], user.oid, sid, scope
            )
        if "openid" in scopes.reserved:
            body["id_token"] = self.tokens.id_token(
                issuer, client, user, nonce, sid, scopes.reserved, auth_time
            )
        body["client_info"] = client_info(user.oid, self.store.tenant_id)
        return body

    def app_token(self, client: dict[str, Any], scope: str, azpacr: str) -> dict[str, Any]:
        """The token response of the client-credentials grant."""
        api = self.store.registrations["api"]
        audience = resolve_app(scope, api)
        roles = [r for r in client.get("roles", []) if r in api["app_roles"]]
        if audience != api["client_id"]:
            roles = []
        access, lifetime = self.tokens.app_access_token(
            issuer_for(), client, audience, roles, azpacr
        )
        return {
            "token_type": "Bearer",
            "expires_in": lifetime,
            "ext_expires_in": lifetime,
            "access_token": access,
        }


def create_app(config: Config | None = None) -> Flask:
    config = config or Config()
    store = TenantStore(config.data_dir, config.host, config.port, config.pages_port)
    app = Flask(__name__)
    app.config.update(
        SECRET_KEY=store.secret_key,
        SESSION_COOKIE_NAME="devtenant_session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        WTF_CSRF_FIELD_NAME="csrf_token",
        **config.extra,
    )
    app.extensions["devtenant"] = Tenant(store)
    app.jinja_env.globals["csrf_token"] = generate_csrf

    from devtenant import admin_api, endpoints, graph, pages

    app.register_blueprint(endpoints.bp)
    app.register_blueprint(graph.bp)
    app.register_blueprint(pages.bp)
    app.register_blueprint(admin_api.bp)
    pages.register_error_pages(app)
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    return app
