"""A person in a real Chromium: sign up, see their name, sign out, sign in again.

This checks what HTTP-level tests cannot: the SameSite=Lax session cookie survives the trip
through the tenant's pages, the Content-Security-Policy blocks nothing the pages need, and the
pages work with the keyboard.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, expect

from tests.fixtures.web import LiveWeb
from tests.support.tenant_pages import sign_up_in_chromium

pytestmark = pytest.mark.browser

@pytest.fixture
def page(chromium: Browser, live_web: LiveWeb) -> Iterator[Page]:
    """A fresh browser tab; console errors from the app's pages (CSP refusals, missing
    assets) fail the test. The local tenant's own pages are not ours to judge here."""
    context = chromium.new_context()
    page = context.new_page()
    problems: list[str] = []

    def on_console(msg: ConsoleMessage) -> None:
        if msg.type == "error" and msg.location.get("url", "").startswith(live_web.url):
            problems.append(f"{msg.location['url']}: {msg.text}")

    page.on("console", on_console)
    yield page
    context.close()
    assert not problems, f"browser console errors: {problems}"


def test_sign_up_sign_out_and_sign_in_again_in_chromium(
    page: Page, live_web: LiveWeb, tenant: Any
) -> None:
    email = f"lin-{secrets.token_hex(4)}@example.com"
    password = "A long pass phrase"
    page.goto(live_web.url)
    expect(page.get_by_role("heading", name="Welcome")).to_be_visible()
    page.get_by_role("link", name="Sign up").first.click()
    sign_up_in_chromium(page, tenant.pages_url, email, password, "Lin Example")

    expect(page.get_by_role("heading", name="Hi Lin Example!")).to_be_visible()
    assert page.url == f"{live_web.url}/"
    page.get_by_role("link", name="Your ID token").click()
    expect(page.get_by_role("cell", name=email)).to_be_visible()

    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("heading", name="Welcome")).to_be_visible()
    assert page.url == f"{live_web.url}/"
    page.goto(f"{live_web.url}/users/id")
    # Signed out: the protected page sends the browser to the tenant's sign-in form.
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Your ID token")).to_be_visible()
    assert page.url == f"{live_web.url}/users/id"


def test_the_header_is_usable_with_the_keyboard(page: Page, live_web: LiveWeb) -> None:
    page.goto(live_web.url)
    page.keyboard.press("Tab")
    expect(page.get_by_role("link", name="Skip to content")).to_be_focused()
    page.keyboard.press("Tab")
    expect(page.get_by_role("link", name="Contoso To-do")).to_be_focused()
    page.keyboard.press("Tab")
    expect(page.get_by_role("link", name="Sign in").first).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.get_by_label("Email")).to_be_visible()


def test_pages_fit_a_phone_screen(chromium: Browser, live_web: LiveWeb) -> None:
    context = chromium.new_context(viewport={"width": 360, "height": 740})
    page = context.new_page()
    page.goto(live_web.url)
    width = page.evaluate("document.documentElement.scrollWidth")
    context.close()
    assert width <= 360
