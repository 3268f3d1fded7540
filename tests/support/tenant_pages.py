"""The local tenant's sign-up pages in Chromium (Playwright), as a person goes through them:
email, the code read from the tenant's mailbox page in another tab, password, display name."""

from __future__ import annotations

from collections.abc import Callable

from playwright.sync_api import Page


def code_from_mailbox(page: Page, pages_url: str, email: str) -> str:
    """The newest code mailed to `email`, read in another tab of `page`'s browser context."""
    inbox = page.context.new_page()
    inbox.goto(f"{pages_url}/_mailbox")
    inbox.get_by_role("link", name=email).click()
    code = inbox.locator("#latest-code").inner_text()
    inbox.close()
    return code


def sign_up_in_chromium(
    page: Page,
    pages_url: str,
    email: str,
    password: str,
    name: str,
    shot: Callable[[str], object] | None = None,
) -> None:
    """From the tenant's "Create account" page to the last click ("Create account")."""
    page.get_by_label("Email address").fill(email)
    if shot:
        shot("tenant-sign-up")
    page.get_by_role("button", name="Send code").click()
    page.get_by_label("Code").fill(code_from_mailbox(page, pages_url, email))
    if shot:
        shot("tenant-sign-up-code")
    page.get_by_role("button", name="Verify").click()
    page.get_by_label("New password", exact=True).fill(password)
    page.get_by_label("Confirm new password").fill(password)
    page.get_by_role("button", name="Next").click()
    page.get_by_label("Display name").fill(name)
    page.get_by_role("button", name="Create account").click()
