"""Read-only share links: no login needed, only the conversation's shown branch, nothing
about the owner, revocable, and only a digest of the token stored."""

from __future__ import annotations

import json
import re

import pytest
from django.test import Client

from chat import services
from chat.models import ConversationShare

pytestmark = pytest.mark.django_db


def shared_conversation(owner, *, title="Shared <b>title</b>"):
    conversation = services.conversation_create(user=owner, title=title)
    _, answer = services.message_create_turn(
        conversation=conversation, parent=None, content="What is <i>2+2</i>?", model=""
    )
    services.message_finish(message_id=answer.pk, content="**4**", last_seq=1, status="complete")
    token = services.conversation_share_create(user=owner, id=conversation.pk)
    return conversation, token


def share_data(response) -> dict:
    match = re.search(
        rb'<script id="share-data" type="application/json">(.*?)</script>', response.content
    )
    assert match
    return json.loads(match.group(1))


def test_anyone_with_the_link_reads_the_conversation_without_signing_in(owner):
    conversation, token = shared_conversation(owner)
    response = Client().get(f"/s/{token}/")
    assert response.status_code == 200
    html = response.content.decode()
    assert share_data(response) == {
        "title": "Shared <b>title</b>",
        "messages": [
            {
                "role": "user",
                "content": "What is <i>2+2</i>?",
                "status": "complete",
                "attachments": [],
                "citations": [],
            },
            {
                "role": "assistant",
                "content": "**4**",
                "status": "complete",
                "attachments": [],
                "citations": [],  # the sources an answer rests on are shared with it
            },
        ],
    }
    # Escaped in the page, noindex, uncacheable, no referrer; nothing about the owner.
    assert "<title>Shared &lt;b&gt;title&lt;/b&gt; · shared · aiportal</title>" in html
    assert '<meta name="robots" content="noindex, nofollow">' in html
    assert response["X-Robots-Tag"] == "noindex, nofollow"
    assert response["Cache-Control"] == "private, no-store"
    assert response["Referrer-Policy"] == "no-referrer"
    assert owner.email not in html
    assert "conversation-list" not in html
    assert f"/c/{conversation.pk}/" not in html


def test_the_share_page_keeps_the_strict_csp(owner):
    _, token = shared_conversation(owner)
    response = Client().get(f"/s/{token}/")
    csp = response["Content-Security-Policy"]
    assert "script-src 'self'" in csp
    assert "unsafe-inline" not in csp
    html = response.content.decode()
    for tag in re.findall(r"<script[^>]*>", html):
        assert ' src="' in tag or 'type="application/json"' in tag, tag
    assert " style=" not in html


def test_only_the_shown_branch_is_shared(owner):
    conversation, token = shared_conversation(owner)
    first_answer = conversation.messages.get(role="assistant")
    # A regenerated answer is a sibling; the page shows the latest branch only.
    sibling = conversation.messages.create(
        parent=first_answer.parent, role="assistant", content="Four, again", status="complete"
    )
    assert sibling.pk
    contents = [m["content"] for m in share_data(Client().get(f"/s/{token}/"))["messages"]]
    assert contents == ["What is <i>2+2</i>?", "Four, again"]


def test_only_a_digest_of_the_token_is_stored(owner):
    _, token = shared_conversation(owner)
    share = ConversationShare.objects.get()
    assert token not in share.token_digest
    assert len(share.token_digest) == 64
    assert len(token) >= 32


def test_an_unknown_link_is_404_and_a_revoked_or_deleted_one_says_it_is_gone(owner):
    conversation, token = shared_conversation(owner)
    assert Client().get("/s/not-a-real-token/").status_code == 404
    services.conversation_share_revoke(user=owner, id=conversation.pk)
    gone = Client().get(f"/s/{token}/")
    assert gone.status_code == 410 and "This conversation is gone" in gone.content.decode()
    assert gone["Cache-Control"] == "private, no-store"

    token = services.conversation_share_create(user=owner, id=conversation.pk)
    assert Client().get(f"/s/{token}/").status_code == 200
    services.conversation_delete(user=owner, id=conversation.pk)
    assert Client().get(f"/s/{token}/").status_code == 410


def test_a_new_link_replaces_the_old_one(owner):
    conversation, old = shared_conversation(owner)
    new = services.conversation_share_create(user=owner, id=conversation.pk)
    assert Client().get(f"/s/{old}/").status_code == 410
    assert Client().get(f"/s/{new}/").status_code == 200


def test_the_endpoints_make_and_revoke_links_for_the_owner(owner):
    conversation = services.conversation_create(user=owner, title="Via the API")
    client = Client()
    client.force_login(owner)
    made = client.post(f"/api/conversations/{conversation.pk}/share/")
    url = made.json()["url"]
    assert re.fullmatch(r"http://testserver/s/[A-Za-z0-9_-]{32}/", url)
    assert Client().get(url.removeprefix("http://testserver")).status_code == 200
    page = client.get(f"/c/{conversation.pk}/").content.decode()
    assert '"shared": true' in page
    assert client.post(f"/api/conversations/{conversation.pk}/share/revoke/").json() == {
        "revoked": 1
    }
    assert Client().get(url.removeprefix("http://testserver")).status_code == 410
