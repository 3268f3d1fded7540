"""Every page of the web app and of the local tenant, each reached as a person reaches it.

The accessibility tests (test_accessibility.py) run axe over each of these at a desktop and a
phone size. A new page gets a function here, registered with `@visit(name)`: it gets a `Site`
and returns the Playwright page once it shows what is to be checked (an alert, an error).

    @visit("web: profile")
    def profile(site: Site) -> Page:
        you = site.signed_in()
        you.goto("/profile", "profile")
        return you.page
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from playwright.sync_api import Page, expect

from tests.browser.conftest import ChromiumPerson
from tests.fixtures.todos import WebServer
from tests.support.tenant_pages import enter_code, send_code, set_password


@dataclass
class Site:
    """What a visit can use: new browser windows, the tenant, the browser tests' API."""

    person: Callable[..., ChromiumPerson]  # person() on the web app, person(web) on another
    tenant: Any
    api: Any  # stopping it is fine: the next browser test starts it again
    misconfigured_web: Callable[[], WebServer]  # a web app asking for a scope nobody defined
    tenant_changed: bool = False  # a visit changed the user flow or the MFA policy

    def user_flow(self, **settings: Any) -> None:
        """The tenant's user flow changed (`set_user_flow`) until the test's end."""
        self.tenant_changed = True
        self.tenant.admin.set_user_flow(**settings)

    def mfa_for(self, email: str) -> None:
        """The tenant asks `email` for a second factor until the test's end."""
        self.tenant_changed = True
        self.tenant.admin.set_mfa_policy(users=[email])

    def signed_in(self, web: WebServer | None = None) -> ChromiumPerson:
        """A new user of the tenant, signed in, at the home page."""
        you = self.person(web)
        user = self.tenant.add_user()
        you.sign_in(user.email, user.password)
        return you

    def at_todos(self, *items: str) -> ChromiumPerson:
        """A new user signed in, at the to-do list holding `items`."""
        you = self.signed_in()
        you.open_todos()
        for text in items:
            you.add(text)
        return you

    def at_tenant_sign_in(self) -> ChromiumPerson:
        you = self.person()
        you.page.goto(you.web.url + "/auth/signin")
        expect(you.page.locator("form#signin")).to_be_visible()
        return you

    def at_tenant_step(self, start: str, form_id: str) -> ChromiumPerson:
        """At the tenant's first page of a flow the web app starts at `start` (`/auth/signup`),
        or the sign-in page's link `start` leads to ("Forgot password?")."""
        if start.startswith("/"):
            you = self.person()
            you.page.goto(you.web.url + start)
        else:
            you = self.at_tenant_sign_in()
            you.page.get_by_role("link", name=start).click()
        return at_step(you, form_id)

    def at_sign_up_code(self) -> tuple[ChromiumPerson, str]:
        """At the sign-up's code page, a code mailed to a new address (returned)."""
        you = self.at_tenant_step("/auth/signup", "signup")
        email = f"visit-{secrets.token_hex(4)}@example.com"
        send_code(you.page, email)
        return at_step(you, "verify"), email

    def at_sign_up_password(self) -> ChromiumPerson:
        you, email = self.at_sign_up_code()
        enter_code(you.page, self.tenant.admin.latest_code(email))
        return at_step(you, "set-password")

    def at_reset_password(self) -> ChromiumPerson:
        """At the new-password page of a password reset."""
        user = self.tenant.add_user()
        you = self.at_tenant_step("Forgot password?", "reset")
        send_code(you.page, user.email)
        enter_code(you.page, self.tenant.admin.latest_code(user.email))
        return at_step(you, "set-password")


@dataclass(frozen=True)
class Visit:
    name: str
    go: Callable[[Site], Page]

    def __str__(self) -> str:
        return self.name


VISITS: list[Visit] = []


def visit(name: str) -> Callable[[Callable[[Site], Page]], Callable[[Site], Page]]:
    """Register a function that brings a browser to a page to check."""

    def register(go: Callable[[Site], Page]) -> Callable[[Site], Page]:
        VISITS.append(Visit(name, go))
        return go

    return register


# --- the web app -----------------------------------------------------------------------------


@visit("web: home, signed out")
def home_signed_out(site: Site) -> Page:
    you = site.person()
    you.goto("/", "home-signed-out")
    return you.page


@visit("web: home, signed in")
def home_signed_in(site: Site) -> Page:
    return site.signed_in().page


@visit("web: to-do list, empty")
def todos_empty(site: Site) -> Page:
    return site.at_todos().page


@visit("web: to-do list with items and a flash")
def todos_with_items(site: Site) -> Page:
    return site.at_todos("Pick up groceries", "Water plants").page


@visit("web: to-do list, the add form refusing a text")
def todos_form_error(site: Site) -> Page:
    page = site.at_todos().page
    page.locator("#todo-description").fill("x" * 501)
    page.get_by_role("button", name="Add").click()
    expect(page.locator("#todo-description-error")).to_be_visible()
    return page


@visit("web: edit an item")
def todo_edit(site: Site) -> Page:
    page = site.at_todos("Finish invoice report").page
    page.get_by_role("link", name="Edit “Finish invoice report”").click()
    expect(page.locator("#todo-edit-description")).to_be_focused()
    return page


@visit("web: edit form refusing a text")
def todo_edit_error(site: Site) -> Page:
    page = todo_edit(site)
    page.locator("#todo-edit-description").fill("y" * 501)
    page.get_by_role("button", name="Save").click()
    expect(page.locator("#todo-edit-error")).to_be_visible()
    return page


