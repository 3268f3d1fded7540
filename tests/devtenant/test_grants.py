"""Grants and client authentication with unmodified MSAL, and Entra's errors for them."""

from __future__ import annotations

import secrets
from pathlib import Path

import msal

from tests.devtenant.helpers import REDIRECT_URI, daemon_app, sign_in, validate, web_app
from tests.support.browser import FormBrowser, Page, Redirect


def _cert_credential(env: dict[str, str], with_certificate: bool) -> dict[str, str]:
    key = Path(env["CERT_PRIVATE_KEY_FILE"]).read_text()
    if with_certificate:
        return {"private_key": key, "public_certificate": Path(env["CERT_FILE"]).read_text()}
    return {"private_key": key, "thumbprint": env["CERT_THUMBPRINT"]}


def test_client_credentials_with_a_thumbprint_certificate(tenant, tenant_reset, http):
    env = tenant.env("daemon", credential="thumbprint")
    assert "CLIENT_SECRET" not in env
    app = daemon_app(tenant, http, _cert_credential(env, with_certificate=False))
    result = app.acquire_token_for_client([env["SCOPES"] + "/.default"])
    assert "access_token" in result, result
    claims = validate(result["access_token"], tenant, http, tenant.env("api")["CLIENT_ID"])
    assert claims["azpacr"] == "2"
    assert claims["azp"] == env["CLIENT_ID"]


def test_client_credentials_with_a_public_certificate(tenant, tenant_reset, http):
    env = tenant.env("daemon", credential="certificate")
    app = daemon_app(tenant, http, _cert_credential(env, with_certificate=True))
    result = app.acquire_token_for_client([env["SCOPES"] + "/.default"])
    assert "access_token" in result, result
    claims = validate(result["access_token"], tenant, http, tenant.env("api")["CLIENT_ID"])
    assert claims["azpacr"] == "2"


def test_a_certificate_of_another_client_is_refused(tenant, tenant_reset, http):
    daemon = tenant.env("daemon")
    web = tenant.env("web", credential="thumbprint")
    app = daemon_app(tenant, http, _cert_credential(web, with_certificate=False))
    result = app.acquire_token_for_client([daemon["SCOPES"] + "/.default"])
    assert result.get("error") == "invalid_client", result
    assert result["error_codes"] == [700027]


def test_auth_code_with_a_certificate_credential(tenant, tenant_reset, http):
    env = tenant.env("web", credential="certificate")
    app = web_app(tenant, http, _cert_credential(env, with_certificate=True))
    _app, _user, result, _browser = sign_in(tenant, http, [env["TODOLIST_READ"]], app=app)
    claims = validate(result["access_token"], tenant, http, tenant.env("api")["CLIENT_ID"])
    assert claims["azpacr"] == "2"


def test_client_secret_basic(tenant, tenant_reset, http):
    env = tenant.env("daemon")
    resp = http.post(
        f"{tenant.authority}/oauth2/v2.0/token",
        data={"grant_type": "client_credentials", "scope": env["SCOPES"] + "/.default"},
        auth=(env["CLIENT_ID"], env["CLIENT_SECRET"]),
    )
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] > 0
    assert set(body) == {"token_type", "expires_in", "ext_expires_in", "access_token"}


def test_a_bad_secret_gives_7000215(tenant, tenant_reset, http):
    env = tenant.env("daemon")
    app = daemon_app(tenant, http, credential="not-the-secret")
    result = app.acquire_token_for_client([env["SCOPES"] + "/.default"])
    assert result["error"] == "invalid_client"
    assert result["error_codes"] == [7000215]
    assert result["error_description"].startswith("AADSTS7000215:")
    for key in ("timestamp", "trace_id", "correlation_id", "error_uri"):
        assert result[key]


def test_a_scope_without_default_gives_1002012(tenant, tenant_reset, http):
    env = tenant.env("daemon")
    result = daemon_app(tenant, http).acquire_token_for_client([env["SCOPES"] + "/ToDoList.Read"])
    assert result["error"] == "invalid_scope"
    assert result["error_codes"] == [1002012]


