"""The message view in headless Chromium against a real Daphne: stop with Esc, continue,
regenerate and switch branches, edit-and-resend, copy, answer details, the model picker, the
system prompt, and a 2,000-message conversation."""

from __future__ import annotations

import json
import re

import pytest
from playwright.sync_api import expect

from chat import services
from chat.models import Conversation, Message
from tests.chat.test_browser import sign_in

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("transactional_db")]

ANSWER = ".message.assistant"
QUESTION = ".message.user"


def stored_answer(owner, content, *, status="complete", title="Stored", question="Question"):
    conversation = services.conversation_create(user=owner, title=title)
    _, answer = services.message_create_turn(
        conversation=conversation, parent=None, content=question, model=""
    )
    services.message_finish(
        message_id=answer.pk,
        content=content,
        last_seq=1,
        status=status,
        usage={"completion_tokens": 50},
        metrics={
            "ttft_ms": 120,
            "duration_ms": 1120,
            "worker": "gpu-1",
            "region": "eu-west",
            "model": "aiportal-emulator",
            "attempts": 2,
            "failovers": 1,
            "continued": True,
        },
    )
    return conversation, answer


def sent_frames(page) -> list[dict]:
    """Every frame the page sends over its websocket from now on."""
    frames: list[dict] = []

    def on_socket(ws):
        ws.on("framesent", lambda payload: frames.append(json.loads(payload)))

    page.on("websocket", on_socket)
    return frames


def ask(page, text: str) -> None:
    box = page.get_by_role("textbox", name="Message")
    box.fill(text)
    box.press("Enter")


def test_esc_stops_the_answer_and_continue_asks_for_more(
    page, daphne_url, owner, pause_next_answer
):
    frames = sent_frames(page)
    with page.expect_websocket() as opened:
        sign_in(page, daphne_url, owner.email)
    socket = opened.value
    pause_next_answer(tokens=10, seconds=5)
    ask(page, "Talk for a while")
    answer = page.locator(ANSWER)
    expect(answer).to_have_attribute("data-status", "streaming")
    expect(answer.locator(".content")).not_to_be_empty()
    # Streaming text lands in a polite live region; the answer is busy until it ends.
    expect(page.locator("#messages")).to_have_attribute("aria-live", "polite")
    expect(answer).to_have_attribute("aria-busy", "true")
    expect(answer.get_by_role("button", name="Continue the answer")).to_have_count(0)
    page.keyboard.press("Escape")
    expect(answer).to_have_attribute("data-status", "stopped")
    expect(answer).to_have_attribute("aria-busy", "false")
    expect(answer.locator(".meta")).to_contain_text("Stopped")
    stop = [f for f in frames if f["type"] == "chat.stop"]
    assert stop == [{"type": "chat.stop", "message": int(answer.get_attribute("data-id")), "v": 2}]
    expect(page.get_by_role("button", name="Send")).to_be_visible()

    with socket.expect_event(
        "framesent", predicate=lambda payload: json.loads(payload)["type"] == "chat.continue"
    ) as sent:
        answer.get_by_role("button", name="Continue the answer").click()
    frame = json.loads(sent.value)
    assert frame["message"] == int(answer.get_attribute("data-id"))
    assert frame["v"] == 2 and re.fullmatch(r"[0-9a-f]{24}", frame["client_id"])
    assert set(frame) == {"type", "message", "client_id", "v"}


def test_an_interrupted_answer_offers_continue_and_a_complete_one_does_not(page, daphne_url, owner):
    interrupted, _ = stored_answer(owner, "Half an answ", status="interrupted", title="Cut")
    complete, _ = stored_answer(owner, "A whole answer.", title="Whole")
    sign_in(page, daphne_url, owner.email)
    page.goto(f"{daphne_url}/c/{interrupted.pk}/")
    expect(page.locator(ANSWER).get_by_role("button", name="Continue the answer")).to_be_visible()
    page.goto(f"{daphne_url}/c/{complete.pk}/")
    expect(page.locator(ANSWER).get_by_role("button", name="Regenerate the answer")).to_be_visible()
    expect(page.locator(ANSWER).get_by_role("button", name="Continue the answer")).to_have_count(0)


