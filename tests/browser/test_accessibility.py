"""WCAG 2.2 A and AA in Chromium: axe-core over every page of the web app and of the local
tenant (tests/browser/visits.py, tenant_visits.py) at a desktop and a phone size, then what
axe cannot see: the contrast of a text field's outline (1.4.11) and the whole journey with the
keyboard alone, focus visible at every step (2.1.1, 2.4.7)."""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.browser import tenant_visits  # also registers the tenant's pages in VISITS
from tests.browser.conftest import SCREENSHOTS, ChromiumPerson
from tests.browser.visits import VISITS, Site, Visit
from tests.fixtures.todos import WebServer
from tests.support.axe import assert_accessible, describe, violations
from tests.support.contrast import field_outlines, focus_ring, low_contrast_outlines

SIZES = {"desktop": {"width": 1280, "height": 800}, "phone": {"width": 390, "height": 844}}


@pytest.fixture(scope="session")
def misconfigured_web(
    web_server_factory: Callable[..., WebServer], browser_api: Any, tenant: Any
) -> WebServer:
    """A web app whose read scope names a permission the API never defined (AADSTS70011)."""
    scope = f"{tenant.registrations['api']['app_id_uri']}/ToDoList.Typo"
    return web_server_factory(browser_api.todolist_url, TODOLIST_READ=scope)


@pytest.fixture
def site(
    chromium_person: Callable[..., ChromiumPerson], tenant: Any, running_browser_api: Any,
    request: pytest.FixtureRequest,
) -> Iterator[Site]:
    """What a visit uses; a user flow or MFA policy a visit set is put back afterwards."""
    site = Site(chromium_person, tenant, running_browser_api,
                lambda: request.getfixturevalue("misconfigured_web"))
    yield site
    if site.tenant_changed:
        tenant.admin.reset()


@pytest.mark.parametrize("page_visit", VISITS, ids=str)
def test_every_page_meets_wcag_a_and_aa_on_desktop_and_phone(
    site: Site, page_visit: Visit
) -> None:
    """axe finds nothing and every text field's outline stands out 3:1, at both sizes (each
    saved as a screenshot, a11y-<visit>-<size>.png)."""
    page: Page = page_visit.go(site)
    report = []
    for size, viewport in SIZES.items():
        page.set_viewport_size(viewport)
        shot(page, f"a11y-{page_visit.name}-{size}")
        where = f"{page_visit.name} at {size} size ({page.url})"
        if found := violations(page):
            report.append(f"{where}:\n{describe(found)}")
        report += [f"{where}: {low.field} is outlined in {low.border}, {low.ratio:.2f}:1"
                   for low in low_contrast_outlines(page)]
    assert not report, "\n".join(report)


def shot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / (re.sub(r"[^A-Za-z0-9_-]+", "-", name) + ".png")),
                    full_page=True)


def test_the_checks_find_a_missing_label_and_a_faint_outline(chromium: Browser) -> None:
    """The gate itself: a field with no label, outlined as ours were (#d8dce3 on white)."""
    page = chromium.new_page()
    try:
        page.set_content(
            '<!doctype html><html lang="en"><title>t</title><main>'
            '<input type="text" id="faint" style="border: 1px solid #d8dce3"></main></html>'
        )
        assert [v["id"] for v in violations(page)] == ["label"]
        with pytest.raises(AssertionError, match=r"label \(critical\).*\n +#faint"):
            assert_accessible(page, "a bare field")
        [outline] = low_contrast_outlines(page)
        assert (outline.field, outline.border) == ("#faint", "rgb(216, 220, 227)")
        assert round(outline.ratio, 2) == 1.38
    finally:
        page.close()


OUTLINED: dict[str, Callable[[Site], Page]] = {
    "web app": lambda site: site.at_todos().page,
    "tenant: sign in": tenant_visits.tenant_sign_in,
    "tenant: code": tenant_visits.tenant_code,
    "tenant: password": tenant_visits.tenant_password,
    "tenant: attributes": tenant_visits.tenant_attributes,
}


@pytest.mark.parametrize("where", OUTLINED)
def test_text_fields_are_outlined_at_least_3_to_1(site: Site, where: str) -> None:
    """Every field there is outlined in #7b8494 (the web app's `--field-border`, the tenant's
    base.html), 3.77:1 on white, not only "no field under 3:1" (which no field would pass)."""
    page = OUTLINED[where](site)
    outlines = field_outlines(page)
    assert outlines, "no text field measured"
    for outline in outlines:
        assert outline.border == "rgb(123, 132, 148)"
        assert outline.ratio >= 3, outline


