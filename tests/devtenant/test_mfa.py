"""MFA and step-up with the real MSAL: the policy (user, app, scope), the `claims` request
parameter asking for an authentication context, CP1 clients, and silent requests refused with
AADSTS50076 until the second factor is done."""

from __future__ import annotations

import html
import json

import jwt
import msal
import pytest

from common.challenge import decoded_claims
from devtenant.admin import TenantAdminError
from tests.devtenant.helpers import REDIRECT_URI, validate, web_app
from tests.support.browser import FormBrowser, Page, Redirect

ACRS_C1 = json.dumps({"access_token": {"acrs": {"essential": True, "value": "c1"}}})


def _claims(token: str) -> dict:
    return jwt.decode(token, options={"verify_signature": False})


def _password_then_code(browser: FormBrowser, auth_uri: str, user) -> Redirect:
    """The sign-in form, then the MFA code page (the code read from the mailbox page)."""
    page = browser.open(auth_uri)
    assert isinstance(page, Page)
    values = {"email": user.email, "password": user.password}
    page = browser.expect_page(browser.submit(page, "signin", values), "verify")
    assert "To confirm it's you" in html.unescape(page.text)
    back = browser.enter_code(page, user.email)
    assert isinstance(back, Redirect), back
    return back


def test_a_user_policy_asks_for_a_code_and_tokens_say_mfa(tenant, tenant_reset, http):
    user = tenant.add_user()
    tenant.admin.set_mfa_policy(users=[user.email])
    env = tenant.env("web")
    app = web_app(tenant, http)
    flow = app.initiate_auth_code_flow([env["TODOLIST_READ"]], redirect_uri=REDIRECT_URI)
    back = _password_then_code(FormBrowser(tenant.ca_file), flow["auth_uri"], user)
    result = app.acquire_token_by_auth_code_flow(flow, back.params)
    assert validate(result["id_token"], tenant, http, env["CLIENT_ID"])["amr"] == ["pwd", "mfa"]
    access = validate(result["access_token"], tenant, http, tenant.env("api")["CLIENT_ID"])
    assert access["amr"] == ["pwd", "mfa"]
    assert "acrs" not in access
    assert tenant.admin.mail(user.email)[0]["purpose"] == "mfa"

    refreshed = app.acquire_token_silent_with_error(
        [env["TODOLIST_READ"]], app.get_accounts()[0], force_refresh=True
    )
    assert _claims(refreshed["access_token"])["amr"] == ["pwd", "mfa"]


def test_an_app_policy_refuses_a_silent_request_without_mfa(tenant, tenant_reset, http):
    user = tenant.add_user()
    env = tenant.env("web")
    app = web_app(tenant, http)
    flow = app.initiate_auth_code_flow([env["TODOLIST_READ"]], redirect_uri=REDIRECT_URI)
    browser = FormBrowser(tenant.ca_file)
    app.acquire_token_by_auth_code_flow(
        flow, browser.sign_in(flow["auth_uri"], user.email, user.password).params
    )
    tenant.admin.set_mfa_policy(apps=[env["CLIENT_ID"]])
    refused = app.acquire_token_silent_with_error(
        [env["TODOLIST_READ"]], app.get_accounts()[0], force_refresh=True
    )
    assert refused["error"] == "interaction_required"
    assert refused["error_codes"] == [50076]

    # prompt=none cannot do the second factor either; an interactive request steps up.
    silent = app.initiate_auth_code_flow(
        [env["TODOLIST_READ"]], redirect_uri=REDIRECT_URI, prompt="none"
    )
    answer = browser.open(silent["auth_uri"])
    assert isinstance(answer, Redirect)
    assert answer.params["error"] == "interaction_required"
    flow = app.initiate_auth_code_flow([env["TODOLIST_READ"]], redirect_uri=REDIRECT_URI)
    page = browser.open(flow["auth_uri"])
    assert isinstance(page, Page), "the SSO session lacks MFA: the code page, no password"
    back = browser.enter_code(browser.expect_page(page, "verify"), user.email)
    assert isinstance(back, Redirect)
    result = app.acquire_token_by_auth_code_flow(flow, back.params)
    assert _claims(result["access_token"])["amr"] == ["pwd", "mfa"]
    # The SSO session now has MFA: the next request is answered without a page.
    again = app.initiate_auth_code_flow([env["TODOLIST_READ"]], redirect_uri=REDIRECT_URI)
    assert isinstance(browser.open(again["auth_uri"]), Redirect)


def test_a_scope_policy_steps_up_only_for_that_scope(tenant, tenant_reset, http):
    user = tenant.add_user()
    env = tenant.env("web")
    api = tenant.registrations["api"]["app_id_uri"]
    tenant.admin.set_mfa_policy(scopes=[f"{api}/User.MFA"])
    app = web_app(tenant, http)
    flow = app.initiate_auth_code_flow([env["TODOLIST_READ"]], redirect_uri=REDIRECT_URI)
    browser = FormBrowser(tenant.ca_file)
    app.acquire_token_by_auth_code_flow(
        flow, browser.sign_in(flow["auth_uri"], user.email, user.password).params
    )
    account = app.get_accounts()[0]
    refused = app.acquire_token_silent_with_error([f"{api}/User.MFA"], account)
    assert refused["error_codes"] == [50076]
    flow = app.initiate_auth_code_flow([f"{api}/User.MFA"], redirect_uri=REDIRECT_URI)
    page = browser.expect_page(browser.open(flow["auth_uri"]), "verify")
    back = browser.enter_code(page, user.email)
    result = app.acquire_token_by_auth_code_flow(flow, back.params)
    assert _claims(result["access_token"])["scp"] == "User.MFA"
    assert _claims(result["access_token"])["amr"] == ["pwd", "mfa"]


