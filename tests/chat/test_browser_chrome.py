"""The chat's frame in Chromium: the header's Download menu and its phone menu, LaTeX on share
pages, keyboard shortcuts and their dialog, the sidebar list as one Tab stop with arrows,
text contrast (WCAG AA) in both themes, and phone tap targets."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import expect

from chat import services
from chat.models import Message
from tests.chat.test_browser import sign_in
from tests.pages.viewport import resize

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("transactional_db")]

PHONE = {"width": 390, "height": 844}
SHOTS = Path("/tmp/shots/h16-chrome")


def conversation_with(owner, title: str, answer: str = "An answer.", *, second: str = ""):
    conversation = services.conversation_create(user=owner, title=title)
    question, reply = services.message_create_turn(
        conversation=conversation, parent=None, content=f"About {title}", model=""
    )
    services.message_finish(message_id=reply.pk, content=answer, last_seq=1, status="complete")
    if second:  # a regenerated answer: the two are versions, with Previous and Next between them
        Message.objects.create(
            conversation=conversation,
            parent=question,
            role=Message.Role.ASSISTANT,
            status=Message.Status.COMPLETE,
            content=second,
        )
    return conversation


def shot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"))


# --- Item 3: LaTeX on a share page ---------------------------------------------------------


def test_a_share_page_typesets_latex_like_the_chat(page, daphne_url, owner):
    conversation = conversation_with(
        owner, "Maths", "Euler: $e^{i\\pi} + 1 = 0$\n\n$$\n\\frac{1}{3}\n$$"
    )
    token = services.conversation_share_create(user=owner, id=conversation.pk)
    page.goto(f"{daphne_url}/s/{token}/")
    content = page.locator(".message.assistant .content")
    expect(content.locator("math")).to_have_count(2)
    expect(content.locator(".math-display math mfrac")).to_have_count(1)
    assert "\\frac" not in content.inner_text()
    shot(page, "desktop-light-share-latex")


# --- Item 7: the header ----------------------------------------------------------------------


def test_downloads_are_one_menu_that_says_what_it_downloads(page, daphne_url, owner):
    conversation = conversation_with(owner, "Export me")
    sign_in(page, daphne_url, owner.email)
    page.goto(f"{daphne_url}/c/{conversation.pk}/")
    markdown = page.get_by_role("link", name="Markdown (.md)")
    expect(markdown).to_be_hidden()
    page.locator("#export-menu summary").click()
    expect(page.locator("#export-menu summary")).to_have_accessible_name(
        "Download this conversation"
    )
    expect(markdown).to_be_visible()
    expect(page.get_by_role("link", name="JSON (.json)")).to_be_visible()
    shot(page, "desktop-download-menu")
    with page.expect_download() as download:
        markdown.click()
    assert download.value.suggested_filename == f"export-me-{conversation.pk}.md"
    expect(markdown).to_be_hidden()  # the menu closed behind the download
    page.locator("#export-menu summary").click()
    page.keyboard.press("Escape")
    expect(markdown).to_be_hidden()


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_on_a_phone_the_title_keeps_the_width_and_the_controls_fold_into_a_menu(
    page, daphne_url, owner, scheme
):
    page.emulate_media(color_scheme=scheme)
    conversation = conversation_with(owner, "Markdown tables on a small phone screen")
    resize(page, PHONE)
    sign_in(page, daphne_url, owner.email)
    page.goto(f"{daphne_url}/c/{conversation.pk}/")
    header = page.locator(".chat-header").bounding_box()
    title = page.locator("#chat-title").bounding_box()
    assert header and title
    assert title["width"] >= 0.6 * header["width"]
    assert header["height"] < 70  # one line, not wrapped
    share = page.get_by_role("button", name="Share", exact=True)
    expect(share).to_be_hidden()
    expect(page.locator("#model-picker")).to_be_hidden()
    more = page.get_by_role("button", name="More: share, download, model")
    more.click()
    expect(more).to_have_attribute("aria-expanded", "true")
    expect(share).to_be_visible()
    expect(page.locator("#model-picker")).to_be_visible()
    page.locator("#export-menu summary").click()
    expect(page.get_by_role("link", name="JSON (.json)")).to_be_visible()
    shot(page, f"phone-{scheme}-header-menu")
    page.keyboard.press("Escape")  # the Download menu
    page.keyboard.press("Escape")  # the ⋯ menu
    expect(share).to_be_hidden()
    expect(more).to_be_focused()
    shot(page, f"phone-{scheme}-header")


# --- Item 9: keyboard ------------------------------------------------------------------------


def focused_id(page) -> str:
    return page.evaluate("() => document.activeElement.closest('li')?.dataset.id || ''")


def test_the_sidebar_list_is_one_tab_stop_and_arrows_move_in_it(page, daphne_url, owner):
    first = conversation_with(owner, "First")
    second = conversation_with(owner, "Second")
    third = conversation_with(owner, "Third")
    sign_in(page, daphne_url, owner.email)
    page.get_by_role("searchbox", name="Search conversations").focus()
    page.keyboard.press("Tab")
    assert focused_id(page) == str(third.pk)  # the newest, at the top
    page.keyboard.press("Tab")  # out of the list at once, not through 12 stops
    assert page.evaluate(
        "() => !document.getElementById('conversation-list').contains(document.activeElement)"
    )
    page.keyboard.press("Shift+Tab")
    assert focused_id(page) == str(third.pk)
    page.keyboard.press("ArrowDown")
    assert focused_id(page) == str(second.pk)
    page.keyboard.press("End")
    assert focused_id(page) == str(first.pk)
    page.keyboard.press("ArrowUp")
    assert focused_id(page) == str(second.pk)
    page.keyboard.press("ArrowRight")
    expect(page.get_by_role("button", name="Rename “Second”")).to_be_focused()
    page.keyboard.press("ArrowRight")
    expect(page.get_by_role("button", name="Pin “Second”")).to_be_focused()
    shot(page, "desktop-light-sidebar-keyboard")
    page.keyboard.press("ArrowLeft")
    page.keyboard.press("ArrowLeft")
    assert page.evaluate("() => document.activeElement.matches('li > a')")
    # The Tab stop stays where the arrows left it.
    page.get_by_role("searchbox", name="Search conversations").focus()
    page.keyboard.press("Tab")
    assert focused_id(page) == str(second.pk)
    page.keyboard.press("F2")
    expect(page.get_by_role("textbox", name="New title")).to_be_focused()


def test_shortcuts_work_and_are_listed_in_a_dialog(page, daphne_url, owner):
    conversation = conversation_with(owner, "Shortcuts", "The **last** answer.")
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=daphne_url)
    sign_in(page, daphne_url, owner.email)
    page.goto(f"{daphne_url}/c/{conversation.pk}/")
    dialog = page.get_by_role("dialog", name="Keyboard shortcuts")

    page.keyboard.press("Control+/")
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text("New chat")
    shot(page, "desktop-shortcuts-dialog")
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    page.locator("#messages").click()  # out of the message box: "?" is not typed text
    page.keyboard.press("?")
    expect(dialog).to_be_visible()
    page.keyboard.press("Escape")
    page.get_by_role("textbox", name="Message").focus()
    page.keyboard.press("?")
    expect(dialog).to_be_hidden()  # typed, not a shortcut
    expect(page.get_by_role("textbox", name="Message")).to_have_value("?")

    page.keyboard.press("Control+k")
    expect(page.get_by_role("searchbox", name="Search conversations")).to_be_focused()
    page.keyboard.press("Shift+Escape")
    expect(page.get_by_role("textbox", name="Message")).to_be_focused()

    sidebar = page.get_by_role("navigation", name="Conversations")
    page.keyboard.press("Control+Shift+S")
    expect(sidebar).to_be_hidden()
    page.reload()
    expect(sidebar).to_be_hidden()  # remembered
    page.get_by_role("button", name="Show the conversation list").click()
    expect(sidebar).to_be_visible()
    page.keyboard.press("Control+Shift+S")
    expect(sidebar).to_be_hidden()
    page.keyboard.press("Control+Shift+S")
    expect(sidebar).to_be_visible()

    page.keyboard.press("Control+Shift+C")
    expect(page.locator("#shortcut-status")).to_have_text("Copied the last answer.")
    assert page.evaluate("() => navigator.clipboard.readText()") == "The last answer."

    page.keyboard.press("Control+Shift+O")
    expect(page).to_have_url(f"{daphne_url}/")
    expect(page.locator("#chat-title")).to_have_text("New chat")


# --- Item 10: contrast and tap targets ---------------------------------------------------------

CONTRAST = """() => {
  function rgb(text) {
    const [r, g, b, a = 1] = text.match(/[\\d.]+/g).map(Number);
    return { r, g, b, a };
  }
  function luminance({ r, g, b }) {
    const c = [r, g, b].map((v) => {
      v /= 255;
      return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4;
    });
    return 0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2];
  }
  function background(el) {
    for (let node = el; node; node = node.parentElement) {
      const color = rgb(getComputedStyle(node).backgroundColor);
      if (color.a > 0.5) return color;
    }
    return rgb(getComputedStyle(document.body).backgroundColor);
  }
  function ratio(fg, bg) {
    const [hi, lo] = [luminance(fg), luminance(bg)].sort((x, y) => y - x);
    return Math.round(((hi + 0.05) / (lo + 0.05)) * 100) / 100;
  }
  const checks = {
    "sidebar link": "#conversation-list a",
    "group heading": ".conversation-group h2",
    "account link": ".account a",
    "account email": ".account .who",
    "code comment": ".content .hljs-comment",
    "message tool": ".message-tools button",
    "details": ".answer-details summary",
    "system prompt": ".conversation-settings summary",
    "status": "#socket-status",
  };
  const out = {};
  for (const [name, selector] of Object.entries(checks)) {
    const el = document.querySelector(selector);
    out[name] = el ? ratio(rgb(getComputedStyle(el).color), background(el)) : null;
  }
  for (const id of ["conversation-search", "composer-input"]) {
    const el = document.getElementById(id);
    const placeholder = rgb(getComputedStyle(el, "::placeholder").color);
    out[`placeholder ${id}`] = ratio(placeholder, background(el));
  }
  return out;
}"""


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_text_reaches_wcag_aa_contrast(page, daphne_url, owner, scheme):
    page.emulate_media(color_scheme=scheme)
    conversation = conversation_with(
        owner, "Contrast", "```python\n# a comment to read\nx = 1\n```"
    )
    sign_in(page, daphne_url, owner.email)
    page.goto(f"{daphne_url}/c/{conversation.pk}/")
    expect(page.locator(".content .hljs-comment")).to_be_visible()
    resize(page, {"width": 1440, "height": 900})
    shot(page, f"desktop-{scheme}")
    ratios = page.evaluate(CONTRAST)
    assert None not in ratios.values(), ratios
    low = {name: value for name, value in ratios.items() if value < 4.5}
    assert low == {}, ratios


TAP_TARGETS = """() => [...document.querySelectorAll(
  "#sidebar-open, #header-menu-toggle, .message-tools button, .branches button, " +
  ".answer-details summary"
)].filter((el) => el.offsetParent !== null).map((el) => {
  const box = el.getBoundingClientRect();
  const name = el.getAttribute("aria-label") || el.textContent;
  return [name, Math.round(box.width), Math.round(box.height)];
})"""

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


def test_on_a_phone_tap_targets_are_44_pixels_and_copy_code_leaves_the_code_clear(
    page, daphne_url, owner
):
    conversation = conversation_with(
        owner, "Taps", "Second version.", second="```python\nprint('first line')\n```"
    )
    resize(page, PHONE)
    sign_in(page, daphne_url, owner.email)
    page.goto(f"{daphne_url}/c/{conversation.pk}/")
    expect(page.locator(".branches")).to_be_visible()
    targets = page.evaluate(TAP_TARGETS)
    names = {name for name, _, _ in targets}
    assert {"Previous version", "Next version", "Copy message", "Details"} <= names, names
    assert {"Regenerate the answer", "Edit message", "Show the conversation list"} <= names
    small = [t for t in targets if t[1] < 44 or t[2] < 44]
    assert small == [], small
    if not page.locator(".code-block").count():
        page.get_by_role("button", name="Previous version").click()
    expect(page.locator(".code-block")).to_be_visible()
    assert page.evaluate(COPY_OVER_CODE) <= 0
    copy = page.get_by_role("button", name="Copy code").bounding_box()
    assert copy and copy["width"] >= 44 and copy["height"] >= 44
    shot(page, "phone-light-taps")
    page.get_by_role("button", name="Show the conversation list").click()
    expect(page.get_by_role("searchbox", name="Search conversations")).to_be_focused()
    page.wait_for_timeout(300)  # the drawer's slide
    for name in ("Close the conversation list", "Rename “Taps”", "Delete “Taps”"):
        box = page.get_by_role("button", name=name).first.bounding_box()
        assert box and box["width"] >= 44 and box["height"] >= 44, (name, box)
    shot(page, "phone-light-drawer")
