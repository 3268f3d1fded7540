"""`assert_accessible(page, name)`: axe-core's WCAG 2.2 A and AA rules over a Playwright page.

axe-core's own script comes inside the `axe-playwright-python` package (no download at run
time); it is put into the page as it is now and run there, so call this once the page shows
what is to be checked (an alert, an error, a phone-sized layout). A failure lists each
violation as rule, impact, the elements (CSS selectors) and axe's help text, with a link.

What axe cannot judge (a text field's outline against its background, visible focus, using a
page with the keyboard alone) is checked by tests of its own (tests/browser/
test_accessibility.py).
"""

from __future__ import annotations

from typing import Any

from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Page

# The WCAG 2.2 A and AA success criteria as axe-core tags them (each version's new criteria
# carry that version's tag; 2.2 added no level-A criterion that axe can test).
WCAG_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]

_AXE = Axe()


def violations(page: Page) -> list[dict[str, Any]]:
    """axe-core's violations of `WCAG_TAGS` on `page` as it is now."""
    options = {"runOnly": {"type": "tag", "values": WCAG_TAGS}, "resultTypes": ["violations"]}
    return list(_AXE.run(page, options=options).response["violations"])


def describe(found: list[dict[str, Any]]) -> str:
    """One paragraph per violation: rule (impact), help, link, then each element and why."""
    lines: list[str] = []
    for violation in found:
        lines.append(
            f"- {violation['id']} ({violation['impact']}): {violation['help']} "
            f"<{violation['helpUrl']}>"
        )
        for node in violation["nodes"]:
            target = " ".join(str(part) for part in node["target"])
            lines.append(f"    {target}: {node.get('failureSummary', '').strip()}".replace(
                "\n", " "))
    return "\n".join(lines)


def assert_accessible(page: Page, name: str) -> None:
    """Fail, naming the page and every violation, unless axe finds none on `page`."""
    found = violations(page)
    assert not found, f"{name} ({page.url}): {len(found)} accessibility violation(s)\n" + (
        describe(found)
    )
