"""Microsoft Graph `/me` of the local tenant, with tokens unmodified MSAL acquires.

GET with Graph's default properties and `$select`, PATCH (204) of the name, city and a custom
attribute, Graph-shaped errors (401 without or with a wrong token, 403 for `User.Read` trying
PATCH, 400 for bad JSON or an unknown property, 404 for a deleted path), incremental consent
for Graph's scopes, and `revokeSignInSessions`: later refreshes fail as Entra's (AADSTS50173).
"""

from __future__ import annotations

import uuid

import pytest

from tests.devtenant.helpers import REDIRECT_URI, sign_in, web_app
from tests.support.browser import FormBrowser, Redirect

GRAPH_READWRITE = "https://graph.microsoft.com/User.ReadWrite"
GRAPH_REVOKE = "https://graph.microsoft.com/User.RevokeSessions.All"


@pytest.fixture
def graph(tenant):
    return tenant.env("web")["GRAPH_BASE_URL"]


def call(http, method, url, token=None, **kwargs):
    headers = kwargs.pop("headers", {})
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return http.request(method, url, headers=headers, **kwargs)


def assert_graph_error(resp, status, code):
    assert resp.status_code == status, resp.text
    error = resp.json()["error"]
    assert error["code"] == code
    assert error["message"]
    assert set(error["innerError"]) == {"date", "request-id", "client-request-id"}
    return error


def extensions_app(tenant) -> str:
    """The tenant's b2c-extensions-app id as attribute names carry it (no dashes)."""
    return tenant.registrations["extensions_app_id"].replace("-", "")


def test_env_names_the_graph_base_url(tenant, graph):
    assert graph == f"{tenant.https_url}/graph/v1.0"
    assert tenant.env("web")["EXTENSIONS_APP_ID"] == extensions_app(tenant)


def test_get_me_with_user_read_gives_the_default_properties(tenant, tenant_reset, http, graph):
    _, user, result, _ = sign_in(tenant, http, ["User.Read"])
    resp = call(http, "GET", f"{graph}/me", result["access_token"])
    assert resp.status_code == 200, resp.text
    me = resp.json()
    assert me["@odata.context"] == f"{graph}/$metadata#users/$entity"
    assert me["id"] == user.oid
    assert me["displayName"] == user.name
    assert me["mail"] == user.email
    assert me["userPrincipalName"] == f"{user.oid}@{tenant.tenant_name}"
    assert me["givenName"] is None
    assert me["surname"] is None
    assert me["businessPhones"] == []
    assert "city" not in me  # only with $select, as Graph
    assert resp.headers["request-id"]


def test_patch_me_changes_what_get_me_returns(tenant, tenant_reset, http, graph):
    _, user, result, _ = sign_in(tenant, http, [GRAPH_READWRITE])
    assert result["scope"].split() == [GRAPH_READWRITE]  # as asked: MSAL's cache finds it
    token = result["access_token"]
    tier = f"extension_{extensions_app(tenant)}_loyaltyTier"
    change = {"displayName": "Ada Lovelace", "givenName": "Ada", "surname": "Lovelace",
              "city": "London", tier: "gold"}
    resp = call(http, "PATCH", f"{graph}/me", token, json=change)
    assert resp.status_code == 204, resp.text
    assert resp.content == b""
    select = f"displayName,givenName,surname,city,{tier}"
    me = call(http, "GET", f"{graph}/me", token, params={"$select": select}).json()
    assert me["@odata.context"] == f"{graph}/$metadata#users({select})/$entity"
    assert {k: v for k, v in me.items() if not k.startswith("@")} == change
    # The next ID token carries the new name too.
    _, _, again, _ = sign_in(tenant, http, ["User.Read"], user=user)
    assert again["id_token_claims"]["name"] == "Ada Lovelace"


def test_user_read_cannot_patch(tenant, tenant_reset, http, graph):
    _, _, result, _ = sign_in(tenant, http, ["User.Read"])
    resp = call(http, "PATCH", f"{graph}/me", result["access_token"], json={"city": "Paris"})
    assert_graph_error(resp, 403, "Authorization_RequestDenied")