def test_regenerate_makes_a_sibling_and_the_arrows_switch_between_them(page, daphne_url, owner):
    sign_in(page, daphne_url, owner.email)
    ask(page, "Tell me a thing")
    answer = page.locator(ANSWER)
    expect(answer).to_have_attribute("data-status", "complete")
    first_id = answer.get_attribute("data-id")
    expect(answer.locator(".branches")).to_have_count(0)

    answer.get_by_role("button", name="Regenerate the answer").click()
    expect(answer).not_to_have_attribute("data-id", first_id)
    expect(answer).to_have_attribute("data-status", "complete")
    second_id = answer.get_attribute("data-id")
    expect(page.locator(ANSWER)).to_have_count(1)  # one branch shown, not both
    expect(answer.locator(".branch-count")).to_have_text("2/2")

    answer.get_by_role("button", name="Previous version").click()
    expect(answer).to_have_attribute("data-id", first_id)
    expect(answer.locator(".branch-count")).to_have_text("1/2")
    expect(answer.get_by_role("button", name="Next version")).to_be_focused()
    expect(answer.get_by_role("button", name="Previous version")).to_be_disabled()

    # The conversation continues from the shown branch: the first answer.
    ask(page, "And then?")
    follow_up = page.locator(QUESTION).nth(1)
    expect(follow_up).to_have_attribute("data-id", re.compile(r"\d+"))
    expect(page.locator(ANSWER).nth(1)).to_have_attribute("data-status", "complete")
    question = Message.objects.get(pk=int(follow_up.get_attribute("data-id")))
    assert question.parent_id == int(first_id)

    # Back to the second answer: its branch has no follow-up.
    page.locator(ANSWER).first.get_by_role("button", name="Next version").click()
    expect(page.locator(ANSWER).first).to_have_attribute("data-id", second_id)
    expect(page.locator(QUESTION)).to_have_count(1)
    page.reload()  # the most recent leaf is shown by default: the follow-up's branch
    expect(page.locator(QUESTION)).to_have_count(2)
    expect(page.locator(ANSWER).first).to_have_attribute("data-id", first_id)


def test_edit_and_resend_makes_a_sibling_with_its_own_answer(page, daphne_url, owner):
    sign_in(page, daphne_url, owner.email)
    ask(page, "First question")
    expect(page.locator(ANSWER)).to_have_attribute("data-status", "complete")
    ask(page, "Second question")
    expect(page.locator(ANSWER).nth(1)).to_have_attribute("data-status", "complete")
    original = page.locator(QUESTION).nth(1)
    original_id = int(original.get_attribute("data-id"))

    original.get_by_role("button", name="Edit message").click()
    editor = page.get_by_role("textbox", name="Edit your message")
    expect(editor).to_have_value("Second question")
    editor.fill("Second question, better put")
    editor.press("Enter")
    edited = page.locator(QUESTION).nth(1)
    expect(edited.locator(".content")).to_have_text("Second question, better put")
    expect(edited.locator(".branch-count")).to_have_text("2/2")
    expect(page.locator(ANSWER).nth(1)).to_have_attribute("data-status", "complete")
    expect(page.locator(ANSWER).nth(1).locator(".content")).to_contain_text("better put")
    new = Message.objects.get(pk=int(edited.get_attribute("data-id")))
    assert new.parent_id == Message.objects.get(pk=original_id).parent_id
    assert new.children.get().role == "assistant"

    edited.get_by_role("button", name="Previous version").click()
    expect(page.locator(QUESTION).nth(1).locator(".content")).to_have_text("Second question")

    # Editing the very first message makes a new root, a sibling of it.
    first = page.locator(QUESTION).first
    first.get_by_role("button", name="Edit message").click()
    page.get_by_role("textbox", name="Edit your message").fill("First, rephrased")
    page.get_by_role("button", name="Send edit").click()
    expect(page.locator(QUESTION).first.locator(".content")).to_have_text("First, rephrased")
    expect(page.locator(QUESTION)).to_have_count(1)
    expect(page.locator(QUESTION).first.locator(".branch-count")).to_have_text("2/2")
    expect(page.locator(ANSWER)).to_have_attribute("data-status", "complete")
    roots = Message.objects.filter(parent=None).order_by("id")
    assert [m.content for m in roots] == ["First question", "First, rephrased"]


