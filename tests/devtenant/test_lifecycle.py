"""A customer's account lifecycle with the real MSAL over loopback: sign-up with email
verification and attributes, the code page's answers, the mailbox, password reset (and the
refresh tokens it revokes), email one-time-passcode sign-in, and Cancel."""

from __future__ import annotations

import re
import secrets
from urllib.parse import urljoin

import msal
import pytest

from tests.devtenant.helpers import REDIRECT_URI, sign_in, validate, web_app
from tests.support.browser import BrowserError, FormBrowser, Page, Redirect

STRONG = "Str0ng-passphrase"


def _email(tag: str) -> str:
    return f"{tag}-{secrets.token_hex(4)}@example.com"


def _code_page(tenant, http, email: str, browser: FormBrowser | None = None):
    """A sign-up started for `email`, at the code page: (app, flow, browser, page)."""
    app = web_app(tenant, http)
    flow = app.initiate_auth_code_flow([], redirect_uri=REDIRECT_URI, prompt=msal.Prompt.CREATE)
    browser = browser or FormBrowser(tenant.ca_file)
    page = browser.open(flow["auth_uri"])
    assert isinstance(page, Page)
    return (
        app,
        flow,
        browser,
        browser.expect_page(browser.submit(page, "signup", {"email": email}), "verify"),
    )


def test_sign_up_verifies_the_email_and_the_id_token_carries_the_attributes(
    tenant, tenant_reset, http
):
    tenant.admin.set_user_flow(custom_attributes=["loyaltyTier"])
    email = _email("ada")
    app = web_app(tenant, http)
    flow = app.initiate_auth_code_flow([], redirect_uri=REDIRECT_URI, prompt=msal.Prompt.CREATE)
    attributes = {
        "given_name": "Ada",
        "surname": "Lovelace",
        "city": "London",
        "ext_loyaltyTier": "gold",
    }
    back = FormBrowser(tenant.ca_file).sign_up(flow["auth_uri"], email, STRONG, "Ada L", attributes)
    result = app.acquire_token_by_auth_code_flow(flow, back.params)
    claims = validate(result["id_token"], tenant, http, tenant.env("web")["CLIENT_ID"])
    extensions_app = tenant.registrations["extensions_app_id"].replace("-", "")
    assert claims["name"] == "Ada L"
    assert claims["given_name"] == "Ada"
    assert claims["family_name"] == "Lovelace"
    assert claims["city"] == "London"
    assert claims[f"extension_{extensions_app}_loyaltyTier"] == "gold"
    assert claims["amr"] == ["pwd"]

    mails = tenant.admin.mail(email)
    assert len(mails) == 1
    assert re.fullmatch(r"\d{8}", mails[0]["code"])
    assert mails[0]["purpose"] == "signup"
    assert mails[0]["code"] in mails[0]["body"]
    assert "ciam-ToDoList-web" in mails[0]["subject"]


def test_a_wrong_code_then_too_many_then_resend(tenant, tenant_reset, http):
    email = _email("codes")
    _app, _flow, browser, page = _code_page(tenant, http, email)
    first = tenant.admin.latest_code(email)
    wrong = f"{(int(first) + 1) % 10**8:08d}"
    for _ in range(2):
        page = browser.expect_page(browser.submit(page, "verify", {"code": wrong}), "verify")
        assert page.error == "That code is incorrect. Check it and try again."
    page = browser.expect_page(browser.submit(page, "verify", {"code": wrong}), "verify")
    assert page.error == (
        "You entered a wrong code too many times. Select Resend code to get a new one."
    )
    page = browser.expect_page(browser.submit(page, "verify", {"code": first}), "verify")
    assert "too many times" in (page.error or ""), "a locked code stays locked"

    page = browser.expect_page(browser.submit(page, "resend", {}), "verify")
    assert f"We sent a new code to {email}." in page.text
    second = tenant.admin.latest_code(email)
    assert [m["code"] for m in tenant.admin.mail(email)] == [second, first]  # newest first
    after = browser.submit(page, "verify", {"code": second})
    assert browser.expect_page(after, "set-password")


def test_an_expired_code_sends_a_new_one(tenant, tenant_reset, http):
    email = _email("expired")
    _app, _flow, browser, page = _code_page(tenant, http, email)
    first = tenant.admin.latest_code(email)
    assert tenant.admin.expire_codes(email) == 1
    page = browser.expect_page(browser.submit(page, "verify", {"code": first}), "verify")
    assert page.error == "That code has expired. We sent you a new one."
    assert len(tenant.admin.mail(email)) == 2
    second = tenant.admin.latest_code(email)
    assert browser.expect_page(browser.submit(page, "verify", {"code": second}), "set-password")