def test_client_credentials_for_an_unknown_resource_gives_500011(tenant, tenant_reset, http):
    result = daemon_app(tenant, http).acquire_token_for_client(
        [f"api://{secrets.token_hex(8)}/.default"]
    )
    assert result["error"] == "invalid_resource"
    assert result["error_codes"] == [500011]


def test_a_wrong_code_verifier_gives_501481(tenant, tenant_reset, http):
    user = tenant.add_user()
    app = web_app(tenant, http)
    flow = app.initiate_auth_code_flow(
        [tenant.env("web")["TODOLIST_READ"]], redirect_uri=REDIRECT_URI
    )
    back = FormBrowser(tenant.ca_file).sign_in(flow["auth_uri"], user.email, user.password)
    result = app.acquire_token_by_auth_code_flow(
        {**flow, "code_verifier": secrets.token_urlsafe(43)}, back.params
    )
    assert result["error"] == "invalid_grant"
    assert result["error_codes"] == [501481]


def test_a_reused_code_gives_54005(tenant, tenant_reset, http):
    user = tenant.add_user()
    app = web_app(tenant, http)
    flow = app.initiate_auth_code_flow(
        [tenant.env("web")["TODOLIST_READ"]], redirect_uri=REDIRECT_URI
    )
    back = FormBrowser(tenant.ca_file).sign_in(flow["auth_uri"], user.email, user.password)
    first = app.acquire_token_by_auth_code_flow(dict(flow), back.params)
    assert "access_token" in first, first
    again = app.acquire_token_by_auth_code_flow(dict(flow), back.params)
    assert again["error"] == "invalid_grant"
    assert again["error_codes"] == [54005]


def test_an_unregistered_redirect_uri_gets_an_error_page(tenant, tenant_reset, http):
    app = web_app(tenant, http)
    flow = app.initiate_auth_code_flow([], redirect_uri="https://attacker.example/auth/redirect")
    page = FormBrowser(tenant.ca_file).open(flow["auth_uri"])
    assert isinstance(page, Page), "the tenant must not redirect to an unregistered URI"
    assert page.status == 400
    assert "AADSTS50011" in page.text
    assert "Traceback" not in page.text


def test_an_unknown_client_id_gets_an_error_page(tenant, tenant_reset, http):
    app = web_app(tenant, http, client_id="11111111-2222-3333-4444-555555555555")
    flow = app.initiate_auth_code_flow([], redirect_uri=REDIRECT_URI)
    page = FormBrowser(tenant.ca_file).open(flow["auth_uri"])
    assert isinstance(page, Page)
    assert page.status == 400
    assert "AADSTS700016" in page.text


def test_loopback_redirect_uris_match_whatever_the_port(tenant, tenant_reset, http):
    user = tenant.add_user()
    app = web_app(tenant, http)
    other_port = "http://localhost:5123/auth/redirect"
    flow = app.initiate_auth_code_flow([], redirect_uri=other_port)
    back = FormBrowser(tenant.ca_file).sign_in(flow["auth_uri"], user.email, user.password)
    assert back.url == other_port
    assert "access_token" in app.acquire_token_by_auth_code_flow(flow, back.params)
    # ... but the path must still be a registered one.
    flow = app.initiate_auth_code_flow([], redirect_uri="http://localhost:5123/elsewhere")
    page = FormBrowser(tenant.ca_file).open(flow["auth_uri"])
    assert isinstance(page, Page)
    assert "AADSTS50011" in page.text


def _authorize_error(tenant, http, scopes: list[str]) -> dict[str, str]:
    app = web_app(tenant, http)
    flow = app.initiate_auth_code_flow(scopes, redirect_uri=REDIRECT_URI)
    back = FormBrowser(tenant.ca_file).open(flow["auth_uri"])
    assert isinstance(back, Redirect), getattr(back, "text", back)
    assert back.params["state"] == flow["state"]
    result = app.acquire_token_by_auth_code_flow(flow, back.params)
    assert "access_token" not in result
    return back.params


def test_scopes_of_two_resources_give_700022(tenant, tenant_reset, http):
    env = tenant.env("web")
    params = _authorize_error(
        tenant, http, [env["TODOLIST_READ"], "https://graph.microsoft.com/User.Read"]
    )
    assert params["error"] == "invalid_scope"
    assert params["error_description"].startswith("AADSTS700022:")