def test_an_edit_can_be_cancelled_with_esc(page, daphne_url, owner):
    conversation, _ = stored_answer(owner, "Fine.", question="Keep me")
    sign_in(page, daphne_url, owner.email)
    page.goto(f"{daphne_url}/c/{conversation.pk}/")
    page.locator(QUESTION).get_by_role("button", name="Edit message").click()
    page.get_by_role("textbox", name="Edit your message").fill("Changed my mind")
    page.keyboard.press("Escape")
    expect(page.get_by_role("textbox", name="Edit your message")).to_have_count(0)
    expect(page.locator(QUESTION).locator(".content")).to_have_text("Keep me")
    assert Message.objects.count() == 2


def test_copy_puts_the_message_and_each_code_block_on_the_clipboard(page, daphne_url, owner):
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    markdown = "Run this:\n\n```python\nprint('hi')\n```\n\nand **that** is all."
    conversation, _ = stored_answer(owner, markdown)
    sign_in(page, daphne_url, owner.email)
    page.goto(f"{daphne_url}/c/{conversation.pk}/")
    answer = page.locator(ANSWER)
    copy = answer.get_by_role("button", name="Copy message")
    copy.click()
    expect(copy).to_have_text("Copied")
    assert page.evaluate("navigator.clipboard.readText()") == markdown
    code = answer.get_by_role("button", name="Copy code")
    code.click()
    expect(code).to_have_text("Copied")
    assert page.evaluate("navigator.clipboard.readText()") == "print('hi')\n"


def test_copy_falls_back_without_the_clipboard_api(page, daphne_url, owner):
    conversation, _ = stored_answer(owner, "Copy me")
    sign_in(page, daphne_url, owner.email)
    page.goto(f"{daphne_url}/c/{conversation.pk}/")
    # No permission and no API: the textarea-and-execCommand path is what is left.
    page.evaluate(
        """() => {
            Object.defineProperty(navigator, 'clipboard', { value: undefined });
            window.__copied = null;
            document.addEventListener('copy', () => {
                window.__copied = document.activeElement.value;
            });
        }"""
    )
    copy = page.locator(ANSWER).get_by_role("button", name="Copy message")
    copy.click()
    expect(copy).to_have_text("Copied")
    assert page.evaluate("window.__copied") == "Copy me"
    assert page.locator("textarea.clipboard-fallback").count() == 0


def test_answer_details_show_model_region_speed_and_failover(page, daphne_url, owner):
    conversation, _ = stored_answer(owner, "Details please.")
    sign_in(page, daphne_url, owner.email)
    page.goto(f"{daphne_url}/c/{conversation.pk}/")
    details = page.locator(ANSWER).locator(".answer-details")
    expect(details.locator("dl")).not_to_be_visible()
    details.locator("summary").click()
    text = details.locator("dl")
    expect(text).to_be_visible()
    for expected in (
        "Modelaiportal-emulator",
        "Regioneu-west",
        "Time to first token120 ms",
        "Tokens per second50.0",
        # A worker failed before the first token and another died mid-answer: one account.
        "Failoveryes: 1 worker failed before the first token; the worker stopped mid-answer "
        "and another continued it",
    ):
        expect(text).to_contain_text(expected)
    # The worker is for staff (test_worker_visibility.py); the owner here is not.
    expect(text).not_to_contain_text("Worker")


def test_an_answer_saved_without_metrics_claims_no_details(page, daphne_url, owner):
    conversation = services.conversation_create(user=owner, title="Bare")
    _, answer = services.message_create_turn(
        conversation=conversation, parent=None, content="Q", model=""
    )
    services.message_finish(message_id=answer.pk, content="A", last_seq=1, status="complete")
    sign_in(page, daphne_url, owner.email)
    page.goto(f"{daphne_url}/c/{conversation.pk}/")
    details = page.locator(ANSWER).locator(".answer-details")
    details.locator("summary").click()
    expect(details.locator("dl")).to_have_text("No details were recorded for this answer.")


def test_a_live_answer_has_details_from_the_worker(page, daphne_url, owner):
    sign_in(page, daphne_url, owner.email)
    ask(page, "Hello")
    answer = page.locator(ANSWER)
    expect(answer).to_have_attribute("data-status", "complete")
    answer.locator(".answer-details summary").click()
    dl = answer.locator(".answer-details dl")
    expect(dl).to_contain_text("Regiontest-a")
    expect(dl).to_contain_text("Tokens per second")
    expect(dl).to_contain_text("Failoverno")


