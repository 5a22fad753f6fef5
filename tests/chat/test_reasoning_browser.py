"""A reasoning model's thinking in headless Chromium: a collapsed "Thinking" block above the
answer that says so while the model thinks, opens to show the thinking, comes back with the
conversation, and is plain text. With $AIPORTAL_TEST_SCREENSHOTS naming a folder, the block
is photographed at desktop and phone size, light and dark, for a person to look at."""

from __future__ import annotations

import os
from collections.abc import Iterator

import httpx
import pytest
from playwright.sync_api import expect

from chat import services
from tests.chat.test_browser import sign_in
from tests.conftest import _database_url, start_daphne, start_emulator
from tests.pages.viewport import resize

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("transactional_db")]

SHOTS = os.environ.get("AIPORTAL_TEST_SCREENSHOTS")  # a folder: look at the pages by hand
SIZES = {"desktop": (1440, 900), "phone": (390, 844)}
ANSWER = ".message.assistant"
THINKING = (
    "The user asks why the sky is blue. Sunlight scatters off air molecules, and shorter "
    "wavelengths scatter more (Rayleigh scattering).\n\nSo the answer: blue light is "
    "scattered across the sky; at sunset the path is longer and the reds remain."
)
ANSWER_TEXT = (
    "Because of **Rayleigh scattering**: air scatters blue light far more than red, so the "
    "whole sky glows blue.\n\n- shorter wavelengths scatter more\n- at sunset the light "
    "crosses more air, and the blue is scattered away before it reaches you"
)


@pytest.fixture(scope="module")
def thinking_emulator() -> Iterator[str]:
    process, url = start_emulator(
        "--reasoning-parser", "qwen3", "--tokens-per-second", "200", "--ttft-ms", "10",
        region="test-thinking",
    )  # fmt: skip
    yield url
    process.stop()


@pytest.fixture(scope="module")
def thinking_url(django_db_setup, django_db_blocker, thinking_emulator) -> Iterator[str]:
    with django_db_blocker.unblock():
        database_url = _database_url()
    process, url = start_daphne(
        {
            "DATABASE_URL": database_url,
            "AIPORTAL_WORKERS": f"{thinking_emulator}@test-thinking",
            "AIPORTAL_SAVE_INTERVAL_MS": "100",
            "AIPORTAL_CHAT_TITLES": "false",
        }
    )
    yield url
    process.stop()


@pytest.fixture
def orm_beside_playwright(chromium, monkeypatch) -> None:
    """Asked for first: Playwright's loop runs in this thread, the ORM calls are plain sync."""
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


def _stall(emulator: str, *, tokens: int, seconds: float) -> None:
    faults = {"stall_after_tokens": tokens, "stall_seconds": seconds, "times": 1}
    httpx.post(f"{emulator}/emulator/faults", json=faults).raise_for_status()


def _stored(owner, *, reasoning: str, content: str = ANSWER_TEXT):
    conversation = services.conversation_create(user=owner, title="Why is the sky blue?")
    _, answer = services.message_create_turn(
        conversation=conversation, parent=None, content="Why is the sky blue?", model=""
    )
    services.message_finish(
        message_id=answer.pk,
        content=content,
        reasoning=reasoning,
        last_seq=4,
        status="complete",
    )
    return conversation