def test_resending_is_limited_per_address(tenant, tenant_reset, http):
    email = _email("limit")
    _app, _flow, browser, page = _code_page(tenant, http, email)
    for _ in range(4):
        page = browser.expect_page(browser.submit(page, "resend", {}), "verify")
        assert page.error is None
    page = browser.expect_page(browser.submit(page, "resend", {}), "verify")
    assert page.error == "We sent you too many codes. Wait 10 minutes, then try again."
    assert len(tenant.admin.mail(email)) == 5


@pytest.mark.parametrize(
    ("password", "confirm", "message"),
    [
        ("Sh0rt!", "Sh0rt!", "between 8 and 256 characters"),
        ("alllowercase1", "alllowercase1", "at least 3 of these 4 groups"),
        (STRONG, STRONG + "x", "don't match"),
    ],
)
def test_the_password_policy_says_what_is_wrong(
    tenant, tenant_reset, http, password, confirm, message
):
    email = _email("policy")
    _app, _flow, browser, page = _code_page(tenant, http, email)
    page = browser.enter_code(page, email)
    page = browser.expect_page(page, "set-password")
    after = browser.expect_page(
        browser.submit(page, "set-password", {"password": password, "confirm": confirm}),
        "set-password",
    )
    assert message in (after.error or "")


def test_sign_up_for_an_existing_address_sends_no_code(tenant, tenant_reset, http):
    user = tenant.add_user()
    flow = web_app(tenant, http).initiate_auth_code_flow(
        [], redirect_uri=REDIRECT_URI, prompt=msal.Prompt.CREATE
    )
    browser = FormBrowser(tenant.ca_file)
    page = browser.open(flow["auth_uri"])
    assert isinstance(page, Page)
    after = browser.expect_page(browser.submit(page, "signup", {"email": user.email}), "signup")
    assert after.error == "An account with this email address already exists. Sign in instead."
    assert tenant.admin.mail(user.email) == []


def _reset_password(tenant, browser: FormBrowser, auth_uri: str, email: str, password: str):
    page = browser.open(auth_uri)
    assert isinstance(page, Page)
    page = browser.open(_absolute(page, "forgot-link"))
    assert isinstance(page, Page)
    page = browser.expect_page(browser.submit(page, "reset", {"email": email}), "verify")
    page = browser.expect_page(browser.enter_code(page, email), "set-password")
    return browser.submit(page, "set-password", {"password": password, "confirm": password})


def _absolute(page: Page, link: str) -> str:
    return urljoin(page.url, page.links[link])


def test_password_reset_signs_in_and_revokes_the_old_refresh_tokens(tenant, tenant_reset, http):
    env = tenant.env("web")
    app, user, _first, _browser = sign_in(tenant, http, [env["TODOLIST_READ"]])
    account = app.get_accounts()[0]
    assert "access_token" in app.acquire_token_silent_with_error(
        [env["TODOLIST_READ"]], account, force_refresh=True
    )

    other = web_app(tenant, http)
    flow = other.initiate_auth_code_flow([env["TODOLIST_READ"]], redirect_uri=REDIRECT_URI)
    back = _reset_password(
        tenant, FormBrowser(tenant.ca_file), flow["auth_uri"], user.email, STRONG
    )
    assert isinstance(back, Redirect)
    result = other.acquire_token_by_auth_code_flow(flow, back.params)
    assert result["id_token_claims"]["oid"] == user.oid
    assert tenant.admin.mail(user.email)[0]["purpose"] == "reset"

    refused = app.acquire_token_silent_with_error(
        [env["TODOLIST_READ"]], account, force_refresh=True
    )
    assert refused["error"] == "invalid_grant"
    assert refused["error_codes"] == [50173]
    # The new refresh token works; the old password does not, the new one does.
    new_account = other.get_accounts()[0]
    assert "access_token" in other.acquire_token_silent_with_error(
        [env["TODOLIST_READ"]], new_account, force_refresh=True
    )
    flow = web_app(tenant, http).initiate_auth_code_flow([], redirect_uri=REDIRECT_URI)
    with pytest.raises(BrowserError, match="AADSTS50126"):
        FormBrowser(tenant.ca_file).sign_in(flow["auth_uri"], user.email, user.password)
    flow = web_app(tenant, http).initiate_auth_code_flow([], redirect_uri=REDIRECT_URI)
    assert FormBrowser(tenant.ca_file).sign_in(flow["auth_uri"], user.email, STRONG).params["code"]


