"""Unmodified MSAL completes auth code + PKCE through the sign-in form, and client credentials."""

from __future__ import annotations

import base64
import hashlib
import json

from tests.devtenant.helpers import REDIRECT_URI, daemon_app, sign_in, validate, web_app
from tests.support.browser import FormBrowser


def test_auth_code_with_pkce_through_the_sign_in_form(tenant, tenant_reset, http):
    user = tenant.add_user()
    env = tenant.env("web")
    api_id = tenant.env("api")["CLIENT_ID"]
    app = web_app(tenant, http)
    flow = app.initiate_auth_code_flow([env["TODOLIST_READ"]], redirect_uri=REDIRECT_URI)
    assert flow["auth_uri"].startswith(tenant.pages_url)

    back = FormBrowser(tenant.ca_file).sign_in(flow["auth_uri"], user.email, user.password)
    assert back.url == REDIRECT_URI
    assert back.params["state"] == flow["state"]

    result = app.acquire_token_by_auth_code_flow(flow, back.params)
    assert "access_token" in result, result
    assert result["token_type"] == "Bearer"
    assert result["refresh_token"]

    access = validate(result["access_token"], tenant, http, audience=api_id)
    assert access["scp"] == "ToDoList.Read"
    assert access["oid"] == user.oid
    assert access["azp"] == env["CLIENT_ID"]
    assert access["tid"] == tenant.tenant_id
    assert access["ver"] == "2.0"
    assert "roles" not in access

    id_claims = validate(result["id_token"], tenant, http, audience=env["CLIENT_ID"])
    # MSAL sends the SHA-256 hex of its secret nonce; the tenant echoes it exactly.
    assert id_claims["nonce"] == hashlib.sha256(flow["nonce"].encode()).hexdigest()
    assert id_claims["oid"] == user.oid
    assert id_claims["preferred_username"] == user.email
    assert id_claims["name"] == user.name
    assert id_claims["sub"] != access["sub"]  # pairwise: differs per application

    accounts = app.get_accounts()
    assert [a["home_account_id"] for a in accounts] == [f"{user.oid}.{tenant.tenant_id}"]
    assert tenant.admin.counts()["token"]["authorization_code"] == 1


def test_client_credentials_with_the_secret(tenant, tenant_reset, http):
    env = tenant.env("daemon")
    api_id = tenant.env("api")["CLIENT_ID"]
    result = daemon_app(tenant, http).acquire_token_for_client([env["SCOPES"] + "/.default"])
    assert "access_token" in result, result
    assert "refresh_token" not in result
    assert "id_token" not in result
    claims = validate(result["access_token"], tenant, http, audience=api_id)
    assert sorted(claims["roles"]) == ["ToDoList.Read.All", "ToDoList.ReadWrite.All"]
    assert "scp" not in claims
    assert claims["idtyp"] == "app"
    assert claims["oid"] == claims["sub"]
    assert claims["azp"] == env["CLIENT_ID"]
    assert claims["azpacr"] == "1"
    assert tenant.admin.counts()["token"]["client_credentials"] == 1


def test_client_info_names_the_user_and_tenant(tenant, tenant_reset, http):
    user = tenant.add_user()
    app = web_app(tenant, http)
    flow = app.initiate_auth_code_flow([], redirect_uri=REDIRECT_URI)
    back = FormBrowser(tenant.ca_file).sign_in(flow["auth_uri"], user.email, user.password)
    # Redeem the code by hand to see the raw response MSAL gets.
    form = {
        "client_id": tenant.env("web")["CLIENT_ID"],
        "client_secret": tenant.env("web")["CLIENT_SECRET"],
        "grant_type": "authorization_code",
        "code": back.params["code"],
        "redirect_uri": REDIRECT_URI,
        "code_verifier": flow["code_verifier"],
        "client_info": "1",
    }
    body = http.post(f"{tenant.authority}/oauth2/v2.0/token", data=form).json()
    raw = body["client_info"]
    info = json.loads(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)))
    assert info == {"uid": user.oid, "utid": tenant.tenant_id}
    assert body["ext_expires_in"] == body["expires_in"]
    # Sign-in alone gives an access token for another audience (Microsoft Graph), as Entra does.
    graph = validate(body["access_token"], tenant, http, "00000003-0000-0000-c000-000000000000")
    assert graph["oid"] == user.oid


DELEGATED_CLAIMS = {
    "aud", "iss", "iat", "nbf", "exp", "aio", "azp", "azpacr", "name", "oid",
    "preferred_username", "rh", "scp", "sid", "sub", "tid", "uti", "ver",
}  # fmt: skip
APP_CLAIMS = {
    "aud", "iss", "iat", "nbf", "exp", "aio", "azp", "azpacr", "oid", "rh", "roles", "sub",
    "tid", "uti", "ver", "idtyp",
}  # fmt: skip
ID_CLAIMS = {
    "aud", "iss", "iat", "nbf", "exp", "nonce", "sub", "oid", "tid", "ver", "sid", "name",
    "preferred_username",
}  # fmt: skip


def test_every_token_carries_the_listed_claims(tenant, tenant_reset, http):
    env = tenant.env("web")
    api_id = tenant.env("api")["CLIENT_ID"]
    _app, _user, result, _browser = sign_in(tenant, http, [env["TODOLIST_READWRITE"]])
    delegated = validate(result["access_token"], tenant, http, api_id)
    assert set(delegated) >= DELEGATED_CLAIMS
    assert isinstance(delegated["aud"], str)
    assert delegated["azpacr"] == "1"
    id_claims = validate(result["id_token"], tenant, http, env["CLIENT_ID"])
    assert set(id_claims) >= ID_CLAIMS
    assert delegated["oid"] == id_claims["oid"]
    assert delegated["sid"] == id_claims["sid"]

    daemon = tenant.env("daemon")
    app_result = daemon_app(tenant, http).acquire_token_for_client([daemon["SCOPES"] + "/.default"])
    app_only = validate(app_result["access_token"], tenant, http, api_id)
    assert set(app_only) >= APP_CLAIMS
    assert not {"scp", "name", "preferred_username"} & set(app_only)
