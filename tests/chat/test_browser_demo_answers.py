"""The emulator's demo answers as a person sees them in the chat: headings, lists, a table,
fenced code and LaTeX rendered, not shown as markup. Screenshots at desktop and phone size,
light and dark, go to $AIPORTAL_TEST_SCREENSHOTS when it names a folder."""

from __future__ import annotations

import os

import pytest
from playwright.sync_api import expect

from tests.chat.test_browser import sign_in
from tests.pages.viewport import resize

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
            resize(page, {"width": width, "height": height})
            page.reload()  # laid out at this size from the start, no drawer mid-transition
            expect(answer).to_have_attribute("data-status", "complete")
            for scheme in ("light", "dark"):
                page.emulate_media(color_scheme=scheme)
                content.locator("h2").scroll_into_view_if_needed()
                page.screenshot(path=f"{SHOTS}/demo-{kind}-{size}-{scheme}.png")


BROKEN_WORDS = """() => {
  // Words of table cells drawn on more than one line: broken in the middle (a break after
  // a hyphen, as in "Trade-offs", is a line break, not a broken word).
  const broken = [];
  for (const cell of document.querySelectorAll(".content th, .content td")) {
    const walker = document.createTreeWalker(cell, NodeFilter.SHOW_TEXT);
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
      for (const match of node.data.matchAll(/[^\\s-]+-?/g)) {
        const range = document.createRange();
        range.setStart(node, match.index);
        range.setEnd(node, match.index + match[0].length);
        if (range.getClientRects().length > 1) broken.push(match[0]);
      }
    }
  }
  return broken;
}"""

COPY_OVER_CODE = """() => {
  // How far the copy button reaches below the top of the code's first line (<= 0: clear).
  const block = document.querySelector(".code-block");
  const button = block.querySelector(".copy-code").getBoundingClientRect();
  const code = block.querySelector("pre code");
  const walker = document.createTreeWalker(code, NodeFilter.SHOW_TEXT);
  const first = walker.nextNode();
  const range = document.createRange();
  range.setStart(first, 0);
  range.setEnd(first, 1);
  return button.bottom - range.getBoundingClientRect().top;
}"""


def test_on_a_phone_table_words_stay_whole_and_the_copy_button_leaves_code_clear(
    page, daphne_url, owner
):
    resize(page, {"width": 390, "height": 844})
    sign_in(page, daphne_url, owner.email)
    for count, (question, _) in enumerate((QUESTIONS["compare"], QUESTIONS["code"]), 1):
        page.get_by_role("textbox", name="Message").fill(question)
        page.get_by_role("textbox", name="Message").press("Enter")
        expect(page.locator(".message.assistant")).to_have_count(count)
        expect(page.locator(".message.assistant").last).to_have_attribute("data-status", "complete")
    expect(page.locator(".content table").first).to_be_visible()
    assert page.evaluate(BROKEN_WORDS) == []
    assert page.evaluate(COPY_OVER_CODE) <= 0
