"""Poison requests, as a person sees them: an answer that no worker could process (422
``request_unprocessable``, tests/security/test_poison_requests.py) says what to do about it,
in Chromium against a real Daphne."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from chat import services
from chat.models import Message
from tests.chat.test_browser import sign_in

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("transactional_db")]


def test_a_person_whose_message_no_worker_can_process_is_told_what_to_do(page, daphne_url, owner):
    conversation = services.conversation_create(user=owner, title="Odd text")
    _, answer = services.message_create_turn(
        conversation=conversation, parent=None, content="Some odd text"
    )
    services.message_finish(
        message_id=answer.pk,
        content="",
        last_seq=0,
        status=Message.Status.ERROR,
        error_code="request_unprocessable",
    )
    sign_in(page, daphne_url, owner.email)
    page.goto(f"{daphne_url}/c/{conversation.pk}/")
    expect(page.locator(".message.assistant")).to_contain_text(
        "could not process this message. Try rewording it"
    )