@visit("web: to-do list after a deletion")
def todo_deleted(site: Site) -> Page:
    page = site.at_todos("Water plants").page
    page.get_by_role("button", name="Delete “Water plants”").click()
    expect(page.locator(".todo-flashes")).to_contain_text("Deleted “Water plants”.")
    return page


@visit("web: API down alert")
def api_down(site: Site) -> Page:
    page = site.at_todos("Water plants").page
    site.api.stop()
    page.reload()
    expect(page.locator("#todo-problem")).to_contain_text("unavailable")
    return page


@visit("web: API down while adding, the text kept")
def api_down_adding(site: Site) -> Page:
    page = site.at_todos().page
    site.api.stop()
    page.locator("#todo-description").fill("Call the plumber")
    page.get_by_role("button", name="Add").click()
    expect(page.locator("#todo-problem")).to_contain_text("Try again")
    return page


@visit("web: ID token claims")
def claims(site: Site) -> Page:
    you = site.signed_in()
    you.goto("/users/id", "claims")
    return you.page


@visit("web: profile")
def profile(site: Site) -> Page:
    you = site.signed_in()
    you.goto("/profile", "profile")
    expect(you.page.locator("#profile-form")).to_be_visible()
    return you.page


@visit("web: profile form refusing an empty name")
def profile_error(site: Site) -> Page:
    you = site.signed_in()
    you.goto("/profile", "profile")
    you.page.locator("#profile-display_name").fill("")
    you.page.get_by_role("button", name="Save").click()
    expect(you.page.locator("#profile-errors")).to_be_focused()
    return you.page


@visit("web: sign out?")
def sign_out_confirm(site: Site) -> Page:
    you = site.signed_in()
    you.goto("/auth/signout", "sign-out-confirm")
    return you.page


@visit("web: signed out")
def signed_out(site: Site) -> Page:
    page = site.signed_in().page
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("status")).to_have_text("You are signed out.")
    return page


@visit("web: page not found")
def not_found(site: Site) -> Page:
    you = site.person()
    you.goto("/no-such-page", "not-found")
    expect(you.page.get_by_role("heading", level=1)).to_be_visible()
    return you.page


@visit("web: the sign-in service reported a problem")
def provider_problem(site: Site) -> Page:
    """The tenant's answer carries an error (as Entra's does when a user flow fails)."""
    you = site.at_tenant_sign_in()
    state = parse_qs(urlsplit(you.page.url).query)["state"][0]
    answer = {"state": state, "error": "server_error",
              "error_description": "AADSTS90000: the user flow failed."}
    you.goto("/auth/redirect?" + urlencode(answer), "provider-problem")
    expect(you.page.get_by_role("heading", level=1)).to_contain_text("reported a problem")
    return you.page


@visit("web: a sign-in answer that belongs to no sign-in")
def sign_in_expired(site: Site) -> Page:
    you = site.person()
    you.goto("/auth/redirect?code=stale&state=stale", "sign-in-expired")
    expect(you.page.get_by_role("link", name="Sign in again")).to_be_visible()
    return you.page


@visit("web: this app is not set up correctly")
def misconfigured(site: Site) -> Page:
    you = site.signed_in(site.misconfigured_web())
    you.goto("/todos", "misconfigured")
    expect(you.page.locator("#todo-problem")).to_contain_text("This app is not set up correctly")
    return you.page


@visit("web: sign-in cancelled at the tenant")
def cancelled(site: Site) -> Page:
    page = site.at_tenant_sign_in().page
    page.get_by_role("link", name="Cancel").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Sign-in was cancelled")
    return page


# --- the local tenant ------------------------------------------------------------------------
# Each page of a flow shows the app's name and a way back (Cancel); after an error, the error
# summary has the focus (HTML autofocus, no script).


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
    return site.at_tenant_step("/auth/signup", "signup").page


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
    return site.at_sign_up_code()[0].page


@visit("tenant: sign-up, a wrong code")
def tenant_code_wrong(site: Site) -> Page:
    page = tenant_code(site)
    enter_code(page, "00000000")
    return refused(page, "That code is incorrect.")


@visit("tenant: sign-up, an expired code")
def tenant_code_expired(site: Site) -> Page:
    you, email = site.at_sign_up_code()
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
    return site.at_sign_up_password().page


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
    you = site.at_sign_up_password()
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
    return site.at_tenant_step("Forgot password?", "reset").page


@visit("tenant: forgot password, not an email address")
def tenant_reset_not_an_email(site: Site) -> Page:
    page = tenant_reset(site)
    page.locator("#email").fill("someone@localhost")
    page.get_by_role("button", name="Send code").click()
    return refused(page, "Enter your email address")


@visit("tenant: forgot password, the code page")
def tenant_reset_code(site: Site) -> Page:
    you = site.at_tenant_step("Forgot password?", "reset")
    send_code(you.page, site.tenant.add_user().email)
    return at_step(you, "verify").page


@visit("tenant: forgot password, the new password")
def tenant_reset_password(site: Site) -> Page:
    return site.at_reset_password().page


@visit("tenant: forgot password, a password too simple")
def tenant_reset_password_error(site: Site) -> Page:
    page = site.at_reset_password().page
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
    site.at_sign_up_code()
    page = site.person().page
    page.goto(site.tenant.pages_url + "/_mailbox")
    expect(page.locator("#latest-code")).to_be_visible()
    return page


@visit("tenant: mailbox of one address")
def tenant_mailbox_of_one(site: Site) -> Page:
    you, email = site.at_sign_up_code()
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
