"""The Flask application of the local tenant (`create_app(config)`) and its shared state."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flask import Flask
from flask_wtf.csrf import generate_csrf

from devtenant.claims import (
    GRAPH_READWRITE,
    POLICY_SETTING,
    STEP_UP_SETTING,
    MfaPolicy,
    SignIn,
    StepUp,
)
from devtenant.oauth import EntraAuthorizationServer, resolve_app, resolve_delegated
from devtenant.otp import Mailer
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
    sign_in_method: str | None = None  # stored as the tenant's setting when given
    # run.py's local mode: the MFA policy covers Graph's User.ReadWrite (stored, merged in).
    profile_step_up: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


SIGN_IN_METHODS = ("password", "email_otp")
USER_FLOW_SETTING = "user_flow"
DEFAULT_USER_FLOW: dict[str, Any] = {"sign_in_method": "password", "custom_attributes": []}


class Tenant:
    """The tenant's parts, reachable from views as `current_app.extensions["devtenant"]`."""

    def __init__(self, store: TenantStore) -> None:
        self.store = store
        self.state = TenantState(store.engine)
        self.mailer = Mailer(store.engine, store.secret_key)
        self.tokens = TokenFactory(store, self.state)
        self.server = EntraAuthorizationServer(self)

    def user_tokens(
        self,
        client: dict[str, Any],
        user: UserInfo,
        scope: str,
        sid: str,
        azpacr: str,
        sign_in: SignIn,
        nonce: str | None = None,
        auth_time: int | None = None,
    ) -> dict[str, Any]:
        """The token response of the auth-code and refresh grants."""
        scopes = resolve_delegated(scope, client, self.store.registrations["api"])
        issuer = issuer_for()
        access, lifetime = self.tokens.delegated_access_token(
            issuer, client, user, scopes.audience, " ".join(scopes.short), sid, azpacr, sign_in
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
                client["client_id"],
                user.oid,
                sid,
                scope,
                self.state.lifetimes["refresh_token"],
                **sign_in.as_record(),
            )
        if "openid" in scopes.reserved:
            body["id_token"] = self.tokens.id_token(
                issuer, client, user, nonce, sid, scopes.reserved, sign_in, auth_time
            )
        body["client_info"] = client_info(user.oid, self.store.tenant_id)
        return body

    def user_flow(self) -> dict[str, Any]:
        """The sign-up and sign-in user flow: its sign-in method ("password", External ID's
        "Email with password", or "email_otp", "Email one-time passcode") and the custom
        attributes sign-up collects (short names, e.g. "loyaltyTier")."""
        return {**DEFAULT_USER_FLOW, **self.state.setting(USER_FLOW_SETTING, {})}

    def set_user_flow(self, changes: dict[str, Any]) -> dict[str, Any]:
        """ValueError naming a wrong setting."""
        unknown = set(changes) - set(DEFAULT_USER_FLOW)
        if unknown:
            raise ValueError(f"unknown user flow settings: {', '.join(sorted(unknown))}")
        if changes.get("sign_in_method", "password") not in SIGN_IN_METHODS:
            raise ValueError(f"sign_in_method must be one of {', '.join(SIGN_IN_METHODS)}")
        names = changes.get("custom_attributes", [])
        if not isinstance(names, list) or not all(
            isinstance(n, str) and n.isidentifier() and len(n) <= 64 for n in names
        ):
            raise ValueError("custom_attributes must be a list of names such as loyaltyTier")
        flow = {**self.user_flow(), **changes}
        self.state.set_setting(USER_FLOW_SETTING, flow)
        return flow

    def reset_settings(self) -> None:
        """The user flow, the MFA policy and the step-up settings back to their defaults
        (the admin reset)."""
        self.state.clear_settings(USER_FLOW_SETTING, POLICY_SETTING, STEP_UP_SETTING)

    def mfa_policy(self) -> MfaPolicy:
        return MfaPolicy.from_json(self.state.setting(POLICY_SETTING, {}))

    def cover_profile_save(self) -> None:
        """Add Graph's User.ReadWrite to the MFA policy's scopes (the rest kept)."""
        policy = self.mfa_policy().as_json()
        policy["scopes"] = sorted({*policy["scopes"], GRAPH_READWRITE.lower()})
        self.state.set_setting(POLICY_SETTING, policy)

    def step_up(self) -> StepUp:
        return StepUp.from_json(self.state.setting(STEP_UP_SETTING, {}))

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
    tenant = Tenant(store)
    if config.sign_in_method:
        tenant.set_user_flow({"sign_in_method": config.sign_in_method})
    if config.profile_step_up:
        tenant.cover_profile_save()
    app.extensions["devtenant"] = tenant
    app.jinja_env.globals["csrf_token"] = generate_csrf

    from devtenant import admin_api, endpoints, flows, graph, inbox, pages

    app.register_blueprint(endpoints.bp)
    app.register_blueprint(graph.bp)
    app.register_blueprint(pages.bp)
    app.register_blueprint(flows.bp)
    app.register_blueprint(inbox.bp)
    app.register_blueprint(admin_api.bp)
    pages.register_error_pages(app)
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    return app
