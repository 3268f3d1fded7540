""""Sign out everywhere" with two real Chromium windows signed in as one user, for the file
store and for Redis: the other window is signed out on its next request, every stored session
and token cache of the user is gone, and the tenant no longer signs either window in silently.
The profile page's edit is checked on the way (its screenshot is the README's)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from cachelib.file import FileSystemCache
from playwright.sync_api import Browser, expect

from tests.browser.conftest import SCREENSHOTS
from tests.fixtures.todos import WebServer


class Window:
    """One Chromium context (its own cookies) on the web app."""

    def __init__(self, browser: Browser, web: WebServer) -> None:
        self.context = browser.new_context(viewport={"width": 1000, "height": 700})
        self.context.set_default_timeout(20_000)
        self.page = self.context.new_page()
        self.web = web

    def sign_in(self, email: str, password: str) -> None:
        page = self.page
        page.goto(self.web.url + "/")
        page.locator("main").get_by_role("link", name="Sign in").click()
        page.locator("#email").fill(email)
        page.locator("#password").fill(password)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url(self.web.url + "/")
        expect(page.get_by_role("heading", level=1)).to_contain_text("Hi ")

    def cookie(self) -> str | None:
        return next((c["value"] for c in self.context.cookies() if c["name"] == "todo_session"),
                    None)


def stored(web: WebServer, redis_client: Any, sids: list[str | None]) -> tuple[int, int]:
    """(how many of the sessions `sids` the store holds, how many token caches it holds)."""
    if redis_client is not None:
        sessions = sum(bool(redis_client.exists(f"todo_session:{sid}")) for sid in sids)
        tokens = [k for k in redis_client.keys("todo_tokens:*") if not k.endswith(b":lock")]
        return sessions, len(tokens)
    instance = Path(web.env["INSTANCE_DIR"])
    files = FileSystemCache(str(instance / "sessions"))
    names = [files._get_filename(f"todo_session:{sid}") for sid in sids]
    return sum(Path(n).exists() for n in names), len(list((instance / "tokens").glob("*.json")))


@pytest.fixture(params=["files", pytest.param("redis", marks=pytest.mark.redis)])
def store(request: pytest.FixtureRequest, web_server_factory: Any, browser_api: Any) -> Any:
    if request.param == "files":
        return web_server_factory(browser_api.todolist_url), None
    import redis

    url = request.getfixturevalue("redis_url")
    client = redis.Redis.from_url(url)
    client.flushdb()
    return web_server_factory(browser_api.todolist_url, REDIS_URL=url), client


def test_sign_out_everywhere_signs_the_other_browser_out(
    store: Any, chromium: Browser, tenant: Any
) -> None:
    web, redis_client = store
    user = tenant.add_user()
    phone, laptop = Window(chromium, web), Window(chromium, web)
    try:
        for window in (phone, laptop):
            window.sign_in(user.email, user.password)
        assert phone.cookie() != laptop.cookie()
        sids = [phone.cookie(), laptop.cookie()]
        assert stored(web, redis_client, sids) == (2, 2)

        page = laptop.page
        page.get_by_role("navigation", name="Main").get_by_role("link", name="Profile").click()
        page.wait_for_url(web.url + "/profile")
        page.locator("#profile-city").fill("Lisbon")
        page.get_by_role("button", name="Save").click()
        expect(page.get_by_role("status")).to_contain_text("Your profile is saved.")
        expect(page.locator("#profile-city")).to_have_value("Lisbon")
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / "profile.png"), full_page=True)

        page.get_by_role("button", name="Sign out everywhere").click()
        page.wait_for_url(web.url + "/")
        expect(page.get_by_role("status")).to_have_text("You are signed out.")
        # Deleted in the store at once, not when the other browser comes back.
        assert stored(web, redis_client, sids) == (0, 0)

        phone.page.goto(web.url + "/users/id")  # the other browser's next request
        phone.page.wait_for_url(lambda url: "/users/id" not in url)
        expect(phone.page.locator("form#signin")).to_be_visible()  # no SSO at the tenant
        assert stored(web, redis_client, sids) == (0, 0)
        for window in (phone, laptop):
            window.page.goto(web.url + "/")
            expect(window.page.locator("main").get_by_role("link", name="Sign in")).to_be_visible()
    finally:
        phone.context.close()
        laptop.context.close()