def test_an_unknown_resource_gives_500011(tenant, tenant_reset, http):
    params = _authorize_error(tenant, http, [f"api://{secrets.token_hex(8)}/ToDoList.Read"])
    assert params["error"] == "invalid_resource"
    assert params["error_description"].startswith("AADSTS500011:")


def test_refresh_redeems_for_a_second_api_scope(tenant, tenant_reset, http):
    env = tenant.env("web")
    app, user, first, _browser = sign_in(tenant, http, [env["TODOLIST_READ"]])
    account = app.get_accounts()[0]
    second = app.acquire_token_silent([env["TODOLIST_READWRITE"]], account=account)
    assert second is not None
    assert "access_token" in second, second
    claims = validate(second["access_token"], tenant, http, tenant.env("api")["CLIENT_ID"])
    assert claims["scp"] == "ToDoList.ReadWrite"
    assert claims["oid"] == user.oid
    assert tenant.admin.counts()["token"]["refresh_token"] == 1
    assert second["refresh_token"] != first["refresh_token"]  # rotated


def test_refresh_for_a_scope_without_consent_gives_65001(tenant, tenant_reset, http):
    env = tenant.env("web")
    reg = tenant.admin.add_client("web", consented_scopes=[env["TODOLIST_READ"]])
    app = web_app(tenant, http, credential=reg["client_secret"], client_id=reg["client_id"])
    sign_in(tenant, http, [env["TODOLIST_READ"]], app=app)
    result = app.acquire_token_silent_with_error(
        [env["TODOLIST_READWRITE"]], account=app.get_accounts()[0]
    )
    assert result["error"] == "invalid_grant"
    assert result["suberror"] == "consent_required"
    assert result["error_codes"] == [65001]


def test_daemon_added_with_one_role_gets_only_that_role(tenant, tenant_reset, http):
    reg = tenant.admin.add_client("daemon", roles=["ToDoList.Read.All"])
    app = msal.ConfidentialClientApplication(
        reg["client_id"],
        client_credential=reg["client_secret"],
        authority=tenant.authority,
        instance_discovery=False,
        http_client=http,
    )
    result = app.acquire_token_for_client([tenant.env("daemon")["SCOPES"] + "/.default"])
    claims = validate(result["access_token"], tenant, http, tenant.env("api")["CLIENT_ID"])
    assert claims["roles"] == ["ToDoList.Read.All"]


def test_authorize_without_pkce_s256_is_refused(tenant, tenant_reset, http):
    app = web_app(tenant, http)
    flow = app.initiate_auth_code_flow([], redirect_uri=REDIRECT_URI)
    without = "&".join(
        part for part in flow["auth_uri"].split("&") if not part.startswith("code_challenge")
    )
    back = FormBrowser(tenant.ca_file).open(without)
    assert isinstance(back, Redirect)
    assert back.params["error"] == "invalid_request"
    assert back.params["error_description"].startswith("AADSTS9002325:")
    plain = without + "&code_challenge=" + "a" * 43 + "&code_challenge_method=plain"
    back = FormBrowser(tenant.ca_file).open(plain)
    assert isinstance(back, Redirect)
    assert back.params["error"] == "invalid_request"


def test_token_endpoint_errors_are_json(tenant, http):
    resp = http.post(f"{tenant.authority}/oauth2/v2.0/token", data={"grant_type": "password"})
    assert resp.status_code == 400
    assert resp.json()["error"] == "unsupported_grant_type"
    assert resp.json()["error_codes"] == [70003]


def test_authorize_for_a_scope_without_consent_answers_consent_required(tenant, tenant_reset, http):
    env = tenant.env("web")
    reg = tenant.admin.add_client("web", consented_scopes=[env["TODOLIST_READ"]])
    app = web_app(tenant, http, credential=reg["client_secret"], client_id=reg["client_id"])
    flow = app.initiate_auth_code_flow([env["TODOLIST_READWRITE"]], redirect_uri=REDIRECT_URI)
    back = FormBrowser(tenant.ca_file).open(flow["auth_uri"])
    assert isinstance(back, Redirect)
    assert back.params["error"] == "consent_required"
    assert back.params["error_description"].startswith("AADSTS65001:")
