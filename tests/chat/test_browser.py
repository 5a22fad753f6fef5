"""What a person sees, in headless Chromium against a real Daphne: signing in, an answer
streaming in, the conversation surviving a reload, and model output that cannot attack."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from chat import services
from tests.conftest import PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("transactional_db")]

ANSWER = ".message.assistant"


def sign_in(page, base_url: str, email: str) -> None:
    page.goto(f"{base_url}/")
    expect(page).to_have_url(re.compile(r"/accounts/login/\?next=/$"))
    page.fill("#id_login", email)
    page.fill("#id_password", PASSWORD)
    page.click("form button[type=submit]")
    expect(page).to_have_url(f"{base_url}/")
    expect(page.locator("#socket-status")).to_have_attribute("data-state", "connected")


def test_a_person_signs_in_watches_an_answer_stream_and_finds_it_after_a_reload(
    page, daphne_url, owner, pause_next_answer
):
    sign_in(page, daphne_url, owner.email)
    # The worker streams 400 tokens a second; a pause after 30 lets the first look happen
    # mid-answer for sure. The second look needs the answer to have grown, still streaming.
    pause_next_answer(tokens=30, seconds=0.5)
    box = page.get_by_role("textbox", name="Message")
    box.fill("first line")
    box.press("Shift+Enter")
    box.press_sequentially("second line")
    assert box.input_value() == "first line\nsecond line"  # Shift+Enter is a new line
    box.press("Enter")

    expect(page.locator(".message.user .content")).to_have_text("first line\nsecond line")
    answer = page.locator(ANSWER)
    # Two observations of the same answer while it is still streaming, the second longer.
    first = page.wait_for_function(
        """() => {
            const el = document.querySelector('.message.assistant');
            return el && el.dataset.status === 'streaming'
                && el.querySelector('.content').textContent.length > 0
                && el.querySelector('.content').textContent.length;
        }"""
    ).json_value()
    page.wait_for_function(
        """(before) => {
            const el = document.querySelector('.message.assistant');
            return el.dataset.status === 'streaming'
                && el.querySelector('.content').textContent.length > before + 20;
        }""",
        arg=first,
    )
    expect(page.get_by_role("button", name="Stop")).to_be_visible()
    expect(answer).to_have_attribute("data-status", "complete")
    expect(page.get_by_role("button", name="Send")).to_be_visible()
    expect(answer.locator(".meta")).to_contain_text("test-a")
    expect(answer.locator(".content strong").last).to_have_text("aiportal vLLM emulator")
    streamed = answer.locator(".content").inner_text()

    # The address became the conversation's, and the sidebar lists it.
    expect(page).to_have_url(re.compile(r"/c/\d+/$"))
    expect(page.locator("#conversation-list a[aria-current=page]")).to_have_text(
        "first line second line"
    )
    page.reload()
    expect(page.locator(".message.user .content")).to_have_text("first line\nsecond line")
    expect(answer).to_have_attribute("data-status", "complete")
    assert answer.locator(".content").inner_text() == streamed


XSS = (
    '<img src=x onerror="window.__xss=1"> <script>window.__xss=2</script> '
    "[click](javascript:window.__xss=3) ![beacon](http://example.invalid/beacon.png)"
)


def test_model_output_cannot_run_script_load_external_images_or_link_to_javascript(
    page, daphne_url, owner
):
    conversation = services.conversation_create(user=owner, title="Hostile")
    _, answer = services.message_create_turn(
        conversation=conversation, parent=None, content="Say something nasty", model=""
    )
    services.message_finish(
        message_id=answer.pk,
        content=XSS + "\n\n<svg onload=window.__xss=4></svg>\n\n[fine](https://example.org/)",
        last_seq=1,
        status="complete",
    )
    requests: list[str] = []
    page.on("request", lambda request: requests.append(request.url))
    sign_in(page, daphne_url, owner.email)

    # Saved output, rendered on load.
    page.goto(f"{daphne_url}/c/{conversation.pk}/")
    # Typing before the socket is open only gets "Not connected": wait for it.
    expect(page.locator("#socket-status")).to_have_attribute("data-state", "connected")
    stored = page.locator(ANSWER).first
    expect(stored.locator("a.blocked-image")).to_have_count(1)
    # And the same payload streamed live: the emulator quotes the question back.
    page.get_by_role("textbox", name="Message").fill(XSS)
    page.get_by_role("textbox", name="Message").press("Enter")
    live = page.locator(ANSWER).nth(1)
    expect(live).to_have_attribute("data-status", "complete")
    expect(live.locator("a.blocked-image")).to_have_count(1)

    assert page.evaluate("window.__xss") is None
    messages = page.locator("#messages")
    assert messages.locator("script, svg, img, [onerror], [onload]").count() == 0
    assert messages.locator("a[href^='javascript:']").count() == 0
    expect(stored.locator(".content")).to_contain_text("[click](javascript:window.__xss=3)")
    blocked = stored.locator("a.blocked-image")
    expect(blocked).to_have_attribute("href", "http://example.invalid/beacon.png")
    fine = stored.locator("a", has_text="fine")
    expect(fine).to_have_attribute("target", "_blank")
    expect(fine).to_have_attribute("rel", "noopener noreferrer nofollow")
    assert not [url for url in requests if "example.invalid" in url or "example.org" in url]
    # What the person typed is shown as typed, not rendered.
    expect(page.locator(".message.user .content").nth(1)).to_have_text(XSS)


def test_a_reload_in_the_middle_of_an_answer_picks_the_stream_up_again(
    page, daphne_url, owner, pause_next_answer
):
    sign_in(page, daphne_url, owner.email)
    pause_next_answer(tokens=20, seconds=1.5)  # reload while the worker is paused
    page.get_by_role("textbox", name="Message").fill("Keep talking while I reload")
    page.get_by_role("textbox", name="Message").press("Enter")
    page.wait_for_function(
        """() => {
            const el = document.querySelector('.message.assistant');
            return el && el.dataset.status === 'streaming'
                && el.querySelector('.content').textContent.length > 10;
        }"""
    )
    expect(page).to_have_url(re.compile(r"/c/\d+/$"))
    page.reload()
    answer = page.locator(ANSWER)
    expect(answer).to_have_attribute("data-status", "complete")
    text = answer.locator(".content").inner_text()
    page.reload()  # what the database kept is what the resumed stream showed
    expect(answer).to_have_attribute("data-status", "complete")
    assert answer.locator(".content").inner_text() == text
    expect(answer.locator(".content")).to_contain_text("Keep talking while I reload")


def test_a_second_tab_opened_mid_answer_follows_the_same_stream_to_the_same_end(
    page, daphne_url, owner, pause_next_answer
):
    sign_in(page, daphne_url, owner.email)
    # Open the second tab while the worker waits: long enough for a page load on a busy CI
    # machine (1.5 s was not, once the suite took 14 minutes).
    pause_next_answer(tokens=20, seconds=5)
    page.get_by_role("textbox", name="Message").fill("Two tabs, one answer")
    page.get_by_role("textbox", name="Message").press("Enter")
    page.wait_for_function(
        """() => {
            const el = document.querySelector('.message.assistant');
            return el && el.dataset.status === 'streaming'
                && el.querySelector('.content').textContent.length > 10;
        }"""
    )
    expect(page).to_have_url(re.compile(r"/c/\d+/$"))
    second = page.context.new_page()  # same person, same session
    second.goto(page.url)
    expect(second.locator(ANSWER)).to_have_attribute("data-status", "streaming")
    for tab in (page, second):
        # The rest of the pause, then the rest of the answer: past expect's 5 s default.
        expect(tab.locator(ANSWER)).to_have_attribute("data-status", "complete", timeout=15_000)
    first_text = page.locator(f"{ANSWER} .content").inner_text()
    expect(page.locator(f"{ANSWER} .content")).to_contain_text("Two tabs, one answer")
    # The same whole answer in both tabs, nothing missing or repeated...
    assert second.locator(f"{ANSWER} .content").inner_text() == first_text
    # ...and it is what the database kept: a fresh page renders the saved text the same way.
    second.reload()
    expect(second.locator(ANSWER)).to_have_attribute("data-status", "complete")
    assert second.locator(f"{ANSWER} .content").inner_text() == first_text
