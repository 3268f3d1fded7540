"""Helpers for the local tenant's tests: MSAL applications and token validation."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit, urlunsplit

import jwt
import msal
from requests.adapters import HTTPAdapter

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


class RouteHostAdapter(HTTPAdapter):
    """Sends requests for one host (e.g. `contoso.ciamlogin.com`) to 127.0.0.1:<port>.

    The Host header, SNI and certificate check keep the original name, so TLS is verified
    against it (the tenant's leaf certificate also names `*.ciamlogin.com`).
    """

    def __init__(self, port: int) -> None:
        super().__init__(max_retries=0)
        self.port = port

    def send(self, request, **kwargs):  # type: ignore[override]
        parts = urlsplit(request.url)
        request.headers["Host"] = parts.netloc
        request.url = urlunsplit(
            (parts.scheme, f"127.0.0.1:{self.port}", parts.path, parts.query, "")
        )
        return super().send(request, **kwargs)

    def build_connection_pool_key_attributes(self, request, verify, cert=None):  # type: ignore[override]
        host_params, pool_kwargs = super().build_connection_pool_key_attributes(
            request, verify, cert
        )
        name = request.headers["Host"].split(":")[0]
        pool_kwargs["server_hostname"] = name
        pool_kwargs["assert_hostname"] = name
        return host_params, pool_kwargs