def test_a_reset_for_an_unknown_address_sends_nothing_and_says_nothing(tenant, tenant_reset, http):
    email = _email("nobody")
    flow = web_app(tenant, http).initiate_auth_code_flow([], redirect_uri=REDIRECT_URI)
    browser = FormBrowser(tenant.ca_file)
    page = browser.open(flow["auth_uri"])
    assert isinstance(page, Page)
    page = browser.open(_absolute(page, "forgot-link"))
    assert isinstance(page, Page)
    page = browser.expect_page(browser.submit(page, "reset", {"email": email}), "verify")
    assert f"If an account exists for {email}" in page.text
    assert tenant.admin.mail(email) == []
    page = browser.expect_page(browser.submit(page, "verify", {"code": "12345678"}), "verify")
    assert page.error == "That code is incorrect. Check it and try again."


def test_email_one_time_passcode_sign_in(tenant, tenant_reset, http):
    user = tenant.add_user()
    tenant.admin.set_user_flow(sign_in_method="email_otp")
    app = web_app(tenant, http)
    flow = app.initiate_auth_code_flow([], redirect_uri=REDIRECT_URI)
    browser = FormBrowser(tenant.ca_file)
    page = browser.open(flow["auth_uri"])
    assert isinstance(page, Page)
    assert "password" not in page.forms[0].fields
    page = browser.expect_page(browser.submit(page, "signin", {"email": user.email}), "verify")
    back = browser.enter_code(page, user.email)
    assert isinstance(back, Redirect)
    result = app.acquire_token_by_auth_code_flow(flow, back.params)
    assert result["id_token_claims"]["oid"] == user.oid
    assert result["id_token_claims"]["amr"] == ["otp"]
    assert tenant.admin.mail(user.email)[0]["purpose"] == "otp"


def test_email_one_time_passcode_for_an_unknown_address_says_so(tenant, tenant_reset, http):
    tenant.admin.set_user_flow(sign_in_method="email_otp")
    flow = web_app(tenant, http).initiate_auth_code_flow([], redirect_uri=REDIRECT_URI)
    browser = FormBrowser(tenant.ca_file)
    page = browser.open(flow["auth_uri"])
    assert isinstance(page, Page)
    after = browser.expect_page(browser.submit(page, "signin", {"email": _email("x")}), "signin")
    assert after.error == "We couldn't find an account with that email address."


def test_cancel_goes_back_to_the_app_with_access_denied(tenant, tenant_reset, http):
    app = web_app(tenant, http)
    flow = app.initiate_auth_code_flow([], redirect_uri=REDIRECT_URI)
    browser = FormBrowser(tenant.ca_file)
    page = browser.open(flow["auth_uri"])
    assert isinstance(page, Page)
    back = browser.open(_absolute(page, "cancel-link"))
    assert isinstance(back, Redirect)
    assert back.url == REDIRECT_URI
    assert back.params["error"] == "access_denied"
    assert back.params["state"] == flow["state"]
    result = app.acquire_token_by_auth_code_flow(flow, back.params)
    assert result["error"] == "access_denied"


def test_the_mailbox_page_shows_the_newest_mail_per_address(tenant, tenant_reset, http):
    first, second = _email("box-a"), _email("box-b")
    for email in (first, second):
        _code_page(tenant, http, email)
    page = http.get(f"{tenant.pages_url}/_mailbox")
    assert page.status_code == 200
    assert page.text.index(second) < page.text.index(first)  # newest first
    mine = http.get(f"{tenant.pages_url}/_mailbox", params={"to": first})
    code = tenant.admin.latest_code(first)
    assert re.search(rf'id="latest-code"[^>]*>{code}<', mine.text)
    assert second not in mine.text
    assert http.get(f"{tenant.https_url}/_mailbox").status_code == 404  # pages port only


def test_a_forged_csrf_token_on_the_code_page_checks_nothing(tenant, tenant_reset, http):
    email = _email("csrf")
    _app, _flow, browser, page = _code_page(tenant, http, email)
    code = tenant.admin.latest_code(email)
    after = browser.submit(page, "verify", {"code": code, "csrf_token": "forged"})
    assert isinstance(after, Page)
    assert after.error == "Your session expired. Please try again."
    assert browser.expect_page(browser.submit(page, "verify", {"code": code}), "set-password")
