"""Every page of the web app and of the local tenant, each reached as a person reaches it.

The accessibility tests (test_accessibility.py) run axe over each of these at a desktop and a
phone size. A new page gets a function here (the tenant's pages: in tenant_visits.py),
registered with `@visit(name)`: it gets a `Site` and returns the Playwright page once it shows
what is to be checked (an alert, an error).

    @visit("web: profile")
    def profile(site: Site) -> Page:
        you = site.signed_in()
        you.goto("/profile", "profile")
        return you.page
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from playwright.sync_api import Page, expect

from tests.browser.conftest import ChromiumPerson
from tests.fixtures.todos import WebServer
from tests.support.tenant_pages import code_from_mailbox


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


@visit("web: profile, a second factor the tenant never confirms (the loop guard's page)")
def profile_step_up_not_done(site: Site) -> Page:
    admin = site.tenant.admin
    you, user = site.person(), site.tenant.add_user()
    you.sign_in(user.email, user.password)
    you.goto("/profile", "profile")
    admin.set_graph_step_up("c1")
    admin.withhold_contexts(["c1"])
    try:
        you.page.locator("#profile-display_name").fill("Never Saved")
        you.page.get_by_role("button", name="Save").click()
        code = you.page.get_by_label("Code")
        expect(code).to_be_visible()
        code.fill(code_from_mailbox(you.page, site.tenant.pages_url, user.email))
        you.page.get_by_role("button", name="Verify").click()
        expect(you.page.locator("#profile-problem")).to_contain_text("second factor")
    finally:
        admin.set_graph_step_up(None)
        admin.withhold_contexts([])
    you.shot("profile-step-up-not-done")
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
