"""The local tenant's pages for the accessibility gate (registered in visits.py's list): sign-in,
every page of sign-up, password reset, one-time-passcode sign-in and MFA, each with its errors,
the mailbox, the error page, 404 and signed out.

Each page of a flow shows the app's name and a way back (Cancel); after an error, the error
summary has the focus (HTML autofocus, no script): the visits assert both.
"""

from __future__ import annotations

import secrets
from urllib.parse import urlencode

from playwright.sync_api import Page, expect

from tests.browser.conftest import ChromiumPerson
from tests.browser.visits import Site, visit
from tests.support.tenant_pages import enter_code, send_code, set_password


def at_step(you: ChromiumPerson, form_id: str) -> ChromiumPerson:
    """`you` at the tenant's page with the form `form_id`, the app's name and Cancel on it."""
    page = you.page
    expect(page.locator(f"form#{form_id}")).to_be_visible()
    expect(page.locator("#app-name")).to_have_text("ciam-ToDoList-web")
    expect(page.locator("#cancel-link")).to_be_visible()
    return you


def refused(page: Page, message: str) -> Page:
    """`page` showing `message` in its error summary, which has the focus."""
    expect(page.locator("#error")).to_contain_text(message)
    expect(page.locator("#error")).to_be_focused()
    return page


def at_tenant_step(site: Site, start: str, form_id: str) -> ChromiumPerson:
    """At the tenant's first page of a flow the web app starts at `start` (`/auth/signup`),
    or the sign-in page's link `start` leads to ("Forgot password?")."""
    if start.startswith("/"):
        you = site.person()
        you.page.goto(you.web.url + start)
    else:
        you = site.at_tenant_sign_in()
        you.page.get_by_role("link", name=start).click()
    return at_step(you, form_id)


def at_sign_up_code(site: Site) -> tuple[ChromiumPerson, str]:
    """At the sign-up's code page, a code mailed to a new address (returned)."""
    you = at_tenant_step(site, "/auth/signup", "signup")
    email = f"visit-{secrets.token_hex(4)}@example.com"
    send_code(you.page, email)
    return at_step(you, "verify"), email


def at_sign_up_password(site: Site) -> ChromiumPerson:
    you, email = at_sign_up_code(site)
    enter_code(you.page, site.tenant.admin.latest_code(email))
    return at_step(you, "set-password")


def at_reset_password(site: Site) -> ChromiumPerson:
    """At the new-password page of a password reset."""
    user = site.tenant.add_user()
    you = at_tenant_step(site, "Forgot password?", "reset")
    send_code(you.page, user.email)
    enter_code(you.page, site.tenant.admin.latest_code(user.email))
    return at_step(you, "set-password")


@visit("tenant: sign in")
def tenant_sign_in(site: Site) -> Page:
    return at_step(site.at_tenant_sign_in(), "signin").page


@visit("tenant: sign in with a wrong password")
def tenant_sign_in_error(site: Site) -> Page:
    page = site.at_tenant_sign_in().page
    page.locator("#email").fill(site.tenant.add_user().email)
    page.locator("#password").fill("not the password")
    page.get_by_role("button", name="Sign in").click()
    return refused(page, "AADSTS50126")


@visit("tenant: create account")
def tenant_sign_up(site: Site) -> Page:
    return at_tenant_step(site, "/auth/signup", "signup").page


@visit("tenant: create account, not an email address")
def tenant_sign_up_not_an_email(site: Site) -> Page:
    page = tenant_sign_up(site)
    page.locator("#email").fill("someone@localhost")  # an address the browser lets through
    page.get_by_role("button", name="Send code").click()
    return refused(page, "Enter your email address")


@visit("tenant: create account for an address already taken")
def tenant_sign_up_error(site: Site) -> Page:
    page = tenant_sign_up(site)
    page.locator("#email").fill(site.tenant.add_user().email)
    page.get_by_role("button", name="Send code").click()
    return refused(page, "already exists")


