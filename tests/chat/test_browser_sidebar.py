"""The sidebar and the header controls, in headless Chromium against a real Daphne: the
grouped list and its lazy pages, search, rename, pin, delete with undo, share links, exports,
the theme, the phone drawer, and titles that cannot attack."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from chat import services
from chat.models import Conversation
from tests.chat.test_browser import sign_in
from tests.conftest import _database_url, start_daphne
from tests.pages.viewport import resize

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("transactional_db")]

XSS_TITLE = '<img src=x onerror="window.__xss=1"><script>window.__xss=2</script>'


def conversation_with(owner, title: str, question: str = "Hello", *, days_ago: float = 0):
    conversation = services.conversation_create(user=owner, title=title)
    _, answer = services.message_create_turn(
        conversation=conversation, parent=None, content=question, model=""
    )
    services.message_finish(
        message_id=answer.pk, content=f"An answer about {title}", last_seq=1, status="complete"
    )
    if days_ago:
        Conversation.objects.filter(pk=conversation.pk).update(
            updated_at=timezone.now() - timedelta(days=days_ago)
        )
    return conversation


@pytest.fixture(scope="module")
def titled_daphne_url(django_db_setup, django_db_blocker, emulator_url):
    """A Daphne like ``daphne_url`` but with generated titles on (the shared one has them
    off, so that other tests see the first-line title for sure)."""
    with django_db_blocker.unblock():
        database_url = _database_url()
    process, url = start_daphne(
        {
            "DATABASE_URL": database_url,
            "AIPORTAL_WORKERS": f"{emulator_url}@test-a",
            "AIPORTAL_CHAT_TITLES": "true",
        }
    )
    yield url
    process.stop()


def item(page, title: str):
    return page.locator("#conversation-list li.conversation-item", has_text=title)


def test_the_list_is_grouped_by_day_with_pinned_first_and_loads_more_on_scroll(
    page, daphne_url, owner
):
    for i in range(60):
        conversation_with(owner, f"Old {i:02}", days_ago=40 + i / 100)
    conversation_with(owner, "From today")
    conversation_with(owner, "From yesterday", days_ago=1)
    conversation_with(owner, "From this week", days_ago=3)
    pinned = conversation_with(owner, "Pinned one", days_ago=90)
    Conversation.objects.filter(pk=pinned.pk).update(pinned=True)

    sign_in(page, daphne_url, owner.email)
    headings = page.locator("#conversation-list .conversation-group h2")
    expect(headings.first).to_have_text("Pinned")
    assert headings.all_text_contents()[:4] == ["Pinned", "Today", "Yesterday", "Previous 7 days"]
    expect(page.locator("#conversation-list li.conversation-item")).to_have_count(51)
    # Scrolling to the end loads the next page.
    page.locator("#load-more").scroll_into_view_if_needed()
    expect(page.locator("#conversation-list li.conversation-item")).to_have_count(64)
    expect(page.locator("#load-more")).to_be_hidden()
    expect(item(page, "Old 59")).to_be_visible()


def test_search_finds_a_conversation_by_its_message_text(page, daphne_url, owner, outsider):
    conversation_with(owner, "Groceries", "Remember the saffron for the paella")
    conversation_with(owner, "Work", "Quarterly numbers")
    conversation_with(outsider, "Not mine", "saffron saffron")
    sign_in(page, daphne_url, owner.email)

    page.get_by_role("searchbox", name="Search conversations").press_sequentially("saffron")
    results = page.locator("#search-results li")
    expect(results).to_have_count(1)
    expect(results.first.locator(".conversation-title")).to_have_text("Groceries")
    expect(results.first.locator(".conversation-snippet")).to_contain_text("saffron")
    expect(page.locator("#sidebar-status")).to_have_text("1 found.")
    page.get_by_role("searchbox", name="Search conversations").fill("nothing like it")
    expect(page.locator("#sidebar-status")).to_have_text("No conversation matches.")
    page.get_by_role("searchbox", name="Search conversations").fill("saffron")
    results.first.locator("a").click()
    expect(page.locator(".message.user .content")).to_have_text(
        "Remember the saffron for the paella"
    )


def test_the_first_answer_retitles_the_new_chat_and_brings_its_controls(
    page, titled_daphne_url, owner
):
    sign_in(page, titled_daphne_url, owner.email)
    expect(page.locator("#conversation-actions")).to_be_hidden()
    page.get_by_role("textbox", name="Message").fill("Tell me about the winters on Mars")
    page.get_by_role("textbox", name="Message").press("Enter")
    expect(page.locator(".message.assistant")).to_have_attribute("data-status", "complete")
    # The emulator's demo answer to the chat's title prompt: a few words about the question.
    expect(page.locator("#chat-title")).to_contain_text("Winters on Mars")
    current = page.locator("#conversation-list a[aria-current=page]")
    expect(current).to_contain_text("Winters on Mars")
    expect(page).to_have_title(re.compile(r"Winters on Mars.* · aiportal$"))
    conversation = Conversation.objects.get(owner=owner)
    expect(page.locator("#export-md")).to_have_attribute("href", f"/c/{conversation.pk}/export.md")
    expect(page.get_by_role("button", name="Share")).to_be_visible()
    page.reload()
    expect(page.locator("#chat-title")).to_have_text(conversation.title)


def test_rename_from_the_sidebar_updates_the_header_and_other_tabs(page, daphne_url, owner):
    sign_in(page, daphne_url, owner.email)
    page.get_by_role("textbox", name="Message").fill("Name me later")
    page.get_by_role("textbox", name="Message").press("Enter")
    expect(page.locator(".message.assistant")).to_have_attribute("data-status", "complete")
    expect(page).to_have_url(re.compile(r"/c/\d+/$"))

    # A second tab renames it; the first one, which is on the conversation, follows.
    other = page.context.new_page()
    other.goto(page.url)
    other.get_by_role("button", name="Rename “Name me later”").click()
    box = other.get_by_role("textbox", name="New title")
    box.fill("A much better name")
    box.press("Enter")
    expect(item(other, "A much better name")).to_be_visible()
    expect(other.locator("#chat-title")).to_have_text("A much better name")
    expect(item(page, "A much better name")).to_be_visible()
    expect(page.locator("#chat-title")).to_have_text("A much better name")
    expect(page).to_have_title("A much better name · aiportal")

    # An empty title is refused and nothing is lost.
    other.get_by_role("button", name="Rename “A much better name”").click()
    other.get_by_role("textbox", name="New title").fill("   ")
    other.get_by_role("textbox", name="New title").press("Escape")
    expect(item(other, "A much better name")).to_be_visible()
    other.reload()
    expect(item(other, "A much better name")).to_be_visible()


def test_pin_moves_a_conversation_to_the_top(page, daphne_url, owner):
    conversation_with(owner, "Newer")
    conversation_with(owner, "Older", days_ago=2)
    sign_in(page, daphne_url, owner.email)
    page.get_by_role("button", name="Pin “Older”").click()
    expect(page.locator("#conversation-list .conversation-group").first).to_contain_text("Older")
    expect(page.locator("#conversation-list .conversation-group h2").first).to_have_text("Pinned")
    page.reload()
    expect(page.locator("#conversation-list .conversation-group h2").first).to_have_text("Pinned")
    page.get_by_role("button", name="Unpin “Older”").click()
    expect(page.locator("#conversation-list .conversation-group h2").first).to_have_text("Today")


def test_delete_with_undo_restores_the_conversation(page, daphne_url, owner):
    keep = conversation_with(owner, "Keep me")
    conversation_with(owner, "Throw away")
    sign_in(page, daphne_url, owner.email)

    page.get_by_role("button", name="Delete “Keep me”").click()
    expect(item(page, "Keep me")).to_have_count(0)
    expect(page.locator("#undo-text")).to_have_text("Deleted “Keep me”.")
    assert Conversation.objects.get(pk=keep.pk).deleted_at is not None
    page.get_by_role("button", name="Undo").click()
    expect(item(page, "Keep me")).to_be_visible()
    expect(page.locator("#undo-bar")).to_be_hidden()
    assert Conversation.objects.get(pk=keep.pk).deleted_at is None

    page.get_by_role("button", name="Delete “Throw away”").click()
    expect(item(page, "Throw away")).to_have_count(0)
    page.reload()
    expect(item(page, "Throw away")).to_have_count(0)
    expect(item(page, "Keep me")).to_be_visible()


def test_a_share_link_is_readable_signed_out_and_gone_after_revoke(
    page, chromium, daphne_url, owner
):
    conversation = conversation_with(owner, "Worth sharing", "What is **bold**?")
    sign_in(page, daphne_url, owner.email)
    page.goto(f"{daphne_url}/c/{conversation.pk}/")
    page.get_by_role("button", name="Share").click()
    page.get_by_role("button", name="Create link").click()
    link = page.get_by_role("textbox", name="Read-only link to this conversation")
    expect(link).to_have_value(re.compile(r"^http://127\.0\.0\.1:\d+/s/[\w-]{32}/$"))
    url = link.input_value()

    stranger = chromium.new_context()
    try:
        public = stranger.new_page()
        response = public.goto(url)
        assert response.status == 200
        expect(public.locator("#chat-title")).to_have_text("Worth sharing")
        expect(public.locator(".message.user .content")).to_have_text("What is **bold**?")
        expect(public.locator(".message.assistant .content")).to_have_text(
            "An answer about Worth sharing"
        )
        expect(public.locator("#conversation-list")).to_have_count(0)
        assert owner.email not in public.content()

        page.get_by_role("button", name="Revoke link").click()
        expect(page.locator("#share-info")).to_have_text("The link no longer works.")
        assert public.goto(url).status == 410
    finally:
        stranger.close()


def test_exports_download_as_markdown_and_json(page, daphne_url, owner):
    conversation = conversation_with(owner, "Export me", "Give me a list")
    sign_in(page, daphne_url, owner.email)
    page.goto(f"{daphne_url}/c/{conversation.pk}/")

    page.locator("#export-menu summary").click()
    with page.expect_download() as markdown:
        page.get_by_role("link", name="Markdown").click()
    assert markdown.value.suggested_filename == f"export-me-{conversation.pk}.md"
    text = Path(markdown.value.path()).read_text(encoding="utf-8")
    assert text.startswith("# Export me\n\n## You\n\n> Give me a list")

    page.locator("#export-menu summary").click()
    with page.expect_download() as download:
        page.get_by_role("link", name="JSON").click()
    assert download.value.suggested_filename == f"export-me-{conversation.pk}.json"
    data = json.loads(Path(download.value.path()).read_text(encoding="utf-8"))
    assert [m["role"] for m in data["messages"]] == ["user", "assistant"]


def test_a_hostile_title_is_text_in_the_sidebar_the_header_and_the_share_page(
    page, chromium, daphne_url, owner
):
    conversation = conversation_with(owner, XSS_TITLE)
    sign_in(page, daphne_url, owner.email)
    page.goto(f"{daphne_url}/c/{conversation.pk}/")
    expect(page.locator("#chat-title")).to_have_text(XSS_TITLE)
    expect(item(page, "onerror").locator(".conversation-title")).to_have_text(XSS_TITLE)
    # Search results render titles too.
    page.get_by_role("searchbox", name="Search conversations").fill("onerror")
    expect(page.locator("#search-results .conversation-title")).to_have_text(XSS_TITLE)
    page.get_by_role("button", name="Share").click()
    page.get_by_role("button", name="Create link").click()
    url = page.get_by_role("textbox", name="Read-only link to this conversation").input_value()
    assert page.evaluate("window.__xss") is None
    assert page.locator(".sidebar img, .sidebar script, .chat-header img").count() == 0

    stranger = chromium.new_context()
    try:
        public = stranger.new_page()
        public.goto(url)
        expect(public.locator("#chat-title")).to_have_text(XSS_TITLE)
        expect(public.locator(".message.assistant .content")).to_contain_text("An answer about")
        assert public.evaluate("window.__xss") is None
        assert public.locator("header img, header script").count() == 0
    finally:
        stranger.close()


def test_the_theme_toggle_is_remembered(page, daphne_url, owner):
    page.emulate_media(color_scheme="light")
    sign_in(page, daphne_url, owner.email)
    html = page.locator("html")
    expect(html).not_to_have_attribute("data-theme", re.compile("."))
    page.get_by_role("button", name="Use the dark theme").click()
    expect(html).to_have_attribute("data-theme", "dark")
    page.reload()
    expect(html).to_have_attribute("data-theme", "dark")
    background = page.evaluate("getComputedStyle(document.body).backgroundColor")
    assert background == "rgb(22, 24, 28)"
    page.get_by_role("button", name="Use the light theme").click()
    expect(html).to_have_attribute("data-theme", "light")


def test_a_window_that_turns_narrow_shows_no_half_open_drawer(page, daphne_url, owner):
    """The column does not slide out of view when the window narrows (a phone turned
    upright): it was seen half-open over the chat for the slide's 0.2 s. Opening and closing
    it from ☰ still slide."""
    sign_in(page, daphne_url, owner.email)
    sidebar = page.locator("#sidebar")
    expect(sidebar).to_be_visible()
    resize(page, {"width": 390, "height": 800})
    # The frame right after the resize: nothing of the column on screen, and hidden.
    seen = page.evaluate(
        """() => new Promise((done) => requestAnimationFrame(() => {
            const box = document.getElementById("sidebar").getBoundingClientRect();
            done({right: box.right, visibility: getComputedStyle(
                document.getElementById("sidebar")).visibility});
        }))"""
    )
    assert seen == {"right": 0, "visibility": "hidden"}, seen
    page.get_by_role("button", name="Show the conversation list").click()
    assert sidebar.evaluate("e => getComputedStyle(e).transitionDuration") != "0s"
    expect(sidebar).to_be_visible()
    page.keyboard.press("Escape")
    expect(sidebar).to_be_hidden()


def test_on_a_phone_the_sidebar_is_a_drawer(page, daphne_url, owner):
    conversation_with(owner, "On the go")
    resize(page, {"width": 390, "height": 800})
    sign_in(page, daphne_url, owner.email)
    sidebar = page.get_by_role("navigation", name="Conversations")
    expect(sidebar).to_be_hidden()
    opener = page.get_by_role("button", name="Show the conversation list")
    opener.click()
    expect(sidebar).to_be_visible()
    expect(opener).to_have_attribute("aria-expanded", "true")
    expect(page.get_by_role("searchbox", name="Search conversations")).to_be_focused()
    expect(item(page, "On the go")).to_be_visible()
    page.keyboard.press("Escape")
    expect(sidebar).to_be_hidden()
    expect(opener).to_be_focused()
    # The message box stays usable at this width.
    expect(page.get_by_role("textbox", name="Message")).to_be_visible()
