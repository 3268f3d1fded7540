"""The pages in Chromium: long words wrap, too long a text is refused in words (not cut), the
API-down alert says it once and offers to try again, a deletion names its item, signing out
says so, and the ID-token table fits a phone. Each visited page is saved as a screenshot."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from playwright.sync_api import Page, expect

from tests.browser.conftest import ChromiumPerson, signed_in_at_todos

PHONE = {"width": 390, "height": 844}


def overflow(page: Page) -> dict[str, int]:
    """How far the document reaches past the viewport, and each table's wrapper past itself."""
    return page.evaluate(
        """() => ({
            document: document.documentElement.scrollWidth - window.innerWidth,
            tables: Math.max(0, ...[...document.querySelectorAll('.table-wrap')]
                .map(w => w.scrollWidth - w.clientWidth)),
        })"""
    )


def test_a_long_word_wraps_and_too_long_a_text_is_refused_in_words(
    chromium_person: Callable[[], ChromiumPerson], tenant: Any
) -> None:
    you = signed_in_at_todos(chromium_person, tenant)
    page = you.page
    word = "Supercalifragilistic" * 25  # 500 characters, no place to break
    you.add(word)
    expect(page.locator(".todo-flashes")).to_contain_text(f"Added “{word}”.")
    you.shot("long-word-added")
    assert overflow(page) == {"document": 0, "tables": 0}

    too_long = "x" * 501
    box = page.locator("#todo-description")
    box.fill(too_long)
    expect(page.locator("#todo-description-hint")).to_have_text("1 character too many.")
    page.get_by_role("button", name="Add").click()
    expect(page.locator("#todo-description-error")).to_have_text(
        "Type a description of up to 500 characters; this one has 501."
    )
    expect(box).to_have_value(too_long)  # not cut, not lost
    you.shot("too-long-refused")
    assert you.descriptions() == [word]


def test_the_api_down_alert_says_it_once_and_try_again_works(
    chromium_person: Callable[[], ChromiumPerson], tenant: Any, running_browser_api: Any
) -> None:
    you = signed_in_at_todos(chromium_person, tenant)
    page = you.page
    running_browser_api.stop()
    try:
        page.reload()
        alert = page.locator("#todo-problem")
        expect(alert).to_have_text(
            "The to-do service is unavailable. It cannot be reached right now. Please try "
            "again in a moment. Try again"
        )
        you.shot("api-down-page")
        page.locator("#todo-description").fill("Call the plumber")
        page.get_by_role("button", name="Add").click()
        expect(alert).to_contain_text("The to-do service is unavailable.")
        expect(page.locator("#todo-description")).to_have_value("Call the plumber")
    finally:
        running_browser_api.start()
    # "Try again" sends the kept text once more.
    alert.get_by_role("button", name="Try again").click()
    expect(page.locator(".todo-flashes")).to_contain_text("Added “Call the plumber”.")
    assert you.descriptions() == ["Call the plumber"]
    you.shot("api-back-after-try-again")


def test_a_deletion_names_the_item(
    chromium_person: Callable[[], ChromiumPerson], tenant: Any
) -> None:
    you = signed_in_at_todos(chromium_person, tenant)
    page = you.page
    you.add("Water plants")
    page.get_by_role("button", name="Delete “Water plants”").click()
    expect(page.locator(".todo-flashes")).to_have_text("Deleted “Water plants”.")
    you.shot("deleted-named")


def test_signing_out_lands_on_a_page_that_says_so(
    chromium_person: Callable[[], ChromiumPerson], tenant: Any
) -> None:
    you = chromium_person()
    user = tenant.add_user()
    you.sign_in(user.email, user.password)
    page = you.page
    # The form's POST is answered by a redirect to the tenant: the CSP's form-action allows it.
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(you.web.url + "/")
    expect(page.get_by_role("status")).to_have_text("You are signed out.")
    you.shot("signed-out")
    page.reload()
    expect(page.get_by_text("You are signed out.")).to_have_count(0)  # said once


def test_the_id_token_table_fits_a_phone_and_breaks_only_what_must_break(
    chromium_person: Callable[[], ChromiumPerson], tenant: Any
) -> None:
    you = chromium_person()
    user = tenant.add_user(name="Ada Augusta King Countess of Lovelace")
    you.sign_in(user.email, user.password)
    page = you.page
    page.set_viewport_size(PHONE)
    you.goto("/users/id", "claims-on-a-phone")
    assert overflow(page) == {"document": 0, "tables": 0}
    # A value's word (a GUID, an address, a name's word) that the phone has room for stays on
    # one line; only longer ones (nonces, opaque tokens) break, and nothing reaches past.
    broken = page.evaluate(
        """() => {
            const broken = [];
            for (const cell of document.querySelectorAll('table.claims td')) {
                const style = getComputedStyle(cell);
                const room = document.querySelector('.table-wrap').clientWidth
                    - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight);
                const text = cell.firstChild;
                if (!text) continue;
                const re = /\\S+/g;
                let m;
                while ((m = re.exec(text.data)) !== null) {
                    const range = document.createRange();
                    range.setStart(text, m.index);
                    range.setEnd(text, m.index + m[0].length);
                    const rects = [...range.getClientRects()].filter(r => r.width > 0);
                    const width = rects.reduce((sum, r) => sum + r.width, 0);
                    if (rects.length > 1 && width <= room) broken.push(m[0]);
                }
            }
            return broken;
        }"""
    )
    assert broken == []
    expect(page.locator("table.claims")).to_contain_text("Countess of Lovelace")
