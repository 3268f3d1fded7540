"""The browser side: sign-in and sign-up forms, SSO, prompt, form_post, sign-out."""

from __future__ import annotations

import msal

from tests.devtenant.helpers import REDIRECT_URI, validate, web_app
from tests.support.browser import FormBrowser, Page, Redirect


def test_a_wrong_password_shows_aadsts50126_on_the_page(tenant, tenant_reset, http):
    user = tenant.add_user()
    flow = web_app(tenant, http).initiate_auth_code_flow([], redirect_uri=REDIRECT_URI)
    browser = FormBrowser(tenant.ca_file)
    page = browser.open(flow["auth_uri"])
    assert isinstance(page, Page)
    after = browser.submit(
        page, "signin", {"email": user.email, "password": "wrong" + user.password}
    )
    assert isinstance(after, Page)
    assert after.status == 200
    assert after.error is not None
    assert after.error.startswith("AADSTS50126: Error validating credentials")
    assert "Traceback" not in after.text
    assert user.password not in after.text


def test_an_unknown_email_gets_the_same_answer(tenant, tenant_reset, http):
    flow = web_app(tenant, http).initiate_auth_code_flow([], redirect_uri=REDIRECT_URI)
    browser = FormBrowser(tenant.ca_file)
    page = browser.open(flow["auth_uri"])
    after = browser.submit(page, "signin", {"email": "nobody@example.com", "password": "x"})
    assert isinstance(after, Page)
    assert after.error is not None
    assert after.error.startswith("AADSTS50126")


def test_the_sign_in_form_refuses_a_post_without_its_csrf_token(tenant, tenant_reset, http):
    user = tenant.add_user()
    flow = web_app(tenant, http).initiate_auth_code_flow([], redirect_uri=REDIRECT_URI)
    browser = FormBrowser(tenant.ca_file)
    page = browser.open(flow["auth_uri"])
    assert isinstance(page, Page)
    after = browser.submit(
        page, "signin", {"email": user.email, "password": user.password, "csrf_token": "forged"}
    )
    assert isinstance(after, Page), "a forged CSRF token must not sign anyone in"
    assert after.error is not None


def test_sign_up_with_prompt_create_then_sign_in(tenant, tenant_reset, http):
    app = web_app(tenant, http)
    env = tenant.env("web")
    email = f"new-{tenant.tenant_id[:6]}@example.com"
    flow = app.initiate_auth_code_flow(
        [env["TODOLIST_READ"]], redirect_uri=REDIRECT_URI, prompt=msal.Prompt.CREATE
    )
    back = FormBrowser(tenant.ca_file).sign_up(
        flow["auth_uri"], email, "S3cret-pass!", "New Person"
    )
    result = app.acquire_token_by_auth_code_flow(flow, back.params)
    assert "access_token" in result, result
    id_claims = validate(result["id_token"], tenant, http, env["CLIENT_ID"])
    assert id_claims["name"] == "New Person"
    assert id_claims["preferred_username"] == email

    # A fresh browser (no SSO cookie) signs in with the new account.
    app2 = web_app(tenant, http)
    flow2 = app2.initiate_auth_code_flow([], redirect_uri=REDIRECT_URI)
    back2 = FormBrowser(tenant.ca_file).sign_in(flow2["auth_uri"], email, "S3cret-pass!")
    result2 = app2.acquire_token_by_auth_code_flow(flow2, back2.params)
    assert result2["id_token_claims"]["oid"] == id_claims["oid"]


def test_sign_up_from_the_sign_in_page_link(tenant, tenant_reset, http):
    app = web_app(tenant, http)
    flow = app.initiate_auth_code_flow([], redirect_uri=REDIRECT_URI)
    browser = FormBrowser(tenant.ca_file)
    back = browser.sign_up(flow["auth_uri"], "linked-signup@example.com", "Pw-123456", "Linked")
    result = app.acquire_token_by_auth_code_flow(flow, back.params)
    assert result["id_token_claims"]["name"] == "Linked"


def test_sign_up_with_an_existing_email_says_so(tenant, tenant_reset, http):
    user = tenant.add_user()
    flow = web_app(tenant, http).initiate_auth_code_flow(
        [], redirect_uri=REDIRECT_URI, prompt=msal.Prompt.CREATE
    )
    browser = FormBrowser(tenant.ca_file)
    page = browser.open(flow["auth_uri"])
    assert isinstance(page, Page)
    after = browser.submit(page, "signup", {"email": user.email})
    assert isinstance(after, Page)
    assert after.error is not None
    assert "already exists" in after.error


