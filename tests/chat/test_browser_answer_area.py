"""The answer area in headless Chromium against a real Daphne: following a streaming answer
and "Jump to latest", an answer that goes quiet, truthful details, the sources under an
answer and the passage beside the chat, the datasets popover, and the composer's disabled
states, empty renames and the edit form."""

from __future__ import annotations

import json

import pytest
from playwright.sync_api import expect

from chat import services
from tests.chat.test_browser import sign_in
from tests.chat.test_browser_thread import ask, stored_answer
from tests.chat.test_reconnect_browser import RECORDER
from tests.pages.viewport import resize

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("transactional_db")]

ANSWER = ".message.assistant"
LONG = "A paragraph long enough to fill a few lines of the message column. " * 6

DISTANCE = """() => {
    const list = document.getElementById('messages');
    return list.scrollHeight - list.scrollTop - list.clientHeight;
}"""


def long_conversation(owner, turns: int = 4):
    conversation = services.conversation_create(user=owner, title="Long")
    parent = None
    for i in range(turns):
        _, answer = services.message_create_turn(
            conversation=conversation, parent=parent, content=f"Question {i}", model=""
        )
        services.message_finish(message_id=answer.pk, content=LONG, last_seq=1, status="complete")
        parent = answer
    return conversation


def box(locator) -> dict:
    found = locator.bounding_box()
    assert found is not None
    return found


def overlap(a: dict, b: dict) -> bool:
    return not (
        a["x"] + a["width"] <= b["x"]
        or b["x"] + b["width"] <= a["x"]
        or a["y"] + a["height"] <= b["y"]
        or b["y"] + b["height"] <= a["y"]
    )


def test_a_streaming_answer_follows_the_bottom_until_the_reader_scrolls_up(
    page, daphne_url, owner, pause_next_answer
):
    resize(page, {"width": 900, "height": 560})
    conversation = long_conversation(owner)
    sign_in(page, daphne_url, owner.email)
    page.goto(f"{daphne_url}/c/{conversation.pk}/")
    expect(page.locator("#socket-status")).to_have_attribute("data-state", "connected")
    pause_next_answer(tokens=80, seconds=4)
    ask(page, "Talk for a while")
    # Mid-answer, many lines in: the end of the streaming text is in view.
    page.wait_for_function(
        """() => {
            const a = [...document.querySelectorAll('.message.assistant')].at(-1);
            return a.dataset.status === 'streaming'
                && a.querySelector('.content').textContent.length > 300;
        }"""
    )
    page.wait_for_function(f"() => ({DISTANCE})() < 30")
    jump = page.get_by_role("button", name="Jump to latest")
    expect(jump).to_be_hidden()

    # The reader scrolls up to read: the list stays where they put it, and offers the way
    # back.
    page.locator("#messages").hover()
    page.mouse.wheel(0, -600)
    expect(jump).to_be_visible()
    top = page.evaluate("document.getElementById('messages').scrollTop")
    answer = page.locator(ANSWER).last
    expect(answer).to_have_attribute("data-status", "complete", timeout=15_000)
    page.wait_for_timeout(200)
    assert abs(page.evaluate("document.getElementById('messages').scrollTop") - top) < 2
    assert page.evaluate(DISTANCE) > 300

    jump.click()
    expect(jump).to_be_hidden()
    assert page.evaluate(DISTANCE) < 30


def test_an_answer_that_goes_quiet_says_it_is_waiting_and_why(
    page, daphne_url, owner, pause_next_answer
):
    sign_in(page, daphne_url, owner.email)
    pause_next_answer(tokens=10, seconds=7)
    ask(page, "Say something, then freeze")
    answer = page.locator(ANSWER)
    waiting = answer.locator(".waiting")
    expect(waiting).to_contain_text("No new text for", timeout=8_000)
    expect(waiting).to_contain_text("the answer continues on another worker")
    expect(waiting).to_have_attribute("role", "status")
    expect(waiting).to_be_in_viewport()  # the list follows the notice too
    # The worker goes on: the notice goes, and the answer ends as any other.
    expect(answer).to_have_attribute("data-status", "complete", timeout=15_000)
    expect(waiting).to_have_count(0)


def test_a_continued_answer_is_a_failover_and_its_speed_leaves_the_stall_out(
    page, daphne_url, owner
):
    conversation, answer = stored_answer(owner, "Went on elsewhere.")
    answer.metrics = {
        "region": "eu-west",
        "ttft_ms": 120,
        "duration_ms": 31_000,
        "generation_ms": 2_000,
        "tokens_per_second": 24.5,
        "attempts": 2,
        "failovers": 0,
        "continued": 1,
    }
    answer.save(update_fields=["metrics"])
    sign_in(page, daphne_url, owner.email)
    page.goto(f"{daphne_url}/c/{conversation.pk}/")
    details = page.locator(ANSWER).locator(".answer-details")
    details.locator("summary").click()
    dl = details.locator("dl")
    expect(dl).to_contain_text(
        "Failoveryes: the worker stopped mid-answer and another continued it"
    )
    expect(dl).not_to_contain_text("Continued on another worker")
    expect(dl).to_contain_text("Tokens per second24.5")
    expect(page.locator(ANSWER).locator(".meta")).to_contain_text("failed over to another worker")


def test_the_details_of_a_person_who_is_not_staff_name_the_region_not_the_worker(
    page, daphne_url, owner
):
    conversation, _ = stored_answer(owner, "Where from?")
    sign_in(page, daphne_url, owner.email)
    page.goto(f"{daphne_url}/c/{conversation.pk}/")
    answer = page.locator(ANSWER)
    answer.locator(".answer-details summary").click()
    expect(answer.locator(".answer-details dl")).to_contain_text("Regioneu-west")
    expect(answer).not_to_contain_text("gpu-1")