def test_the_model_picker_shows_served_models_and_the_choice_is_kept(page, daphne_url, owner):
    sign_in(page, daphne_url, owner.email)
    picker = page.get_by_label("Model", exact=True)
    expect(picker).to_be_enabled()
    expect(picker).to_have_value("aiportal-emulator")
    frames = sent_frames(page)
    page.reload()
    expect(page.locator("#socket-status")).to_have_attribute("data-state", "connected")
    expect(picker).to_have_value("aiportal-emulator")
    ask(page, "Which model?")
    expect(page.locator(ANSWER)).to_have_attribute("data-status", "complete")
    send = next(f for f in frames if f["type"] == "chat.send")
    assert send["model"] == "aiportal-emulator"
    assert Conversation.objects.get().model == "aiportal-emulator"


def test_the_owner_sets_the_system_prompt_from_the_header(page, daphne_url, owner):
    conversation, _ = stored_answer(owner, "Hi.")
    sign_in(page, daphne_url, owner.email)
    page.goto(f"{daphne_url}/c/{conversation.pk}/")
    page.locator("#conversation-settings summary").click()
    prompt = page.get_by_label("System prompt for this conversation")
    prompt.fill("You are a pirate.")
    page.locator(".settings-form").get_by_role("button", name="Save").click()
    expect(page.locator("#settings-status")).to_have_text("Saved.")
    conversation.refresh_from_db()
    assert conversation.system_prompt == "You are a pirate."
    page.reload()
    page.locator("#conversation-settings summary").click()
    expect(page.get_by_label("System prompt for this conversation")).to_have_value(
        "You are a pirate."
    )


def test_a_new_chat_has_no_system_prompt_box_until_it_exists(page, daphne_url, owner):
    sign_in(page, daphne_url, owner.email)
    expect(page.locator("#conversation-settings")).to_be_hidden()
    ask(page, "Start")
    expect(page).to_have_url(re.compile(r"/c/\d+/$"))
    expect(page.locator("#conversation-settings")).to_be_visible()


def test_a_2000_message_conversation_opens_at_its_last_message_and_loads_more_upward(
    page, daphne_url, owner
):
    conversation = services.conversation_create(user=owner, title="Very long")
    parent = None
    for i in range(2000):
        parent = Message.objects.create(
            conversation=conversation,
            parent=parent,
            role="user" if i % 2 == 0 else "assistant",
            content=f"Message number {i}",
        )
    sign_in(page, daphne_url, owner.email)
    page.goto(f"{daphne_url}/c/{conversation.pk}/")
    last = page.locator(".message").last
    expect(last.locator(".content")).to_have_text("Message number 1999")
    expect(last).to_be_in_viewport()
    expect(page.locator(".message")).to_have_count(50)
    # Scrolling to the top brings the 50 before, and keeps the reader's place: the message
    # that was at the top is still on screen, so nothing more loads until they scroll again.
    # (One scroll only: a second one after the load would rightly load 50 more.)
    page.locator("#messages").evaluate("el => { el.scrollTop = 0; }")
    expect(page.locator(".message")).to_have_count(100)
    expect(page.locator(".message").first.locator(".content")).to_have_text("Message number 1900")
    expect(page.get_by_text("Message number 1950", exact=True)).to_be_in_viewport()
    assert page.locator("#messages").evaluate("el => el.scrollTop") > 0
    expect(page.get_by_role("button", name="Show earlier messages")).to_be_attached()


def two_branches(owner):
    """Two versions of the first question, each with a deeper branch below it; the second
    was written last, so it is shown first."""
    conversation = services.conversation_create(user=owner, title="Two branches")

    def chain(first: str) -> list[Message]:
        parent, made = None, []
        for i, text in enumerate([first, "answer A", "follow-up", "answer B"]):
            parent = Message.objects.create(
                conversation=conversation,
                parent=parent,
                role="user" if i % 2 == 0 else "assistant",
                content=f"{text} ({first})",
            )
            made.append(parent)
        return made

    return conversation, chain("old"), chain("new")