def test_the_thinking_streams_collapsed_then_opens_and_comes_back(
    orm_beside_playwright, page, thinking_url, thinking_emulator, owner
):
    resize(page, {"width": 1440, "height": 900})
    sign_in(page, thinking_url, owner.email)
    # Hold the model in its thinking for a moment (48 thinking tokens come first).
    _stall(thinking_emulator, tokens=12, seconds=4)
    box = page.get_by_role("textbox", name="Message")
    box.fill("Why is the sky blue?")
    box.press("Enter")

    answer = page.locator(ANSWER)
    thinking = answer.locator("details.thinking")
    expect(thinking).to_be_visible()
    expect(thinking).to_have_class("thinking active")
    expect(thinking.locator("summary")).to_have_text("Thinking…")
    expect(thinking).not_to_have_attribute("open", "")  # collapsed while it thinks
    expect(answer.locator(".content")).to_be_empty()
    if SHOTS:
        page.screenshot(path=f"{SHOTS}/chat-thinking-streaming-desktop-light.png")

    expect(answer).to_have_attribute("data-status", "complete", timeout=20_000)
    expect(thinking.locator("summary")).to_have_text("Thinking")
    expect(thinking).to_have_class("thinking")
    text = thinking.locator(".thinking-text")
    expect(text).to_be_hidden()
    thinking.locator("summary").click()
    expect(text).to_be_visible()
    thought = text.text_content()
    assert thought.startswith(("The user", "Reading", "The question"))
    content = answer.locator(".content").inner_text()
    assert thought not in content and content

    page.reload()
    expect(page.locator("#socket-status")).to_have_attribute("data-state", "connected")
    reloaded = page.locator(f"{ANSWER} details.thinking")
    expect(reloaded).to_be_visible()
    expect(reloaded).not_to_have_attribute("open", "")
    expect(reloaded.locator(".thinking-text")).to_have_text(thought)


def test_the_thinking_is_plain_text(orm_beside_playwright, page, thinking_url, owner):
    hostile = '<img src=x onerror="window.__xss=1"><script>window.__xss=2</script> **not bold**'
    conversation = _stored(owner, reasoning=hostile)
    sign_in(page, thinking_url, owner.email)
    page.goto(f"{thinking_url}/c/{conversation.pk}/")
    thinking = page.locator(f"{ANSWER} details.thinking")
    thinking.locator("summary").click()
    text = thinking.locator(".thinking-text")
    expect(text).to_have_text(hostile)
    assert text.locator("img, script, strong").count() == 0
    assert page.evaluate("window.__xss") is None
    # The answer is rendered as markdown, without the thinking in it.
    expect(page.locator(f"{ANSWER} .content strong")).to_have_text("Rayleigh scattering")
    assert "Sunlight" not in page.locator(f"{ANSWER} .content").inner_text()


def test_the_thinking_block_fits_every_screen_and_scheme(
    orm_beside_playwright, chromium, thinking_url, owner
):
    """Collapsed and open, on a desktop and a phone, light and dark: the block stays inside
    the answer's column (no sideways scrolling on a phone) and its text is readable: not
    the page's own background colour. With $AIPORTAL_TEST_SCREENSHOTS, pictures for a person."""
    conversation = _stored(owner, reasoning=THINKING)
    context = chromium.new_context()
    page = context.new_page()
    page.set_default_timeout(15_000)
    try:
        sign_in(page, thinking_url, owner.email)
        for size, (width, height) in SIZES.items():
            resize(page, {"width": width, "height": height})
            for scheme in ("light", "dark"):
                page.emulate_media(color_scheme=scheme)
                page.goto(f"{thinking_url}/c/{conversation.pk}/")
                thinking = page.locator(f"{ANSWER} details.thinking")
                expect(thinking).to_be_visible()
                if SHOTS:
                    page.screenshot(path=f"{SHOTS}/chat-thinking-collapsed-{size}-{scheme}.png")
                thinking.locator("summary").click()
                text = thinking.locator(".thinking-text")
                expect(text).to_be_visible()
                if SHOTS:
                    page.screenshot(path=f"{SHOTS}/chat-thinking-open-{size}-{scheme}.png")
                box = thinking.bounding_box()
                assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= width
                assert page.evaluate("document.documentElement.scrollWidth") <= width
                colours = text.evaluate(
                    """(node) => [getComputedStyle(node).color,
                        getComputedStyle(document.body).backgroundColor]"""
                )
                assert colours[0] != colours[1], (size, scheme, colours)
    finally:
        context.close()
