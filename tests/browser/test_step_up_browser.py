"""Step-up in Chromium: deleting an item from an API that needs a second factor for deletes
(REQUIRE_MFA_FOR_DELETE) takes the person to the tenant's code page, the code comes from the
tenant's mailbox page, and back at the list the item is gone."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import ChromiumPerson
from tests.fixtures.todos import WebServer
from tests.support.tenant_pages import code_from_mailbox


@pytest.fixture(scope="module")
def mfa_web(web_server_factory: Callable[..., WebServer], api_server_factory: Any) -> WebServer:
    api = api_server_factory(REQUIRE_MFA_FOR_DELETE="true")
    return web_server_factory(api.todolist_url)


def test_a_delete_asks_for_the_code_and_is_done_on_return(
    chromium_person: Callable[..., ChromiumPerson], mfa_web: WebServer, tenant: Any
):
    you = chromium_person(mfa_web)
    user = tenant.add_user()
    you.sign_in(user.email, user.password)
    you.open_todos()
    you.add("Sell the car")
    you.add("Buy a bike")
    you.page.get_by_role("button", name="Delete “Sell the car”").click()
    code = you.page.get_by_label("Code")
    expect(code).to_be_visible()
    you.shot("tenant-mfa-code-for-delete")
    code.fill(code_from_mailbox(you.page, tenant.pages_url, user.email))
    you.page.get_by_role("button", name="Verify").click()
    you.page.wait_for_url(mfa_web.url + "/todos")
    expect(you.page.locator(".todo-flashes")).to_contain_text("Deleted “Sell the car”.")
    you.shot("todos-deleted-after-mfa")
    assert you.descriptions() == ["Buy a bike"]