def test_switching_to_a_branch_not_on_the_page_loads_it(page, daphne_url, owner):
    conversation, old, _ = two_branches(owner)
    sign_in(page, daphne_url, owner.email)
    page.goto(f"{daphne_url}/c/{conversation.pk}/")
    expect(page.locator(".message")).to_have_count(4)
    expect(page.locator(".message").last.locator(".content")).to_have_text("answer B (new)")
    with page.expect_response(re.compile(r"/messages/\?ids=")) as fetched:
        page.locator(QUESTION).first.get_by_role("button", name="Previous version").click()
    assert fetched.value.ok
    expect(page.locator(".message").last.locator(".content")).to_have_text("answer B (old)")
    expect(page.locator(QUESTION).first.locator(".branch-count")).to_have_text("1/2")
    assert [
        int(x) for x in page.locator(".message").evaluate_all("els => els.map(e => e.dataset.id)")
    ] == [m.pk for m in old]


def test_a_branch_that_fails_to_load_says_so_and_keeps_the_page(page, daphne_url, owner):
    conversation, _, _ = two_branches(owner)
    sign_in(page, daphne_url, owner.email)
    page.goto(f"{daphne_url}/c/{conversation.pk}/")
    page.route(re.compile(r"/messages/\?ids="), lambda route: route.abort())
    page.locator(QUESTION).first.get_by_role("button", name="Previous version").click()
    expect(page.get_by_role("alert")).to_have_text(
        "Could not load that branch. Check the connection and try again."
    )
    expect(page.locator(".message").last.locator(".content")).to_have_text("answer B (new)")


def test_earlier_messages_that_fail_to_load_say_so(page, daphne_url, owner):
    conversation = services.conversation_create(user=owner, title="Long")
    parent = None
    for i in range(60):
        parent = Message.objects.create(
            conversation=conversation, parent=parent, role="user", content=f"m{i}"
        )
    sign_in(page, daphne_url, owner.email)
    page.route(re.compile(r"/messages/\?ids="), lambda route: route.abort())
    page.goto(f"{daphne_url}/c/{conversation.pk}/")
    page.get_by_role("button", name="Show earlier messages").click()
    expect(page.get_by_role("alert")).to_have_text(
        "Could not load earlier messages. Scroll up to try again."
    )
    expect(page.locator(".message")).to_have_count(50)


def test_switching_far_up_a_long_branch_keeps_the_switched_message_in_view(page, daphne_url, owner):
    conversation = services.conversation_create(user=owner, title="Two long branches")
    for name in ("old", "new"):
        parent = None
        for i in range(60):
            parent = Message.objects.create(
                conversation=conversation,
                parent=parent,
                role="user" if i % 2 == 0 else "assistant",
                content=f"{name} {i}",
            )
    sign_in(page, daphne_url, owner.email)
    page.goto(f"{daphne_url}/c/{conversation.pk}/")
    expect(page.locator(".message").last.locator(".content")).to_have_text("new 59")
    page.locator("#messages").evaluate("el => { el.scrollTop = 0; }")
    expect(page.locator(".message")).to_have_count(60)
    first = page.locator(".message").first
    expect(first.locator(".content")).to_have_text("new 0")
    first.get_by_role("button", name="Previous version").click()
    expect(first.locator(".content")).to_have_text("old 0")
    expect(first.locator(".branch-count")).to_have_text("1/2")
    expect(first).to_be_in_viewport()
    expect(page.locator(".message")).to_have_count(60)
    expect(page.locator(".message").last.locator(".content")).to_have_text("old 59")
    # The keyboard stays on the arrows: the used one is disabled now, so on the other one.
    expect(first.get_by_role("button", name="Next version")).to_be_focused()


def test_a_system_prompt_that_cannot_be_saved_says_so(page, daphne_url, owner):
    conversation, _ = stored_answer(owner, "Hi.")
    sign_in(page, daphne_url, owner.email)
    page.goto(f"{daphne_url}/c/{conversation.pk}/")
    page.route(re.compile(r"/settings/$"), lambda route: route.abort())
    page.locator("#conversation-settings summary").click()
    page.get_by_label("System prompt for this conversation").fill("Lost")
    page.locator(".settings-form").get_by_role("button", name="Save").click()
    expect(page.locator("#settings-status")).to_have_text(
        "Could not save: check the connection and try again."
    )
    conversation.refresh_from_db()
    assert conversation.system_prompt == ""


def test_without_any_model_served_the_picker_says_so(page, daphne_url, owner):
    page.route(re.compile(r"/chat/models/$"), lambda route: route.fulfill(json={"models": []}))
    sign_in(page, daphne_url, owner.email)
    picker = page.get_by_label("Model", exact=True)
    expect(picker).to_be_disabled()
    expect(picker.locator("option")).to_have_text("No model available")
