"""The local tenant's multi-page flows in Chromium (Playwright), as a person goes through them:
sign-up (email, the code read from the tenant's mailbox page in another tab, password, display
name), and the single steps other tests stop between (the accessibility visits)."""

from __future__ import annotations

from collections.abc import Callable

from playwright.sync_api import Page, expect


def code_from_mailbox(page: Page, pages_url: str, email: str) -> str:
    """The newest code mailed to `email`, read in another tab of `page`'s browser context."""
    inbox = page.context.new_page()
    inbox.goto(f"{pages_url}/_mailbox")
    inbox.get_by_role("link", name=email).click()
    code = inbox.locator("#latest-code").inner_text()
    inbox.close()
    return code


def send_code(page: Page, email: str) -> None:
    """On an email page (sign-up, reset, one-time-code sign-in): `email`, then "Send code"."""
    page.get_by_label("Email", exact=False).first.fill(email)
    page.get_by_role("button", name="Send code").click()
    expect(page.locator("form#verify")).to_be_visible()


def enter_code(page: Page, code: str) -> None:
    """On the code page: `code`, then "Verify"."""
    page.get_by_label("Code").fill(code)
    page.get_by_role("button", name="Verify").click()


def set_password(page: Page, password: str, confirm: str | None = None,
                 button: str = "Next") -> None:
    """On a new-password page (sign-up: "Next", reset: "Reset password")."""
    page.get_by_label("New password", exact=True).fill(password)
    page.get_by_label("Confirm new password").fill(password if confirm is None else confirm)
    page.get_by_role("button", name=button).click()


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
    set_password(page, password)
    page.get_by_label("Display name").fill(name)
    page.get_by_role("button", name="Create account").click()