def test_tokens_graph_refuses(tenant, tenant_reset, http, graph):
    error = assert_graph_error(call(http, "GET", f"{graph}/me"), 401, "InvalidAuthenticationToken")
    assert error["message"] == "Access token is empty."
    resp = call(http, "GET", f"{graph}/me", "not.a.token")
    assert_graph_error(resp, 401, "InvalidAuthenticationToken")
    assert "Bearer" in resp.headers["WWW-Authenticate"]
    env = tenant.env("web")
    _, _, api, _ = sign_in(tenant, http, [env["TODOLIST_READ"]])
    resp = call(http, "GET", f"{graph}/me", api["access_token"])  # the API's token: wrong aud
    assert "Invalid audience" in assert_graph_error(resp, 401, "InvalidAuthenticationToken")[
        "message"
    ]
    tenant.admin.fault("access_token", "expired")
    _, _, expired, _ = sign_in(tenant, http, ["User.Read"])
    resp = call(http, "GET", f"{graph}/me", expired["access_token"])
    assert "expired" in assert_graph_error(resp, 401, "InvalidAuthenticationToken")["message"]


def test_bad_requests_are_graph_shaped(tenant, tenant_reset, http, graph):
    _, _, result, _ = sign_in(tenant, http, [GRAPH_READWRITE])
    token = result["access_token"]
    sent = str(uuid.uuid4())
    resp = call(http, "PATCH", f"{graph}/me", token, data=b"{not json",
                headers={"Content-Type": "application/json", "client-request-id": sent})
    assert assert_graph_error(resp, 400, "BadRequest")["innerError"]["client-request-id"] == sent
    resp = call(http, "PATCH", f"{graph}/me", token, json={"favouriteColour": "blue"})
    assert "favouriteColour" in assert_graph_error(resp, 400, "BadRequest")["message"]
    resp = call(http, "PATCH", f"{graph}/me", token, json={"givenName": "x" * 65})
    assert_graph_error(resp, 400, "Request_BadRequest")
    resp = call(http, "GET", f"{graph}/me", token, params={"$select": "shoeSize"})
    assert_graph_error(resp, 400, "BadRequest")
    assert_graph_error(call(http, "GET", f"{graph}/nothing", token), 404, "BadRequest")
    assert_graph_error(call(http, "DELETE", f"{graph}/me", token), 405, "Request_BadRequest")


def test_a_graph_scope_without_consent_is_refused_until_granted(tenant, tenant_reset, http):
    reg = tenant.admin.add_client("web", consented_scopes=[])
    app = web_app(tenant, http, credential=reg["client_secret"], client_id=reg["client_id"])
    # User.Read is on every registration; User.ReadWrite needs consent (AADSTS65001).
    sign_in(tenant, http, ["User.Read"], app=app)
    flow = app.initiate_auth_code_flow([GRAPH_READWRITE], redirect_uri=REDIRECT_URI)
    back = FormBrowser(tenant.ca_file).open(flow["auth_uri"])
    assert isinstance(back, Redirect)
    assert back.params["error"] == "consent_required"
    assert back.params["error_description"].startswith("AADSTS65001:")


def test_revoke_sign_in_sessions_ends_refresh_tokens_and_sso(tenant, tenant_reset, http, graph):
    app, user, result, browser = sign_in(tenant, http, [GRAPH_REVOKE])
    account = app.get_accounts()[0]
    other_app, _, _, _ = sign_in(tenant, http, ["User.Read"], user=user)  # another "device"
    resp = call(http, "POST", f"{graph}/me/revokeSignInSessions", result["access_token"])
    assert resp.status_code == 200, resp.text
    assert resp.json() == {"@odata.context": f"{graph}/$metadata#Edm.Boolean", "value": True}
    for msal_app, acct in ((app, account), (other_app, other_app.get_accounts()[0])):
        refreshed = msal_app.acquire_token_silent_with_error(
            ["User.Read"], acct, force_refresh=True
        )
        assert refreshed["error"] == "invalid_grant"
        assert refreshed["error_codes"] == [50173]
    # The browser's SSO session is gone too: the tenant shows its sign-in form again.
    flow = app.initiate_auth_code_flow(["User.Read"], redirect_uri=REDIRECT_URI)
    assert not isinstance(browser.open(flow["auth_uri"]), Redirect)


def test_revoking_needs_the_revoke_permission(tenant, tenant_reset, http, graph):
    _, _, result, _ = sign_in(tenant, http, [GRAPH_READWRITE])
    resp = call(http, "POST", f"{graph}/me/revokeSignInSessions", result["access_token"])
    assert_graph_error(resp, 403, "Authorization_RequestDenied")


def test_graph_is_not_served_on_the_pages_port(tenant, http):
    assert http.get(f"{tenant.pages_url}/graph/v1.0/me").status_code == 404
