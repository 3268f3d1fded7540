"""The tenant's pages in a real Chromium: sign-in form, SSO cookie, form_post auto-submit."""

from __future__ import annotations

import json

import pytest

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
    assert json.loads(page.locator("body").inner_text()) == {"oid": user.oid, "error": None}
    cookies = {c["name"] for c in context.cookies()}
    assert "devtenant_session" in cookies
    assert "rp_session" in cookies

    # SSO: the second sign-in goes straight back to the client (query mode this time).
    page.goto(f"{client_site}/signin?mode=query")
    page.wait_for_url(f"{client_site}/auth/redirect?*")
    assert json.loads(page.locator("body").inner_text())["oid"] == user.oid
    context.close()
