"""Helpers for the local tenant's tests: MSAL applications and token validation."""

from __future__ import annotations

from typing import Any

import jwt
import msal

from common.http import HttpClient

REDIRECT_URI = "http://localhost:3000/auth/redirect"


def web_app(tenant: Any, http: HttpClient, credential: Any = None, client_id: str | None = None):
    """An unmodified MSAL confidential client for the tenant's web app registration."""
    env = tenant.env("web")
    return msal.ConfidentialClientApplication(
        client_id or env["CLIENT_ID"],
        client_credential=credential or env["CLIENT_SECRET"],
        authority=tenant.authority,
        instance_discovery=False,
        http_client=http,
    )


def daemon_app(tenant: Any, http: HttpClient, credential: Any = None):
    env = tenant.env("daemon")
    return msal.ConfidentialClientApplication(
        env["CLIENT_ID"],
        client_credential=credential or env["CLIENT_SECRET"],
        authority=tenant.authority,
        instance_discovery=False,
        http_client=http,
    )


def validate(token: str, tenant: Any, http: HttpClient, audience: str) -> dict[str, Any]:
    """PyJWT validation against the tenant's key set: RS256, kid, iss, aud, exp/iat/nbf."""
    header = jwt.get_unverified_header(token)
    assert header["alg"] == "RS256"
    assert header["typ"] == "JWT"
    keys = jwt.PyJWKSet.from_dict(http.get(tenant.jwks_uri).json())
    key = next(k for k in keys.keys if k.key_id == header["kid"])
    return jwt.decode(
        token,
        key,
        algorithms=["RS256"],
        audience=audience,
        issuer=tenant.issuer,
        options={"require": ["exp", "iat", "nbf", "iss", "aud", "sub"]},
    )


def sign_in(tenant: Any, http: HttpClient, scopes: list[str], app: Any = None, user: Any = None):
    """Auth code + PKCE through the sign-in form; returns (app, user, MSAL result, browser)."""
    from tests.support.browser import FormBrowser

    app = app or web_app(tenant, http)
    user = user or tenant.add_user()
    flow = app.initiate_auth_code_flow(scopes, redirect_uri=REDIRECT_URI)
    browser = FormBrowser(tenant.ca_file)
    back = browser.sign_in(flow["auth_uri"], user.email, user.password)
    result = app.acquire_token_by_auth_code_flow(flow, back.params)
    assert "access_token" in result, result
    return app, user, result, browser
