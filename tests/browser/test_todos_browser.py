"""The to-do journey in Chromium: sign-up to sign-out, other users, the API going away, HTML
descriptions and the keyboard. Each visited page is saved as a screenshot (see conftest)."""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable
from typing import Any

from playwright.sync_api import expect

from tests.browser.conftest import ChromiumPerson, signed_in_at_todos
from tests.support.tenant_pages import sign_up_in_chromium


def test_journey_sign_up_to_sign_out_and_back(
    chromium_person: Callable[[], ChromiumPerson], tenant: Any
) -> None:
    you = chromium_person()
    page = you.page
    email = f"journey-{secrets.token_hex(4)}@example.com"
    password = "Jn-" + secrets.token_urlsafe(12)  # 3 of 4 character groups, as the tenant asks
    name = "Ada Journey"

    you.goto("/", "home-signed-out")
    page.locator("main").get_by_role("link", name="Sign up").click()
    expect(page.locator("form#signup")).to_be_visible()
    sign_up_in_chromium(page, tenant.pages_url, email, password, name, you.shot)
    page.wait_for_url(you.web.url + "/")
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Hi {name}!")
    you.shot("home-signed-in")

    page.get_by_role("link", name="ID token").first.click()
    page.wait_for_url(you.web.url + "/users/id")
    claims = page.locator("table.claims")

    def claim_row(claim: str):
        return claims.locator("tr", has=page.locator("code", has_text=re.compile(f"^{claim}$")))

    for claim in ("oid", "tid", "name"):
        expect(claim_row(claim)).to_be_visible()
    expect(claim_row("name")).to_contain_text(name)
    expect(claim_row("tid")).to_contain_text(tenant.tenant_id)
    you.shot("claims")

    you.open_todos("todos-empty")
    expect(page.locator("#todo-empty")).to_be_visible()
    expect(page.locator("#todo-count")).to_have_text("0 items")
    expect(page.locator("#todo-description")).to_be_focused()
    for text in ("Pick up groceries", "Finish invoice report", "Water plants"):
        you.add(text)
    expect(page.locator("#todo-count")).to_have_text("3 items")
    you.shot("todos-three")

    page.get_by_role("link", name="Edit “Finish invoice report”").click()
    box = page.locator("#todo-edit-description")
    expect(box).to_have_value("Finish invoice report")
    you.shot("edit")
    box.fill("Send invoice report")
    page.get_by_role("button", name="Save").click()
    page.wait_for_url(you.web.url + "/todos")
    expect(page.locator(".todo-flashes")).to_contain_text("Saved “Send invoice report”.")

    page.get_by_role("button", name="Delete “Water plants”").click()
    expect(page.locator(".todo-flashes")).to_contain_text("Deleted “Water plants”.")
    you.shot("todos-after-edit-delete")

    page.reload()
    expected = ["Pick up groceries", "Send invoice report"]
    assert you.descriptions() == expected
    expect(page.locator("#todo-count")).to_have_text("2 items")

    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(you.web.url + "/")
    expect(page.locator("main").get_by_role("link", name="Sign in")).to_be_visible()
    you.shot("signed-out")
    page.goto(you.web.url + "/todos")
    expect(page.locator("form#signin")).to_be_visible()  # signed out: the tenant asks again

    you.sign_in(email, password)
    you.open_todos("todos-after-sign-in-again")
    assert you.descriptions() == expected


def test_second_user_sees_nothing_of_the_first(
    chromium_person: Callable[[], ChromiumPerson], tenant: Any
) -> None:
    first, second = chromium_person(), chromium_person()
    alice, bob = tenant.add_user(), tenant.add_user()
    first.sign_in(alice.email, alice.password)
    first.open_todos()
    first.add("Alice's secret plan")
    first.shot("first-user-list")
    item_id = first.page.locator(".todo-item").first.get_attribute("data-id")
    assert item_id

    second.sign_in(bob.email, bob.password)
    second.open_todos("second-user-list")
    expect(second.page.locator("#todo-empty")).to_be_visible()
    assert second.descriptions() == []

    statuses = second.page.evaluate(
        """async (id) => {
            const csrf = document.querySelector('meta[name="csrf-token"]').content;
            const headers = {"Content-Type": "application/json", "X-CSRFToken": csrf};
            const url = "/api/todolist/" + id;
            const got = await fetch(url);
            const put = await fetch(url, {method: "PUT", headers,
                                          body: JSON.stringify({description: "Bob was here"})});
            const del = await fetch(url, {method: "DELETE", headers});
            const all = await (await fetch("/api/todolist")).json();
            return [got.status, put.status, del.status, all.length];
        }""",
        item_id,
    )
    assert statuses == [404, 404, 404, 0]
    first.page.reload()
    assert first.descriptions() == ["Alice's secret plan"]


