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