def test_a_claims_challenge_with_cp1_steps_up_and_tokens_carry_acrs(tenant, tenant_reset, http):
    user = tenant.add_user()
    env = tenant.env("web")
    app = msal.ConfidentialClientApplication(
        env["CLIENT_ID"],
        client_credential=env["CLIENT_SECRET"],
        authority=tenant.authority,
        instance_discovery=False,
        http_client=http,
        client_capabilities=["CP1"],
    )
    scopes = [env["TODOLIST_READ"]]
    flow = app.initiate_auth_code_flow(scopes, redirect_uri=REDIRECT_URI)
    browser = FormBrowser(tenant.ca_file)
    result = app.acquire_token_by_auth_code_flow(
        flow, browser.sign_in(flow["auth_uri"], user.email, user.password).params
    )
    first = _claims(result["access_token"])
    assert first["xms_cc"] == ["cp1"]
    assert "acrs" not in first

    # The API answered with a claims challenge: silently first (refused), then interactively.
    account = app.get_accounts()[0]
    refused = app.acquire_token_silent_with_error(scopes, account, claims_challenge=ACRS_C1)
    assert refused["error"] == "interaction_required"
    assert refused["error_codes"] == [50076]
    flow = app.initiate_auth_code_flow(scopes, redirect_uri=REDIRECT_URI, claims_challenge=ACRS_C1)
    page = browser.expect_page(browser.open(flow["auth_uri"]), "verify")
    result = app.acquire_token_by_auth_code_flow(flow, browser.enter_code(page, user.email).params)
    stepped = _claims(result["access_token"])
    assert stepped["acrs"] == ["c1"]
    assert stepped["amr"] == ["pwd", "mfa"]
    assert stepped["xms_cc"] == ["cp1"]
    assert _claims(result["id_token"])["amr"] == ["pwd", "mfa"]

    # The grant now satisfies c1: the same challenge is answered silently, and kept.
    silent = app.acquire_token_silent_with_error(
        scopes, app.get_accounts()[0], claims_challenge=ACRS_C1
    )
    assert _claims(silent["access_token"])["acrs"] == ["c1"]


def test_a_client_without_cp1_gets_no_xms_cc(tenant, tenant_reset, http):
    user = tenant.add_user()
    env = tenant.env("web")
    app = web_app(tenant, http)
    flow = app.initiate_auth_code_flow([env["TODOLIST_READ"]], redirect_uri=REDIRECT_URI)
    result = app.acquire_token_by_auth_code_flow(
        flow,
        FormBrowser(tenant.ca_file).sign_in(flow["auth_uri"], user.email, user.password).params,
    )
    assert "xms_cc" not in _claims(result["access_token"])
    assert _claims(result["access_token"])["amr"] == ["pwd"]


def test_graph_answers_patch_me_with_a_claims_challenge_until_the_token_has_the_context(
    tenant, tenant_reset, http
):
    user = tenant.add_user()
    app = web_app(tenant, http)
    scopes = ["https://graph.microsoft.com/User.ReadWrite"]
    flow = app.initiate_auth_code_flow(scopes, redirect_uri=REDIRECT_URI)
    browser = FormBrowser(tenant.ca_file)
    result = app.acquire_token_by_auth_code_flow(
        flow, browser.sign_in(flow["auth_uri"], user.email, user.password).params
    )
    me = f"{tenant.https_url}/graph/v1.0/me"
    assert tenant.admin.set_graph_step_up("c1") == {"graph_acrs": "c1", "withheld_acrs": []}
    headers = {"Authorization": f"Bearer {result['access_token']}"}
    refused = http.patch(me, json={"city": "Oslo"}, headers=headers)
    assert refused.status_code == 401
    assert refused.json()["error"]["code"] == "InvalidAuthenticationToken"
    challenge = refused.headers["WWW-Authenticate"]
    assert 'error="insufficient_claims"' in challenge
    assert json.loads(decoded_claims(challenge)) == json.loads(ACRS_C1)

    flow = app.initiate_auth_code_flow(scopes, redirect_uri=REDIRECT_URI, claims_challenge=ACRS_C1)
    page = browser.expect_page(browser.open(flow["auth_uri"]), "verify")
    stepped = app.acquire_token_by_auth_code_flow(flow, browser.enter_code(page, user.email).params)
    headers = {"Authorization": f"Bearer {stepped['access_token']}"}
    assert http.patch(me, json={"city": "Oslo"}, headers=headers).status_code == 204
    tenant.admin.reset()
    assert tenant.admin.step_up_settings() == {"graph_acrs": None, "withheld_acrs": []}


def test_the_step_up_settings_refuse_what_is_not_an_authentication_context(tenant, tenant_reset):
    with pytest.raises(TenantAdminError, match="graph_acrs must be an authentication context"):
        tenant.admin.set_graph_step_up("x1")
    with pytest.raises(TenantAdminError, match="withheld_acrs must be a list"):
        tenant.admin.withhold_contexts(["c100"])
    assert tenant.admin.step_up_settings() == {"graph_acrs": None, "withheld_acrs": []}
