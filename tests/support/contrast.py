"""The contrast of each text field's outline as Chromium renders it (WCAG 2.2 1.4.11, which axe
does not check): `field_outlines(page)` measures every visible field, `low_contrast_outlines(page)`
returns the ones under `MINIMUM`.

A field's boundary is its border; it must stand out 3:1 against both colours it separates: the
field's own background and what is behind the field. Colours are the computed ones
(getComputedStyle), semi-transparent ones laid over what is under them, the page over white.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from playwright.sync_api import Page

MINIMUM = 3.0
FIELDS = ("input:not([type=hidden]):not([type=checkbox]):not([type=radio])"
          ":not([type=submit]):not([type=button]):not([type=reset]), textarea, select")

RGBA = tuple[float, float, float, float]
WHITE: RGBA = (255.0, 255.0, 255.0, 1.0)

# Per visible field: its name, each side's border (colour, width) and the background colours
# from the field itself up to <html>.
_MEASURE = """(selector) => [...document.querySelectorAll(selector)]
    .filter(el => el.getClientRects().length > 0)
    .map(el => {
        const style = getComputedStyle(el);
        const backgrounds = [];
        for (let node = el; node; node = node.parentElement) {
            backgrounds.push(getComputedStyle(node).backgroundColor);
        }
        return {
            field: el.id ? '#' + el.id : el.tagName.toLowerCase() + '[name=' + el.name + ']',
            sides: ['Top', 'Right', 'Bottom', 'Left'].map(side => [
                style['border' + side + 'Color'], parseFloat(style['border' + side + 'Width'])]),
            backgrounds,
        };
    })"""


@dataclass(frozen=True)
class FieldOutline:
    field: str
    border: str  # the computed colour of the side with the least contrast
    ratio: float  # that side's contrast against the field's or the page's colour, the lower


def parse_colour(css: str) -> RGBA:
    """`rgb(r, g, b)` or `rgba(r, g, b, a)`, as getComputedStyle writes them."""
    numbers = [float(n) for n in re.findall(r"[\d.]+", css)]
    if not css.startswith("rgb") or len(numbers) not in (3, 4):
        raise ValueError(f"not a computed rgb() colour: {css!r}")
    return (numbers[0], numbers[1], numbers[2], numbers[3] if len(numbers) == 4 else 1.0)


def over(top: RGBA, below: RGBA) -> RGBA:
    """`top` laid over the opaque colour `below`."""
    alpha = top[3]
    r, g, b = (top[i] * alpha + below[i] * (1 - alpha) for i in range(3))
    return (r, g, b, 1.0)


def luminance(colour: RGBA) -> float:
    """WCAG's relative luminance of an opaque sRGB colour."""
    def linear(channel: float) -> float:
        c = channel / 255
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (linear(colour[i]) for i in range(3))
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(a: RGBA, b: RGBA) -> float:
    """WCAG's contrast ratio of two opaque colours, from 1 to 21."""
    light, dark = sorted((luminance(a), luminance(b)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


def flatten(backgrounds: list[str]) -> RGBA:
    """The colour seen through background colours listed from the innermost element out to
    <html>, the page itself over white."""
    seen = WHITE
    for css in reversed(backgrounds):
        seen = over(parse_colour(css), seen)
    return seen


def _outline(measured: dict) -> FieldOutline:
    behind = flatten(measured["backgrounds"][1:])
    inside = flatten(measured["backgrounds"])
    sides = [(css, width) for css, width in measured["sides"] if width > 0]
    if not sides:  # no border: the field's own colour against the page's is its boundary
        return FieldOutline(measured["field"], "none", contrast(inside, behind))
    ratios = [(min(contrast(over(parse_colour(css), inside), inside),
                   contrast(over(parse_colour(css), behind), behind)), css)
              for css, _ in sides]
    ratio, css = min(ratios)
    return FieldOutline(measured["field"], css, ratio)


def field_outlines(page: Page) -> list[FieldOutline]:
    """Every visible text field of `page` with the contrast of its outline."""
    return [_outline(measured) for measured in page.evaluate(_MEASURE, FIELDS)]


def low_contrast_outlines(page: Page) -> list[FieldOutline]:
    """The fields of `page` whose outline is under 3:1."""
    return [outline for outline in field_outlines(page) if outline.ratio < MINIMUM]


_FOCUS = """() => {
    const el = document.activeElement;
    if (!el || el === document.body || !el.matches(':focus-visible')) return null;
    const style = getComputedStyle(el);
    const backgrounds = [];
    for (let node = el.parentElement; node; node = node.parentElement) {
        backgrounds.push(getComputedStyle(node).backgroundColor);
    }
    return {field: el.id ? '#' + el.id : (el.getAttribute('aria-label') || el.textContent.trim()),
            style: style.outlineStyle, width: parseFloat(style.outlineWidth),
            colour: style.outlineColor, backgrounds};
}"""


@dataclass(frozen=True)
class FocusRing:
    element: str  # its id, accessible label or text
    style: str
    width: float
    ratio: float  # the outline's contrast against what is behind the focused element


def focus_ring(page: Page) -> FocusRing | None:
    """The outline of the focused element if it matches `:focus-visible`, else None."""
    found = page.evaluate(_FOCUS)
    if found is None:
        return None
    behind = flatten(found["backgrounds"])
    ratio = contrast(over(parse_colour(found["colour"]), behind), behind)
    return FocusRing(found["field"], found["style"], found["width"], ratio)