class Keyboard:
    """A person using only the keyboard: every Tab stop must show a focus ring of 3:1."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.keys = page.keyboard

    def focused(self) -> str:
        """The focused element's name, once its visible focus ring is checked."""
        ring = focus_ring(self.page)
        assert ring is not None, f"the focused element has no :focus-visible on {self.page.url}"
        assert ring.style not in ("none", "hidden"), ring
        assert ring.width >= 1, ring
        assert ring.ratio >= 3, ring
        return ring.element

    def tab_to(self, name: str, back: bool = False) -> None:
        """Tab (Shift+Tab if `back`) until `name` has the focus, checking every stop on the way."""
        stops = []
        for _ in range(30):
            self.keys.press("Shift+Tab" if back else "Tab")
            stops.append(self.focused())
            if stops[-1] == name:
                return
        raise AssertionError(f"Tab never reached {name!r}, only {stops}")

    def type_into(self, field: str, text: str) -> None:
        """Type `text` into the focused field, which must be `field` (an id)."""
        assert self.focused() == field
        self.keys.press("ControlOrMeta+a")
        self.keys.type(text)


def test_the_whole_journey_with_the_keyboard_alone_focus_always_visible(
    site: Site, tenant: Any
) -> None:
    """Sign-up through the tenant's pages (email, code, password, display name), a to-do added,
    edited and deleted, sign-out, and sign-in again: Tab, Shift+Tab, Enter, Space and typing
    only. The code is read through the admin API (reading mail is no keyboard action)."""
    you = site.person()
    page, keys = you.page, Keyboard(you.page)
    email, password = f"keys-{secrets.token_hex(4)}@example.com", f"Kb-{secrets.token_urlsafe(12)}"
    page.goto(you.web.url + "/")

    keys.tab_to("Sign up")
    keys.keys.press("Enter")
    expect(page.locator("form#signup")).to_be_visible()
    keys.type_into("#email", email)
    keys.tab_to("Send code")
    keys.keys.press("Enter")
    expect(page.locator("form#verify")).to_be_visible()
    keys.type_into("#code", "00000000")
    keys.keys.press("Enter")
    expect(page.locator("#error")).to_be_focused()
    assert keys.focused() == "#error"
    keys.tab_to("#code")
    keys.type_into("#code", tenant.admin.latest_code(email))
    keys.keys.press("Enter")
    expect(page.locator("form#set-password")).to_be_visible()
    keys.type_into("#password", password)
    keys.tab_to("#confirm")
    keys.type_into("#confirm", password)
    keys.keys.press("Enter")
    expect(page.locator("form#attributes")).to_be_visible()
    keys.type_into("#name", "Kay Board")
    keys.tab_to("Create account")
    keys.keys.press("Space")
    expect(page.get_by_role("heading", level=1)).to_have_text("Hi Kay Board!")
    you.shot("keyboard-signed-up")

    keys.tab_to("To-do list")
    keys.keys.press("Enter")
    page.wait_for_url(you.web.url + "/todos")
    keys.type_into("#todo-description", "Water plants")
    keys.keys.press("Enter")
    expect(page.locator(".todo-flashes")).to_have_text("Added “Water plants”.")

    keys.tab_to("Edit “Water plants”")
    keys.keys.press("Enter")
    page.wait_for_url(f"{you.web.url}/todos/*/edit")
    keys.type_into("#todo-edit-description", "Water the plants")
    keys.keys.press("Enter")
    expect(page.locator(".todo-flashes")).to_have_text("Saved “Water the plants”.")

    keys.tab_to("Delete “Water the plants”")
    keys.keys.press("Space")
    expect(page.locator(".todo-flashes")).to_have_text("Deleted “Water the plants”.")
    you.shot("keyboard-deleted")

    keys.tab_to("Sign out", back=True)
    keys.keys.press("Enter")
    expect(page.get_by_role("status")).to_have_text("You are signed out.")

    keys.tab_to("Sign in")
    keys.keys.press("Enter")
    expect(page.locator("form#signin")).to_be_visible()
    keys.type_into("#email", email)
    keys.tab_to("#password")
    keys.type_into("#password", password)
    keys.keys.press("Enter")
    expect(page.get_by_role("heading", level=1)).to_have_text("Hi Kay Board!")
    keys.tab_to("To-do list")
    keys.keys.press("Enter")
    expect(page.locator("#todo-empty")).to_be_visible()
    you.shot("keyboard-signed-in-again")
