"""Browser tests: Debian's Chromium driven by Playwright against the running local system.

The local tenant, a ToDoList API of these tests' own (so one test may stop and restart it) and
the web app (`python run.py` against them) run as real processes on free loopback ports; the
browser uses them as a person would. Every page a test visits is saved as a screenshot under
test-artifacts/screenshots/ (git-ignored; CI keeps it as an artifact). The one Chromium of
the session comes from `tests/fixtures/chromium.py`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.fixtures.todos import WebServer

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "test-artifacts" / "screenshots"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if Path(str(item.fspath)).parent == Path(__file__).parent:
            item.add_marker(pytest.mark.browser)


@pytest.fixture(scope="session")
def browser_api(api_server_factory: Callable[..., Any]) -> Any:
    return api_server_factory()


@pytest.fixture
def running_browser_api(browser_api: Any) -> Any:
    """The browser tests' API, started again first if an earlier test left it stopped."""
    if not browser_api.running:
        browser_api.start()
    return browser_api


@pytest.fixture(scope="session")
def browser_web(web_server_factory: Callable[..., WebServer], browser_api: Any) -> WebServer:
    return web_server_factory(browser_api.todolist_url)


def _is_error(msg: Any) -> bool:
    """A console error, except Chromium's note about a page answered with an error status
    (the failure pages are meant to have one)."""
    return msg.type == "error" and not msg.text.startswith(
        "Failed to load resource: the server responded with a status of"
    )


class ChromiumPerson:
    """A person at a browser window (their own cookies), taking screenshots as they go."""

    def __init__(self, browser: Browser, web: WebServer, test_name: str) -> None:
        self.context = browser.new_context(viewport={"width": 1000, "height": 700})
        self.context.set_default_timeout(20_000)
        self.page: Page = self.context.new_page()
        self.web = web
        self.name = re.sub(r"[^A-Za-z0-9_-]+", "-", test_name)
        self.shots = 0
        errors: list[str] = []
        self.page.on("pageerror", lambda exc: errors.append(str(exc)))
        self.page.on("console", lambda msg: errors.append(msg.text) if _is_error(msg) else None)
        self.errors = errors

    def shot(self, label: str) -> Path:
        """Save a screenshot of the page as it is now."""
        self.shots += 1
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / f"{self.name}-{self.shots:02d}-{label}.png"
        self.page.screenshot(path=str(path), full_page=True)
        return path

    def goto(self, path: str, label: str) -> None:
        self.page.goto(self.web.url + path)
        self.shot(label)

    def sign_in(self, email: str, password: str) -> None:
        """From the home page: "Sign in", the tenant's form, back home signed in."""
        page = self.page
        page.goto(self.web.url + "/")
        page.locator("main").get_by_role("link", name="Sign in").click()
        expect(page.locator("form#signin")).to_be_visible()
        self.shot("tenant-sign-in")
        page.locator("#email").fill(email)
        page.locator("#password").fill(password)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url(self.web.url + "/")
        expect(page.get_by_role("heading", level=1)).to_contain_text("Hi ")
        self.shot("home-signed-in")

    def open_todos(self, label: str = "todos") -> None:
        self.page.get_by_role("navigation", name="Main").get_by_role(
            "link", name="To-do list"
        ).click()
        self.page.wait_for_url(self.web.url + "/todos")
        self.shot(label)

    def add(self, text: str) -> None:
        box = self.page.locator("#todo-description")
        box.fill(text)
        box.press("Enter")
        expect(self.page.locator(".todo-flashes")).to_contain_text("Added")
        expect(self.page.locator("#todo-description")).to_be_focused()

    def descriptions(self) -> list[str]:
        return self.page.locator(".todo-description").all_inner_texts()

    def close(self) -> None:
        self.context.close()


@pytest.fixture
def chromium_person(
    chromium: Browser, browser_web: WebServer, running_browser_api: Any,
    request: pytest.FixtureRequest,
) -> Iterator[Callable[..., ChromiumPerson]]:
    """`chromium_person(web=browser_web)`: a new browser window (fresh cookies) on the web app
    (or on `web`, another one); closed afterwards."""
    people: list[ChromiumPerson] = []

    def make(web: WebServer | None = None) -> ChromiumPerson:
        name = f"{request.node.name}-{len(people)}"
        someone = ChromiumPerson(chromium, web or browser_web, name)
        people.append(someone)
        return someone

    yield make
    for someone in people:
        someone.close()
    for someone in people:
        assert someone.errors == [], f"the browser reported errors: {someone.errors}"


def signed_in_at_todos(make: Callable[[], ChromiumPerson], tenant: Any) -> ChromiumPerson:
    """A new user of the tenant, signed in, on the to-do list."""
    you = make()
    user = tenant.add_user()
    you.sign_in(user.email, user.password)
    you.open_todos()
    return you
