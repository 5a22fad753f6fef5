"""Settings → Preferences: a default model and custom instructions that every new chat starts
with (the instructions as its system message), a theme on every page; and allauth's sign-in
and re-authentication pages worded like the rest of the product."""

from __future__ import annotations

import json
import re

from django.test import Client
from django.urls import reverse

from accounts.models import Preferences
from accounts.preferences import preferences_update
from chat import selectors
from chat.services import conversation_create, message_create_turn
from tests.accounts.data_fixtures import signed_in

PAGE = reverse("settings:preferences")


def _save(user, **fields):
    values = {
        "default_model": "",
        "custom_instructions": "",
        "theme": "system",
        "language": "",
        **fields,
    }
    return preferences_update(user=user, **values)


def test_custom_instructions_are_the_system_message_of_every_new_chat(owner):
    before = conversation_create(user=owner, title="Before")
    _save(owner, custom_instructions="Answer in British English, briefly.")
    conversation = conversation_create(user=owner, title="After")
    question, _answer = message_create_turn(conversation=conversation, parent=None, content="Hi")
    context = selectors.message_context(message=question)
    assert context[0] == {"role": "system", "content": "Answer in British English, briefly."}
    assert context[-1] == {"role": "user", "content": "Hi"}
    # A chat that existed before keeps what it had.
    first, _ = message_create_turn(conversation=before, parent=None, content="Hi")
    assert "British" not in json.dumps(selectors.message_context(message=first))


def test_the_default_model_starts_new_chats_and_the_picker(owner):
    _save(owner, default_model="tiny-model")
    assert conversation_create(user=owner).model == "tiny-model"
    assert conversation_create(user=owner, model="other").model == "other"  # the picker's
    page = signed_in(owner).get(reverse("chat:index")).content.decode()
    data = json.loads(re.search(r'id="chat-data"[^>]*>(.*?)</script>', page, re.S).group(1))
    assert data["model"] == "tiny-model"


def test_the_page_saves_preferences_and_refuses_what_it_cannot_keep(owner):
    client = signed_in(owner)
    assert client.get(PAGE).status_code == 200
    assert PAGE in client.get(reverse("settings:index")).content.decode()
    answer = client.post(
        PAGE, {"default_model": "", "custom_instructions": "Be brief.", "theme": "dark"}
    )
    assert answer.status_code == 302
    saved = Preferences.objects.get(user=owner)
    assert (saved.custom_instructions, saved.theme) == ("Be brief.", "dark")
    refused = client.post(PAGE, {"default_model": "", "custom_instructions": "", "theme": "pink"})
    assert refused.status_code == 400
    assert Preferences.objects.get(user=owner).theme == "dark"


def test_the_theme_is_on_every_page_of_a_signed_in_person(owner):
    client = signed_in(owner)
    assert "data-theme-choice" not in client.get(reverse("apikeys:list")).content.decode()
    _save(owner, theme="dark")
    for url in (reverse("apikeys:list"), reverse("datasets:list"), reverse("chat:index")):
        assert 'data-theme-choice="dark"' in client.get(url).content.decode(), url


def test_the_sign_in_page_words_remember_me_like_the_product(db):
    page = Client().get(reverse("account_login")).content.decode()
    assert "Keep me signed in on this browser" in page
    assert "Remember Me" not in page


def test_the_confirm_access_page_reads_like_the_product(owner):
    page = signed_in(owner).get(reverse("account_reauthenticate")).content.decode()
    assert "Confirm it&#x27;s you" in page or "Confirm it's you" in page
    assert "Confirm Access" not in page and "Please reauthenticate" not in page


def test_changing_the_instructions_later_changes_no_chat(owner):
    # Copied into the conversation when it starts: editable there, and kept.
    _save(owner, custom_instructions="One.")
    conversation = conversation_create(user=owner)
    _save(owner, custom_instructions="Two.")
    conversation.refresh_from_db()
    assert conversation.system_prompt == "One."
