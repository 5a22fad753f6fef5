"""Assistants in Chromium: a new chat starts from an assistant picked on the empty screen, a
starter prompt sends the first message, the answer comes and the header names the
assistant; the assistants page makes, shares and deletes one."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from assistants.models import Assistant, AssistantGrant, Level
from assistants.services import assistant_create, assistant_grant_add, assistant_grant_remove
from chat.models import Conversation
from tests.chat.test_browser import sign_in
from tests.datasets.test_browser_datasets import in_thread
from tests.pages.shots import shots

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("transactional_db")]


def test_a_chat_starts_from_an_assistant_and_its_starter_prompt(page, daphne_url, owner, helper):
    assistant_create(
        user=owner,
        name="Translator",
        icon="TR",
        colour="violet",
        description="Puts any text into plain French, keeping the tone and the terms of art.",
    )
    sign_in(page, daphne_url, owner.email)
    picker = page.locator("#assistant-picker")
    card = picker.get_by_role("button", name=re.compile("Release notes writer"))
    expect(card).to_be_visible()
    expect(page.locator("#assistant-badge")).to_be_hidden()
    card.click()
    expect(card).to_have_attribute("aria-pressed", "true")
    # Picked: the header names it already, and its starter prompts are offered.
    expect(page.locator("#assistant-badge")).to_contain_text("Release notes writer")
    starter = picker.get_by_role("button", name="Summarise these changes")
    expect(starter).to_be_visible()
    shots(page, "assistant-picker")
    starter.click()
    answer = page.locator(".message.assistant")
    expect(answer).to_have_attribute("data-status", "complete")
    expect(page.locator(".message.user .content")).to_have_text("Summarise these changes")
    expect(picker).to_be_hidden()
    expect(page).to_have_url(re.compile(r"/c/\d+/$"))
    conversation = Conversation.objects.get(owner=owner)
    assert conversation.assistant_id == helper.pk
    # After a reload the header still names the conversation's assistant.
    page.reload()
    expect(page.locator("#assistant-badge")).to_contain_text("Release notes writer")
    expect(page.locator("#assistant-picker")).to_be_hidden()
    shots(page, "assistant-conversation")


def test_the_assistants_page_makes_shares_and_deletes_one(page, daphne_url, owner, member):
    sign_in(page, daphne_url, owner.email)
    page.goto(f"{daphne_url}/assistants/")
    shots(page, "assistants-empty")
    page.fill("#id_name", "Reviewer")
    page.fill("#id_icon", "abc")  # neither an emoji nor initials: refused, nothing stored
    page.select_option("#id_colour", "orange")
    page.fill("#id_description", "Reviews a pull request for clarity.")
    page.fill("#id_system_prompt", "You review code kindly.")
    page.fill("#id_temperature", "0.4")
    page.fill("#id_starter_0", "Review this diff")
    page.click("#assistant-create button[type=submit]")
    expect(page.locator("#assistant-create .flash .error")).to_contain_text("emoji")
    assert not Assistant.objects.exists()
    # What was typed is still there, to correct.
    expect(page.locator("#id_system_prompt")).to_have_value("You review code kindly.")
    page.fill("#id_icon", "RV")
    page.click("#assistant-create button[type=submit]")
    expect(page).to_have_url(re.compile(r"/assistants/\d+/$"))
    made = Assistant.objects.get(name="Reviewer")
    assert made.temperature == 0.4 and made.starter_prompts == ["Review this diff"]
    page.fill("#grant-who", member.email)
    page.click("#grant-add button[type=submit]")
    expect(page.locator("#grant-list")).to_contain_text(member.email)
    assert AssistantGrant.objects.filter(assistant=made, user=member).exists()
    shots(page, "assistant-detail")
    page.goto(f"{daphne_url}/assistants/")
    expect(page.locator("#assistant-list")).to_contain_text("Reviewer")
    shots(page, "assistants-list")
    page.goto(f"{daphne_url}/assistants/{made.pk}/")
    page.locator("details.danger-zone summary").click()
    page.click("#assistant-delete button[type=submit]")
    expect(page).to_have_url(f"{daphne_url}/assistants/")
    assert not Assistant.objects.filter(pk=made.pk).exists()


def test_an_assistant_no_longer_shared_leaves_the_open_picker_at_once(
    page, daphne_url, owner, member, helper
):
    grant = in_thread(
        assistant_grant_add, assistant=helper, user=owner, for_user=member, level=Level.USE
    )
    sign_in(page, daphne_url, member.email)
    # "Start a chat with it" links here: the assistant comes picked.
    page.goto(f"{daphne_url}/?assistant={helper.pk}")
    card = page.locator("#assistant-picker").get_by_role(
        "button", name=re.compile("Release notes writer")
    )
    expect(card).to_have_attribute("aria-pressed", "true")
    expect(page.locator("#assistant-badge")).to_contain_text("Release notes writer")
    expect(page.locator("#socket-status")).to_have_attribute("data-state", "connected")
    in_thread(assistant_grant_remove, grant=grant, user=owner)
    # assistants.changed: the page fetched its list again; the pick is gone with the card.
    expect(card).to_have_count(0)
    expect(page.locator("#assistant-badge")).to_be_hidden()