@visit("tenant: create account after the session expired")
def tenant_session_expired(site: Site) -> Page:
    page = tenant_sign_up(site)
    page.context.clear_cookies()  # the tenant's session cookie, which carries the CSRF secret
    page.locator("#email").fill(f"late-{secrets.token_hex(4)}@example.com")
    page.get_by_role("button", name="Send code").click()
    return refused(page, "session")


@visit("tenant: sign-up, the code page")
def tenant_code(site: Site) -> Page:
    return at_sign_up_code(site)[0].page


@visit("tenant: sign-up, a wrong code")
def tenant_code_wrong(site: Site) -> Page:
    page = tenant_code(site)
    enter_code(page, "00000000")
    return refused(page, "That code is incorrect.")


@visit("tenant: sign-up, an expired code")
def tenant_code_expired(site: Site) -> Page:
    you, email = at_sign_up_code(site)
    code = site.tenant.admin.latest_code(email)
    site.tenant.admin.expire_codes(email)
    enter_code(you.page, code)
    return refused(you.page, "That code has expired. We sent you a new one.")


@visit("tenant: sign-up, too many wrong codes")
def tenant_code_locked(site: Site) -> Page:
    page = tenant_code(site)
    for wrong in ("00000000", "00000001", "00000002"):
        enter_code(page, wrong)
    return refused(page, "You entered a wrong code too many times.")


@visit("tenant: sign-up, a new code sent")
def tenant_code_resent(site: Site) -> Page:
    page = tenant_code(site)
    page.get_by_role("button", name="Resend code").click()
    expect(page.get_by_role("status")).to_contain_text("We sent a new code")
    expect(page.locator("#code")).to_be_focused()
    return page


@visit("tenant: sign-up, too many codes sent")
def tenant_code_too_many(site: Site) -> Page:
    page = tenant_code(site)
    for _ in range(5):  # the first code and four more: the fifth "Resend" is one too many
        page.get_by_role("button", name="Resend code").click()
        expect(page.locator("form#verify")).to_be_visible()
    return refused(page, "We sent you too many codes.")


@visit("tenant: sign-up, the password page")
def tenant_password(site: Site) -> Page:
    return at_sign_up_password(site).page


@visit("tenant: sign-up, a password too short")
def tenant_password_short(site: Site) -> Page:
    page = tenant_password(site)
    set_password(page, "short")
    return refused(page, "between 8 and 256 characters")


@visit("tenant: sign-up, passwords that don't match")
def tenant_password_mismatch(site: Site) -> Page:
    page = tenant_password(site)
    set_password(page, "Visit-passw0rd", "Visit-passw0rd-2")
    return refused(page, "The passwords don't match.")


@visit("tenant: sign-up, the attributes page with a custom attribute")
def tenant_attributes(site: Site) -> Page:
    site.user_flow(custom_attributes=["loyaltyTier"])
    you = at_sign_up_password(site)
    set_password(you.page, "Visit-passw0rd")
    page = at_step(you, "attributes").page
    expect(page.get_by_label("Loyalty tier (optional)")).to_be_visible()
    return page


@visit("tenant: sign-up, the attributes page without a display name")
def tenant_attributes_error(site: Site) -> Page:
    page = tenant_attributes(site)
    page.get_by_label("Display name").fill("   ")  # `required` lets spaces through
    page.get_by_role("button", name="Create account").click()
    return refused(page, "Enter your display name.")


@visit("tenant: forgot password")
def tenant_reset(site: Site) -> Page:
    return at_tenant_step(site, "Forgot password?", "reset").page


@visit("tenant: forgot password, not an email address")
def tenant_reset_not_an_email(site: Site) -> Page:
    page = tenant_reset(site)
    page.locator("#email").fill("someone@localhost")
    page.get_by_role("button", name="Send code").click()
    return refused(page, "Enter your email address")


