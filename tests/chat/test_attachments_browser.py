"""Attachments in a real browser against a real Daphne: a file and an image attached by the
paperclip, by pasting and by dropping, their chips, the answer, and the message's
attachments after a reload; refusals said in the composer."""

from __future__ import annotations

import base64

import pytest
from playwright.sync_api import expect

from chat import services
from chat.models import Conversation
from gateway.models import ModelCapability
from tests.chat.attachment_files import make_png
from tests.chat.test_browser import sign_in
from tests.pages.shots import shots

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("transactional_db")]

PLAN = b"The launch is on the 12th of March.\n"

# A file handed to the composer the way a browser does on paste or drop.
HAND_OVER = """([kind, name, type, b64]) => {
    const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
    const transfer = new DataTransfer();
    transfer.items.add(new File([bytes], name, { type }));
    if (kind === "paste") {
        document.getElementById("composer-input").dispatchEvent(
            new ClipboardEvent("paste", {
                clipboardData: transfer, bubbles: true, cancelable: true,
            })
        );
    } else {
        document.getElementById("composer").dispatchEvent(
            new DragEvent("drop", { dataTransfer: transfer, bubbles: true, cancelable: true })
        );
    }
}"""


def hand_over(page, kind: str, name: str, media_type: str, data: bytes) -> None:
    page.evaluate(HAND_OVER, [kind, name, media_type, base64.b64encode(data).decode()])


def image_loaded(locator) -> None:
    expect(locator).to_be_visible()
    locator.page.wait_for_function(
        "(img) => img.complete && img.naturalWidth > 0", arg=locator.element_handle()
    )


def test_a_person_attaches_a_file_and_an_image_and_gets_an_answer(page, daphne_url, owner):
    ModelCapability.objects.create(model="aiportal-emulator", vision=True)
    sign_in(page, daphne_url, owner.email)
    page.set_input_files(
        "#attach-input", files=[{"name": "plan.txt", "mimeType": "text/plain", "buffer": PLAN}]
    )
    hand_over(page, "paste", "screenshot.png", "image/png", make_png(120, 80))
    chips = page.locator("#attachment-chips .attachment-chip")
    expect(chips).to_have_count(2)
    expect(chips.nth(0)).to_have_attribute("data-state", "done")
    expect(chips.nth(1)).to_have_attribute("data-state", "done")
    expect(chips.nth(0).locator(".attachment-name")).to_have_text("plan.txt")
    image_loaded(chips.nth(1).locator("img.attachment-thumb"))
    expect(page.get_by_role("button", name="Remove screenshot.png")).to_be_visible()
    page.get_by_role("textbox", name="Message").fill("When is the launch?")
    shots(page, "attachments-composer")
    page.get_by_role("button", name="Send").click()

    user = page.locator(".message.user")
    expect(user.locator(".message-attachments .attachment-chip")).to_have_count(2)
    expect(page.locator("#attachment-chips")).to_be_hidden()
    answer = page.locator(".message.assistant")
    expect(answer).to_have_attribute("data-status", "complete")
    # The document was cited; its source opens in place on the passage.
    expect(answer.locator(".sources")).to_contain_text("plan.txt · Attached file")
    answer.locator(".sources summary").first.click()
    expect(answer.locator(".sources .source-passage").first).to_contain_text(
        "The launch is on the 12th of March."
    )

    page.reload()
    expect(page.locator(".message.assistant")).to_have_attribute("data-status", "complete")
    user = page.locator(".message.user")
    image_loaded(user.locator("img.attachment-thumb"))
    image_link = user.get_by_role("link", name="Open the image screenshot.png")
    assert image_link.get_attribute("target") == "_blank"
    assert image_link.get_attribute("href").endswith("/")
    expect(user.get_by_role("link", name="Download plan.txt")).to_be_visible()
    shots(page, "attachments-thread")

    # A share link's reader sees the same attachments, served through the link.
    conversation = Conversation.objects.get(owner=owner)
    token = services.conversation_share_create(user=owner, id=conversation.pk)
    page.goto(f"{daphne_url}/s/{token}/")
    shared = page.locator(".message.user")
    image_loaded(shared.locator("img.attachment-thumb"))
    assert f"/chat/attachments/s/{token}/" in shared.locator("img").get_attribute("src")
    names = shared.locator(".attachment-name")
    expect(names).to_have_count(2)
    assert sorted(names.all_inner_texts()) == ["plan.txt", "screenshot.png"]
    shots(page, "attachments-share")


def test_refusals_are_said_in_the_composer_and_leave_no_chip(page, daphne_url, owner):
    sign_in(page, daphne_url, owner.email)
    error = page.locator("#composer-error")
    hand_over(page, "drop", "tool.exe", "application/octet-stream", b"MZ\x90\x00")
    expect(error).to_contain_text("tool.exe")
    expect(page.locator("#attachment-chips .attachment-chip")).to_have_count(0)
    hand_over(page, "drop", "logo.png", "image/png", b"<svg onload=alert(1)></svg>")
    expect(error).to_contain_text("logo.png")
    # A text-only model: the image is refused when sent, and the chips come back.
    hand_over(page, "drop", "chart.png", "image/png", make_png())
    chip = page.locator("#attachment-chips .attachment-chip")
    expect(chip).to_have_attribute("data-state", "done")
    page.get_by_role("textbox", name="Message").fill("What is this?")
    page.get_by_role("button", name="Send").click()
    expect(error).to_contain_text("does not read images")
    expect(chip).to_have_count(1)
    expect(page.get_by_role("textbox", name="Message")).to_have_value("What is this?")
    expect(page.locator(".message")).to_have_count(0)
    # Removed before sending: gone from the composer.
    page.get_by_role("button", name="Remove chart.png").click()
    expect(chip).to_have_count(0)


def test_markup_in_a_file_name_is_shown_as_text(page, daphne_url, owner):
    name = "<img src=x onerror=window.pwned=1>**bold** `x`.txt"
    sign_in(page, daphne_url, owner.email)
    page.set_input_files(
        "#attach-input", files=[{"name": name, "mimeType": "text/html", "buffer": b"notes"}]
    )
    chip = page.locator("#attachment-chips .attachment-chip")
    expect(chip).to_have_attribute("data-state", "done")
    expect(chip.locator(".attachment-name")).to_have_text(name)
    page.get_by_role("textbox", name="Message").fill("Read it")
    page.get_by_role("button", name="Send").click()
    expect(page.locator(".message.assistant")).to_have_attribute("data-status", "complete")
    page.reload()
    shown = page.locator(".message.user .attachment-name")
    expect(shown).to_have_text(name)
    assert page.locator(".message.user img").count() == 0
    assert page.evaluate("window.pwned") is None
