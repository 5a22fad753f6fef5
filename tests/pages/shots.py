"""Screenshots of a page as a person sees it, on a desktop and a phone, light and dark: saved
to the folder in AIPORTAL_TEST_SCREENSHOTS (to look at by hand), nothing when it is unset."""

from __future__ import annotations

import os

from tests.pages.viewport import resize

SHOTS = os.environ.get("AIPORTAL_TEST_SCREENSHOTS")
SIZES = {"desktop": (1440, 900), "phone": (390, 844)}


def shots(page, name: str, prepare=None) -> None:
    """``prepare``: called after each change of size, before the pictures (to scroll what
    they are of into view again: a phone's layout moves it)."""
    if not SHOTS:
        return
    viewport = page.viewport_size
    for size, (width, height) in SIZES.items():
        resize(page, {"width": width, "height": height})
        if prepare is not None:
            prepare()
        for scheme in ("light", "dark"):
            page.emulate_media(color_scheme=scheme)
            page.screenshot(path=f"{SHOTS}/{name}-{size}-{scheme}.png", full_page=True)
    page.emulate_media(color_scheme="light")
    resize(page, viewport)
