"""The chat pages: sign-in required, the user's own data only, and nothing inline for the CSP
to forbid."""

from __future__ import annotations

import json
import re
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from chat import services
from chat.models import Message

pytestmark = pytest.mark.django_db


@pytest.fixture
def client_for():
    def make(user) -> Client:
        client = Client()
        client.force_login(user)
        return client

    return make


def page_data(response) -> dict:
    match = re.search(
        rb'<script id="chat-data" type="application/json">(.*?)</script>', response.content
    )
    assert match, "the page passes its data with json_script"
    return json.loads(match.group(1))


def test_anonymous_visitors_are_sent_to_sign_in(client):
    response = client.get("/")
    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/?next=/"
    assert client.get("/c/1/")["Location"] == "/accounts/login/?next=/c/1/"


def test_the_chat_page_has_a_strict_csp_and_no_inline_script(owner, client_for):
    response = client_for(owner).get("/")
    assert response.status_code == 200
    csp = response["Content-Security-Policy"]
    assert "script-src 'self'" in csp
    # Images only from the static files (never from rendered content): docs/chat.md.
    assert "img-src http://testserver/static/ data:" in csp
    assert "unsafe-inline" not in csp
    html = response.content.decode()
    for tag in re.findall(r"<script[^>]*>", html):
        assert ' src="' in tag or 'type="application/json"' in tag, tag
    assert " style=" not in html
    assert "<style" not in html
    assert 'type="module"' in html
    assert response["Cache-Control"].startswith("max-age=0")


def test_the_conversation_page_shows_its_messages_and_the_sidebar(owner, outsider, client_for):
    older = services.conversation_create(user=owner, title="Older <b>chat</b>")
    current = services.conversation_create(user=owner, title="Current chat")
    services.conversation_create(user=outsider, title="Not yours")
    _, answer = services.message_create_turn(
        conversation=current, parent=None, content="What is 2+2?", model=""
    )
    services.message_finish(message_id=answer.pk, content="**4**", last_seq=3, status="complete")

    response = client_for(owner).get(f"/c/{current.pk}/")
    html = response.content.decode()
    assert html.index("Current chat") < html.index("Older &lt;b&gt;chat&lt;/b&gt;")
    assert f'href="/c/{current.pk}/" aria-current="page"' in html
    assert f'href="/c/{older.pk}/"' in html
    assert "Not yours" not in html
    data = page_data(response)
    assert data["v"] == 2
    assert data["conversation"]["id"] == current.pk
    assert [(m["role"], m["content"], m["status"]) for m in data["messages"]] == [
        ("user", "What is 2+2?", "complete"),
        ("assistant", "**4**", "complete"),
    ]
    assert data["messages"][1]["last_seq"] == 3


def test_loading_a_conversation_marks_lost_answers_interrupted(owner, client_for):
    conversation = services.conversation_create(user=owner, title="Lost")
    _, answer = services.message_create_turn(
        conversation=conversation, parent=None, content="Hello?", model=""
    )
    services.message_save_progress(message_id=answer.pk, content="Half an ans", last_seq=4)
    Message.objects.filter(pk=answer.pk).update(updated_at=timezone.now() - timedelta(minutes=1))

    data = page_data(client_for(owner).get(f"/c/{conversation.pk}/"))
    assert data["messages"][1]["status"] == "interrupted"
    assert data["messages"][1]["content"] == "Half an ans"
    assert Message.objects.get(pk=answer.pk).status == "interrupted"


def test_only_staff_see_the_admin_link(owner, make_user, client_for):
    admin = make_user("admin@example.com", is_staff=True)
    assert 'href="/admin/"' in client_for(admin).get("/").content.decode()
    assert 'href="/admin/"' not in client_for(owner).get("/").content.decode()


def test_the_sign_in_page_uses_the_sites_layout(client):
    response = client.get("/accounts/login/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "chat/chat." in html  # our stylesheet (hashed name)
    assert 'class="auth-card"' in html
    assert 'name="login"' in html
    assert "Content-Security-Policy" in response


def test_staff_can_browse_conversations_and_messages_in_admin(owner, make_user, client_for):
    conversation = services.conversation_create(user=owner, title="Audited")
    services.message_create_turn(conversation=conversation, parent=None, content="Hi", model="")
    client = client_for(make_user("admin@example.com", is_staff=True))
    page = client.get(f"/admin/chat/conversation/{conversation.pk}/change/")
    assert page.status_code == 200
    assert "Hi" in page.content.decode()
    listing = client.get("/admin/chat/message/?status__exact=streaming&role__exact=assistant")
    assert listing.status_code == 200
    assert "1 message" in listing.content.decode()


def test_the_sign_in_page_offers_no_sign_up_while_sign_up_is_closed(client, settings):
    settings.AIPORTAL_SIGNUP = "closed"
    html = client.get("/accounts/login/").content.decode()
    assert 'href="/accounts/signup/"' not in html
    assert "Accounts are created by your administrators." in html
    assert client.get("/accounts/signup/").status_code == 200  # allauth's "closed" page
    assert "closed" in client.get("/accounts/signup/").content.decode().lower()


def test_the_sign_in_page_links_to_sign_up_while_sign_up_is_open(client, settings):
    settings.AIPORTAL_SIGNUP = "open"
    html = client.get("/accounts/login/").content.decode()
    assert 'href="/accounts/signup/"' in html
