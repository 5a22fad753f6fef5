"""The emulator's demo answers as a person sees them in the chat: headings, lists, a table,
fenced code and LaTeX rendered, not shown as markup. Screenshots at desktop and phone size,
light and dark, go to $AIPORTAL_TEST_SCREENSHOTS when it names a folder."""

from __future__ import annotations

import os

import pytest
from playwright.sync_api import expect

from tests.chat.test_browser import sign_in

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("transactional_db")]

SHOTS = os.environ.get("AIPORTAL_TEST_SCREENSHOTS")  # a folder: look at the pages by hand
SIZES = {"desktop": (1440, 900), "phone": (390, 844)}
QUESTIONS = {
    "compare": ("Compare PostgreSQL vs SQLite for a small web app", "table"),
    "code": ("Write a Python function that parses CSV files", "pre code"),
    "maths": ("What is the formula for the variance of a sample?", ".math-display math"),
}


@pytest.mark.parametrize("kind", list(QUESTIONS))
def test_a_demo_answer_renders_as_markdown(page, daphne_url, owner, kind):
    question, element = QUESTIONS[kind]
    sign_in(page, daphne_url, owner.email)
    page.get_by_role("textbox", name="Message").fill(question)
    page.get_by_role("textbox", name="Message").press("Enter")
    answer = page.locator(".message.assistant")
    expect(answer).to_have_attribute("data-status", "complete")

    content = answer.locator(".content")
    expect(content.locator("h2")).to_have_count(1)
    expect(content.locator(element).first).to_be_visible()
    assert "**" not in content.inner_text()  # emphasis rendered, not shown
    assert "$$" not in content.inner_text() and "```" not in content.inner_text()
    if SHOTS:
        for size, (width, height) in SIZES.items():
            page.set_viewport_size({"width": width, "height": height})
            page.reload()  # laid out at this size from the start, no drawer mid-transition
            expect(answer).to_have_attribute("data-status", "complete")
            for scheme in ("light", "dark"):
                page.emulate_media(color_scheme=scheme)
                content.locator("h2").scroll_into_view_if_needed()
                page.screenshot(path=f"{SHOTS}/demo-{kind}-{size}-{scheme}.png")