def test_api_stopped_mid_session_keeps_the_text(
    chromium_person: Callable[[], ChromiumPerson], tenant: Any, running_browser_api: Any
) -> None:
    you = signed_in_at_todos(chromium_person, tenant)
    page = you.page
    text = "Book the dentist"
    page.locator("#todo-description").fill(text)
    running_browser_api.stop()
    try:
        page.get_by_role("button", name="Add").click()
        expect(page.locator("#todo-problem")).to_contain_text("The to-do service is unavailable.")
        expect(page.locator("#todo-description")).to_have_value(text)
        you.shot("api-stopped")
    finally:
        running_browser_api.start()
    page.get_by_role("button", name="Add").click()
    expect(page.locator(".todo-flashes")).to_contain_text(f"Added “{text}”.")
    assert you.descriptions() == [text]
    you.shot("api-back")


def test_html_shows_as_text_and_the_keyboard_reaches_everything(
    chromium_person: Callable[[], ChromiumPerson], tenant: Any
) -> None:
    you = signed_in_at_todos(chromium_person, tenant)
    page = you.page
    keys = page.keyboard
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))

    box = page.locator("#todo-description")
    expect(box).to_be_focused()
    keys.press("Enter")  # empty: the browser's own check stops it
    assert box.evaluate("el => el.validity.valueMissing")
    keys.type("   ")
    keys.press("Enter")  # only spaces: todos.js stops it (the API would refuse it too)
    assert box.evaluate("el => el.validationMessage") == "Type a description, not only spaces."
    expect(page.locator("#todo-count")).to_have_text("0 items")
    expect(page.locator(".todo-flashes")).to_have_count(0)
    keys.press("ControlOrMeta+a")
    keys.press("Backspace")

    html_text = '<img src=x onerror="alert(1)"><script>alert(2)</script><b>bold</b>'
    keys.type(html_text)
    keys.press("Enter")
    expect(page.locator(".todo-flashes")).to_contain_text("Added")
    item = page.locator(".todo-description").first
    expect(item).to_have_text(html_text)
    assert page.locator(".todo-description img, .todo-description b, main script").count() == 0
    assert dialogs == []
    you.shot("html-as-text")

    # Add a second item with the keyboard only: the box still has the focus.
    expect(page.locator("#todo-description")).to_be_focused()
    keys.type("Plain item")
    keys.press("Enter")
    expect(page.locator("#todo-count")).to_have_text("2 items")

    def tab_to(name: str) -> None:
        for _ in range(40):
            keys.press("Tab")
            focused = page.evaluate(
                "() => document.activeElement.getAttribute('aria-label') || "
                "document.activeElement.textContent.trim()"
            )
            if focused == name:
                return
        raise AssertionError(f"Tab never reached {name!r}")

    tab_to("Edit “Plain item”")
    keys.press("Enter")
    page.wait_for_url(f"{you.web.url}/todos/*/edit")
    expect(page.locator("#todo-edit-description")).to_be_focused()
    keys.press("ControlOrMeta+a")
    keys.type("Edited by keyboard")
    you.shot("keyboard-edit")
    keys.press("Enter")
    page.wait_for_url(you.web.url + "/todos")
    expect(page.locator(".todo-flashes")).to_contain_text("Saved “Edited by keyboard”.")

    tab_to("Delete “Edited by keyboard”")
    keys.press("Enter")
    expect(page.locator(".todo-flashes")).to_contain_text("Deleted “Edited by keyboard”.")
    assert you.descriptions() == [html_text]
    you.shot("keyboard-done")