def test_every_answer_that_searched_datasets_lists_its_sources_and_the_passage_clears_send(
    page, daphne_url, owner
):
    resize(page, {"width": 1440, "height": 900})
    conversation, answer = stored_answer(owner, "An answer that cites nothing in its text.")
    answer.metrics = {
        **answer.metrics,
        "citations": [
            {"n": 1, "chunk": 987654, "title": "Travel policy", "key": "travel.md"},
            {"n": 2, "chunk": 987655, "title": "Expenses", "key": "expenses.md"},
        ],
    }
    answer.save(update_fields=["metrics"])
    sign_in(page, daphne_url, owner.email)
    page.goto(f"{daphne_url}/c/{conversation.pk}/")
    sources = page.locator(ANSWER).get_by_role("region", name="Sources of this answer")
    expect(sources.locator("summary")).to_have_text(["Travel policy", "Expenses"])

    # An answer saved before its passages were kept on it: the source opens the panel.
    sources.locator("summary", has_text="Expenses").click()
    sources.get_by_role("button", name="Show the whole passage").last.click()
    panel = page.get_by_role("complementary", name="Cited passage")
    expect(panel).to_be_visible()
    expect(panel).to_contain_text("no longer available")  # a chunk that does not exist
    send = page.get_by_role("button", name="Send")
    composer = page.get_by_role("textbox", name="Message")
    for covered in (send, composer, page.locator(ANSWER)):
        assert not overlap(box(panel), box(covered))
    panel.get_by_role("button", name="Close the passage").click()
    expect(panel).to_be_hidden()


def test_the_datasets_popover_keeps_its_heading_inside_and_closes_when_sending(
    page, daphne_url, owner
):
    sign_in(page, daphne_url, owner.email)
    picker = page.locator("#dataset-picker")
    picker.locator("summary").click()
    fieldset, legend = box(picker.locator("fieldset")), box(picker.locator("legend"))
    assert legend["y"] >= fieldset["y"]
    assert box(page.locator("#messages"))["y"] < fieldset["y"]
    ask(page, "Hello")
    expect(picker).not_to_have_attribute("open", "")
    expect(picker.locator("fieldset")).to_be_hidden()


def test_with_no_model_the_composer_is_visibly_off_and_says_why(page, daphne_url, owner):
    page.route(
        "**/chat/models/",
        lambda route: route.fulfill(
            status=200, content_type="application/json", body=json.dumps({"models": []})
        ),
    )
    sign_in(page, daphne_url, owner.email)
    send = page.get_by_role("button", name="Send")
    expect(send).to_be_disabled()
    expect(page.get_by_role("textbox", name="Message")).to_be_disabled()
    expect(page.locator("#composer-note")).to_have_text(
        "No model is available to you right now, so no message can be sent."
    )
    assert float(send.evaluate("el => getComputedStyle(el).opacity")) < 0.6


def test_send_looks_disabled_while_reconnecting(page, daphne_url, owner):
    page.add_init_script(RECORDER)
    sign_in(page, daphne_url, owner.email)
    send = page.get_by_role("button", name="Send")
    assert float(send.evaluate("el => getComputedStyle(el).opacity")) == 1
    page.evaluate("window.__blockSockets = true; window.__sockets.at(-1).close()")
    expect(page.locator("#socket-status")).to_have_attribute("data-state", "reconnecting")
    expect(send).to_be_disabled()
    assert float(send.evaluate("el => getComputedStyle(el).opacity")) < 0.6
    # Typing is still fine: the text waits in the box.
    expect(page.get_by_role("textbox", name="Message")).to_be_editable()


def test_renaming_to_an_empty_title_says_it_cannot_be_empty(page, daphne_url, owner):
    conversation, _ = stored_answer(owner, "Hi.", title="Keep me")
    sign_in(page, daphne_url, owner.email)
    page.goto(f"{daphne_url}/c/{conversation.pk}/")
    status = page.locator("#sidebar-status")
    page.get_by_role("button", name="Rename “Keep me”").click()
    page.get_by_role("textbox", name="New title").fill("Kept")
    page.get_by_role("textbox", name="New title").press("Enter")
    expect(status).to_have_text("Renamed.")
    page.get_by_role("button", name="Rename “Kept”").click()
    page.get_by_role("textbox", name="New title").fill("   ")
    page.get_by_role("textbox", name="New title").press("Enter")
    expect(status).to_have_text("A title cannot be empty: the old title is kept.")
    expect(page.locator("#conversation-list")).to_contain_text("Kept")


def test_editing_a_question_puts_its_buttons_side_by_side_and_hides_the_bubbles(
    page, daphne_url, owner
):
    conversation, _ = stored_answer(owner, "Hi.", question="Edit me")
    sign_in(page, daphne_url, owner.email)
    page.goto(f"{daphne_url}/c/{conversation.pk}/")
    question = page.locator(".message.user")
    question.get_by_role("button", name="Edit message").click()
    save = question.get_by_role("button", name="Send edit")
    cancel = question.get_by_role("button", name="Cancel")
    expect(save).to_be_visible()
    assert abs(box(save)["y"] - box(cancel)["y"]) < 2
    assert box(cancel)["x"] + box(cancel)["width"] <= box(save)["x"]
    expect(question.get_by_role("button", name="Edit message")).to_be_hidden()
    expect(question.get_by_role("button", name="Copy message")).to_be_hidden()
    cancel.click()
    expect(question.get_by_role("button", name="Edit message")).to_be_visible()