def test_sso_second_authorize_needs_no_password_and_prompt_login_forces_the_form(
    tenant, tenant_reset, http
):
    user = tenant.add_user()
    app = web_app(tenant, http)
    browser = FormBrowser(tenant.ca_file)
    flow = app.initiate_auth_code_flow([], redirect_uri=REDIRECT_URI)
    first = app.acquire_token_by_auth_code_flow(
        flow, browser.sign_in(flow["auth_uri"], user.email, user.password).params
    )
    assert "devtenant_session" in browser.http.cookies

    flow = app.initiate_auth_code_flow([], redirect_uri=REDIRECT_URI)
    back = browser.open(flow["auth_uri"])
    assert isinstance(back, Redirect), "SSO: the second authorize must not show the form"
    second = app.acquire_token_by_auth_code_flow(flow, back.params)
    assert second["id_token_claims"]["oid"] == first["id_token_claims"]["oid"]
    assert second["id_token_claims"]["sid"] == first["id_token_claims"]["sid"]

    flow = app.initiate_auth_code_flow([], redirect_uri=REDIRECT_URI, prompt=msal.Prompt.LOGIN)
    page = browser.open(flow["auth_uri"])
    assert isinstance(page, Page)
    assert any(f.form_id == "signin" for f in page.forms)

    flow = app.initiate_auth_code_flow([], redirect_uri=REDIRECT_URI, prompt=msal.Prompt.NONE)
    back = browser.open(flow["auth_uri"])
    assert isinstance(back, Redirect)
    assert "code" in back.params


def test_prompt_none_without_a_session_answers_login_required(tenant, tenant_reset, http):
    app = web_app(tenant, http)
    flow = app.initiate_auth_code_flow([], redirect_uri=REDIRECT_URI, prompt=msal.Prompt.NONE)
    back = FormBrowser(tenant.ca_file).open(flow["auth_uri"])
    assert isinstance(back, Redirect)
    assert back.url == REDIRECT_URI
    assert back.params["error"] == "login_required"
    assert back.params["error_description"].startswith("AADSTS50058:")
    assert back.params["state"] == flow["state"]
    result = app.acquire_token_by_auth_code_flow(flow, back.params)
    assert result["error"] == "login_required"


def test_response_mode_form_post(tenant, tenant_reset, http):
    user = tenant.add_user()
    app = web_app(tenant, http)
    flow = app.initiate_auth_code_flow([], redirect_uri=REDIRECT_URI, response_mode="form_post")
    back = FormBrowser(tenant.ca_file).sign_in(flow["auth_uri"], user.email, user.password)
    assert back.method == "POST"
    assert back.url == REDIRECT_URI
    assert set(back.params) == {"code", "state"}
    result = app.acquire_token_by_auth_code_flow(flow, back.params)
    assert "access_token" in result, result


def test_sign_out_clears_the_session_and_redirects_to_a_registered_uri(tenant, tenant_reset, http):
    user = tenant.add_user()
    app = web_app(tenant, http)
    browser = FormBrowser(tenant.ca_file)
    flow = app.initiate_auth_code_flow([], redirect_uri=REDIRECT_URI)
    browser.sign_in(flow["auth_uri"], user.email, user.password)
    end_session = http.get(tenant.discovery_url).json()["end_session_endpoint"]
    assert end_session.startswith(tenant.pages_url)

    evil = browser.open(end_session + "?post_logout_redirect_uri=https%3A%2F%2Fattacker.example%2F")
    assert isinstance(evil, Page)
    assert evil.status == 400
    assert "AADSTS50011" in evil.text

    out = browser.open(
        end_session + "?post_logout_redirect_uri=http%3A%2F%2Flocalhost%3A3000%2F&state=s1"
    )
    assert isinstance(out, Redirect)
    assert out.url == "http://localhost:3000/"
    assert out.params == {"state": "s1"}
    assert tenant.admin.counts()["logout"] == 2

    flow = app.initiate_auth_code_flow([], redirect_uri=REDIRECT_URI, prompt=msal.Prompt.NONE)
    back = browser.open(flow["auth_uri"])
    assert isinstance(back, Redirect)
    assert back.params["error"] == "login_required"


def test_sign_out_without_a_redirect_shows_a_page(tenant, tenant_reset, http):
    resp = http.get(f"{tenant.pages_url}/{tenant.tenant_id}/oauth2/v2.0/logout")
    assert resp.status_code == 200
    assert "signed out" in resp.text
