"""Resizing the browser's window in a test, and waiting until the page has the new size.

Playwright's ``set_viewport_size`` returns once Chromium has been told the new size; the page
takes it a moment later. On a busy machine a measurement taken at once (the page's width, a
box) can still see the old layout: one CI run read a phone page as 695 px wide that way."""

from __future__ import annotations

SETTLED = """([width, height]) => window.innerWidth === width && window.innerHeight === height"""


def resize(page, viewport: dict) -> None:
    """Set the window to ``viewport`` ({"width", "height"}) and wait until the page has it."""
    page.set_viewport_size(viewport)
    page.wait_for_function(SETTLED, arg=[viewport["width"], viewport["height"]])