@visit("tenant: forgot password, the code page")
def tenant_reset_code(site: Site) -> Page:
    you = at_tenant_step(site, "Forgot password?", "reset")
    send_code(you.page, site.tenant.add_user().email)
    return at_step(you, "verify").page


@visit("tenant: forgot password, the new password")
def tenant_reset_password(site: Site) -> Page:
    return at_reset_password(site).page


@visit("tenant: forgot password, a password too simple")
def tenant_reset_password_error(site: Site) -> Page:
    page = at_reset_password(site).page
    set_password(page, "alllowercase", button="Reset password")
    return refused(page, "at least 3 of these 4 groups")


@visit("tenant: sign in with a one-time passcode")
def tenant_otp(site: Site) -> Page:
    site.user_flow(sign_in_method="email_otp")
    page = at_step(site.at_tenant_sign_in(), "signin").page
    expect(page.get_by_role("button", name="Send code")).to_be_visible()
    return page


@visit("tenant: sign in with a one-time passcode, the code page")
def tenant_otp_code(site: Site) -> Page:
    page = tenant_otp(site)
    send_code(page, site.tenant.add_user().email)
    expect(page.locator("#intro")).to_contain_text("Enter the code we sent")
    return page


@visit("tenant: the second factor's code page")
def tenant_mfa(site: Site) -> Page:
    user = site.tenant.add_user()
    site.mfa_for(user.email)
    you = site.at_tenant_sign_in()
    you.page.locator("#email").fill(user.email)
    you.page.locator("#password").fill(user.password)
    you.page.get_by_role("button", name="Sign in").click()
    expect(you.page.locator("#intro")).to_contain_text("To confirm it's you")
    return at_step(you, "verify").page


@visit("tenant: mailbox, the newest mail of every address")
def tenant_mailbox(site: Site) -> Page:
    at_sign_up_code(site)
    page = site.person().page
    page.goto(site.tenant.pages_url + "/_mailbox")
    expect(page.locator("#latest-code")).to_be_visible()
    return page


@visit("tenant: mailbox of one address")
def tenant_mailbox_of_one(site: Site) -> Page:
    you, email = at_sign_up_code(site)
    you.page.get_by_role("button", name="Resend code").click()
    you.page.goto(site.tenant.pages_url + "/_mailbox")
    you.page.get_by_role("link", name=email).click()
    expect(you.page.locator("article")).to_have_count(2)
    return you.page


@visit("tenant: mailbox of an address without mail")
def tenant_mailbox_empty(site: Site) -> Page:
    page = site.person().page
    page.goto(f"{site.tenant.pages_url}/_mailbox?to=nobody-{secrets.token_hex(4)}@example.com")
    expect(page.locator("#empty")).to_have_text("No mail yet.")
    return page


@visit("tenant: error page (an unknown application)")
def tenant_error(site: Site) -> Page:
    you = site.person()
    query = {"client_id": "00000000-0000-0000-0000-000000000000", "response_type": "code",
             "redirect_uri": you.web.url + "/auth/redirect", "scope": "openid"}
    you.page.goto(f"{site.tenant.pages_url}/{site.tenant.tenant_id}/oauth2/v2.0/authorize?"
                  + urlencode(query))
    expect(you.page.locator("#error-code")).to_be_visible()
    return you.page


@visit("tenant: page not found")
def tenant_not_found(site: Site) -> Page:
    you = site.person()
    you.page.goto(site.tenant.pages_url + "/no-such-page")
    expect(you.page.locator("#error")).to_be_visible()
    return you.page


@visit("tenant: signed out")
def tenant_signed_out(site: Site) -> Page:
    you = site.person()
    you.page.goto(f"{site.tenant.pages_url}/{site.tenant.tenant_id}/oauth2/v2.0/logout")
    expect(you.page.get_by_role("heading", level=1)).to_have_text(
        "You signed out of your account"
    )
    return you.page
