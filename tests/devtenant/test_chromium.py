"""The tenant's pages in a real Chromium: sign-in form, SSO cookie, form_post auto-submit."""

from __future__ import annotations

import json
import secrets
from urllib.parse import urlencode

import pytest
from playwright.sync_api import expect

from tests.support.tenant_pages import code_from_mailbox

pytestmark = pytest.mark.browser


def test_sign_in_sso_and_form_post_in_chromium(tenant, tenant_reset, client_site, chromium):
    user = tenant.add_user()
    context = chromium.new_context()
    page = context.new_page()
    page.goto(f"{client_site}/signin?mode=form_post")
    assert page.url.startswith(tenant.pages_url)
    page.fill("#email", user.email)
    page.fill("#password", "not the password")
    page.click("button[type=submit]")
    assert page.locator("#error").inner_text().startswith("AADSTS50126")
    page.fill("#password", user.password)
    page.click("button[type=submit]")
    page.wait_for_url(f"{client_site}/auth/redirect")
    answer = json.loads(page.locator("body").inner_text())
    assert (answer["oid"], answer["error"], answer["amr"]) == (user.oid, None, ["pwd"])
    cookies = {c["name"] for c in context.cookies()}
    assert "devtenant_session" in cookies
    assert "rp_session" in cookies

    # SSO: the second sign-in goes straight back to the client (query mode this time).
    page.goto(f"{client_site}/signin?mode=query")
    page.wait_for_url(f"{client_site}/auth/redirect?*")
    assert json.loads(page.locator("body").inner_text())["oid"] == user.oid
    context.close()


def _answer(page) -> dict:
    return json.loads(page.locator("body").inner_text())


def test_sign_up_with_the_code_from_the_mailbox_in_chromium(
    tenant, tenant_reset, client_site, chromium
):
    tenant.admin.set_user_flow(custom_attributes=["loyaltyTier"])
    email = f"chromium-{secrets.token_hex(4)}@example.com"
    context = chromium.new_context()
    page = context.new_page()
    page.goto(f"{client_site}/signin")
    expect(page.locator("#app-name")).to_have_text("ciam-ToDoList-web")
    page.get_by_role("link", name="Create one").click()
    page.get_by_label("Email address").fill(email)
    page.get_by_role("button", name="Send code").click()
    page.get_by_label("Code").fill("00000000")
    page.get_by_role("button", name="Verify").click()
    expect(page.locator("#error")).to_have_text("That code is incorrect. Check it and try again.")
    expect(page.locator("#error")).to_be_focused()
    page.get_by_label("Code").fill(code_from_mailbox(page, tenant.pages_url, email))
    page.get_by_role("button", name="Verify").click()
    page.get_by_label("New password", exact=True).fill("short")
    page.get_by_label("Confirm new password").fill("short")
    page.get_by_role("button", name="Next").click()
    expect(page.locator("#error")).to_contain_text("between 8 and 256 characters")
    expect(page.locator("#error")).to_be_focused()
    page.get_by_label("New password", exact=True).fill("Chromium-pass-1")
    page.get_by_label("Confirm new password").fill("Chromium-pass-1")
    page.get_by_role("button", name="Next").click()
    page.get_by_label("Display name").fill("Chromium Person")
    page.get_by_label("City (optional)").fill("Paris")
    page.get_by_label("Loyalty tier (optional)").fill("silver")
    page.get_by_role("button", name="Create account").click()
    page.wait_for_url(f"{client_site}/auth/redirect?*")
    answer = _answer(page)
    assert answer["error"] is None
    assert tenant.admin.mail(email)[0]["purpose"] == "signup"
    context.close()


def test_one_time_passcode_sign_in_in_chromium(tenant, tenant_reset, client_site, chromium):
    user = tenant.add_user()
    tenant.admin.set_user_flow(sign_in_method="email_otp")
    context = chromium.new_context()
    page = context.new_page()
    page.goto(f"{client_site}/signin")
    page.get_by_label("Email").fill(user.email)
    page.get_by_role("button", name="Send code").click()
    page.get_by_label("Code").fill(code_from_mailbox(page, tenant.pages_url, user.email))
    page.get_by_role("button", name="Verify").click()
    page.wait_for_url(f"{client_site}/auth/redirect?*")
    assert _answer(page)["oid"] == user.oid
    assert _answer(page)["amr"] == ["otp"]
    context.close()


def test_password_reset_in_chromium(tenant, tenant_reset, client_site, chromium):
    user = tenant.add_user()
    context = chromium.new_context()
    page = context.new_page()
    page.goto(f"{client_site}/signin")
    page.get_by_role("link", name="Forgot password?").click()
    page.get_by_label("Email address").fill(user.email)
    page.get_by_role("button", name="Send code").click()
    page.get_by_label("Code").fill(code_from_mailbox(page, tenant.pages_url, user.email))
    page.get_by_role("button", name="Verify").click()
    page.get_by_label("New password", exact=True).fill("Reset-pass-123")
    page.get_by_label("Confirm new password").fill("Reset-pass-123")
    page.get_by_role("button", name="Reset password").click()
    page.wait_for_url(f"{client_site}/auth/redirect?*")
    assert _answer(page)["oid"] == user.oid
    context.close()


def _password_then_mfa(context, page, tenant, user) -> None:
    page.get_by_label("Email").fill(user.email)
    page.get_by_label("Password").fill(user.password)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Verify your email")).to_be_visible()
    page.get_by_label("Code").fill(code_from_mailbox(page, tenant.pages_url, user.email))
    page.get_by_role("button", name="Verify").click()


def test_mfa_on_a_policy_in_chromium(tenant, tenant_reset, client_site, chromium):
    user = tenant.add_user()
    tenant.admin.set_mfa_policy(users=[user.oid])
    context = chromium.new_context()
    page = context.new_page()
    page.goto(f"{client_site}/signin")
    _password_then_mfa(context, page, tenant, user)
    page.wait_for_url(f"{client_site}/auth/redirect?*")
    assert _answer(page)["amr"] == ["pwd", "mfa"]
    context.close()


def test_mfa_on_a_claims_request_in_chromium(tenant, tenant_reset, client_site, chromium):
    user = tenant.add_user()
    claims = json.dumps({"access_token": {"acrs": {"essential": True, "value": "c1"}}})
    scope = tenant.env("web")["TODOLIST_READ"]
    context = chromium.new_context()
    page = context.new_page()
    page.goto(f"{client_site}/signin?{urlencode({'claims': claims, 'scope': scope})}")
    _password_then_mfa(context, page, tenant, user)
    page.wait_for_url(f"{client_site}/auth/redirect?*")
    assert (_answer(page)["amr"], _answer(page)["acrs"]) == (["pwd", "mfa"], ["c1"])
    context.close()
