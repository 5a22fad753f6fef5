"""The sidebar's data: the list page by page, search, rename, pin, delete with undo, and the
JSON endpoints that expose them (session, CSRF, owner only)."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from chat import selectors, services
from chat.models import Conversation, Message
from chat.services.conversations import UNDO_WINDOW, InvalidTitle

pytestmark = pytest.mark.django_db


@pytest.fixture
def client_for():
    def make(user, *, csrf: bool = False) -> Client:
        client = Client(enforce_csrf_checks=csrf)
        client.force_login(user)
        return client

    return make


def post(client: Client, path: str, body: dict | None = None, **extra):
    return client.post(path, json.dumps(body or {}), content_type="application/json", **extra)


def conversation_at(user, title: str, *, minutes_ago: float = 0, content: str = "") -> Conversation:
    conversation = services.conversation_create(user=user, title=title)
    if content:
        _, answer = services.message_create_turn(
            conversation=conversation, parent=None, content=content, model=""
        )
        services.message_finish(
            message_id=answer.pk, content="An answer", last_seq=1, status="complete"
        )
    Conversation.objects.filter(pk=conversation.pk).update(
        updated_at=timezone.now() - timedelta(minutes=minutes_ago)
    )
    conversation.refresh_from_db()
    return conversation


# --- The list ---------------------------------------------------------------------------------


def test_pages_go_from_the_most_recent_with_pinned_ones_apart(owner, outsider):
    made = [conversation_at(owner, f"c{i}", minutes_ago=i) for i in range(7)]
    conversation_at(outsider, "not yours")
    services.conversation_pin(user=owner, id=made[5].pk, pinned=True)

    first, cursor = selectors.conversation_page(user=owner, limit=4)
    second, end = selectors.conversation_page(user=owner, before=cursor, limit=4)
    assert [c.title for c in first + second] == ["c0", "c1", "c2", "c3", "c4", "c6"]
    assert end is None
    assert [c.title for c in selectors.conversation_list_pinned(user=owner)] == ["c5"]


def test_a_page_is_not_shifted_by_a_conversation_that_moves_to_the_top(owner):
    made = [conversation_at(owner, f"c{i}", minutes_ago=i) for i in range(4)]
    first, cursor = selectors.conversation_page(user=owner, limit=2)
    Conversation.objects.filter(pk=made[3].pk).update(updated_at=timezone.now())
    second, _ = selectors.conversation_page(user=owner, before=cursor, limit=2)
    assert [c.title for c in first] == ["c0", "c1"]
    assert [c.title for c in second] == ["c2"]


def test_the_list_endpoint_pages_through_a_thousand_conversations(owner, client_for):
    now = timezone.now()
    Conversation.objects.bulk_create(
        Conversation(owner=owner, title=f"Conversation {i}") for i in range(1000)
    )
    # bulk_create sets the same auto_now instant: spread them out, one a minute.
    for i, pk in enumerate(Conversation.objects.order_by("id").values_list("pk", flat=True)):
        Conversation.objects.filter(pk=pk).update(updated_at=now - timedelta(minutes=i))
    client = client_for(owner)
    seen: list[int] = []
    cursor = ""
    while True:
        data = client.get("/api/conversations/", {"cursor": cursor} if cursor else {}).json()
        seen += [item["id"] for item in data["items"]]
        if not data["next"]:
            break
        cursor = data["next"]
    assert len(seen) == len(set(seen)) == 1000
    page = client.get("/")
    assert page.content.decode().count('class="conversation-item"') == 50


def test_a_bad_cursor_is_a_clear_400(owner, client_for):
    response = client_for(owner).get("/api/conversations/", {"cursor": "yesterday"})
    assert response.status_code == 400
    assert response.json()["detail"] == "That page cursor is not valid."


def test_the_list_endpoint_needs_a_session(client):
    response = client.get("/api/conversations/")
    assert response.status_code == 401
    assert response.json()["code"] == "unauthenticated"


# --- Search -----------------------------------------------------------------------------------


def test_search_finds_titles_and_message_text_of_the_users_own_conversations(owner, outsider):
    by_title = conversation_at(owner, "Holiday PLANS", minutes_ago=5)
    by_text = conversation_at(
        owner, "Untitled thing", minutes_ago=1, content="Where to plan a trip"
    )
    conversation_at(owner, "Unrelated", content="Nothing here")
    conversation_at(outsider, "plans of the outsider", content="plan plan plan")

    found = selectors.conversation_search(user=owner, query="plan")
    assert [item["id"] for item in found] == [by_text.pk, by_title.pk]
    assert found[0]["snippet"] == "Where to plan a trip"
    assert selectors.conversation_search(user=owner, query="   ") == []


def test_search_skips_deleted_conversations(owner):
    gone = conversation_at(owner, "Secret recipe")
    services.conversation_delete(user=owner, id=gone.pk)
    assert selectors.conversation_search(user=owner, query="recipe") == []


def test_the_search_endpoint_answers_json_and_refuses_an_overlong_query(owner, client_for):
    conversation_at(owner, "Tax return", content="How do I file it?")
    client = client_for(owner)
    data = client.get("/api/conversations/", {"q": "file"}).json()
    assert [item["title"] for item in data["items"]] == ["Tax return"]
    response = client.get("/api/conversations/", {"q": "x" * 201})
    assert response.status_code == 400


# --- Rename and pin ---------------------------------------------------------------------------


def test_renaming_keeps_the_conversations_place_in_the_list(owner):
    old = conversation_at(owner, "Old", minutes_ago=60)
    before = old.updated_at
    services.conversation_rename(user=owner, id=old.pk, title="  A   new\nname ")
    old.refresh_from_db()
    assert old.title == "A new name"
    assert old.updated_at == before


@pytest.mark.parametrize(
    ("title", "detail"),
    [
        ("   ", "A title cannot be empty."),
        ("x" * 201, "A title may be at most 200 characters long."),
    ],
)
def test_a_bad_title_is_refused_and_changes_nothing(owner, client_for, title, detail):
    conversation = conversation_at(owner, "Keep me")
    with pytest.raises(InvalidTitle):
        services.conversation_rename(user=owner, id=conversation.pk, title=title)
    response = post(
        client_for(owner), f"/api/conversations/{conversation.pk}/rename/", {"title": title}
    )
    assert response.status_code == 400
    assert response.json() == {"code": "invalid_title", "detail": detail}
    conversation.refresh_from_db()
    assert conversation.title == "Keep me"


def test_rename_and_pin_need_the_right_types(owner, client_for):
    conversation = conversation_at(owner, "Typed")
    client = client_for(owner)
    assert (
        post(client, f"/api/conversations/{conversation.pk}/rename/", {"title": 3}).status_code
        == 400
    )
    assert (
        post(client, f"/api/conversations/{conversation.pk}/pin/", {"pinned": "yes"}).status_code
        == 400
    )
    response = client.post(
        f"/api/conversations/{conversation.pk}/rename/", "not json", content_type="application/json"
    )
    assert response.status_code == 400


def test_the_rename_and_pin_endpoints_change_the_conversation(owner, client_for):
    conversation = conversation_at(owner, "Before")
    client = client_for(owner)
    renamed = post(client, f"/api/conversations/{conversation.pk}/rename/", {"title": "After"})
    assert renamed.json()["conversation"]["title"] == "After"
    pinned = post(client, f"/api/conversations/{conversation.pk}/pin/", {"pinned": True})
    assert pinned.json()["conversation"]["pinned"] is True
    conversation.refresh_from_db()
    assert (conversation.title, conversation.pinned) == ("After", True)


# --- Delete and undo --------------------------------------------------------------------------


def test_delete_hides_at_once_and_undo_restores_everything(owner):
    conversation = conversation_at(owner, "Oops", content="Keep my words")
    services.conversation_delete(user=owner, id=conversation.pk)
    with pytest.raises(Conversation.DoesNotExist):
        selectors.conversation_get(user=owner, id=conversation.pk)
    assert list(selectors.conversation_list(user=owner)) == []
    services.conversation_restore(user=owner, id=conversation.pk)
    restored = selectors.conversation_get(user=owner, id=conversation.pk)
    assert [m.content for m in selectors.conversation_thread(conversation=restored)] == [
        "Keep my words",
        "An answer",
    ]


def test_after_the_undo_window_it_is_purged_and_cannot_come_back(owner):
    conversation = conversation_at(owner, "Gone", content="Forget this")
    services.conversation_delete(user=owner, id=conversation.pk)
    Conversation.objects.filter(pk=conversation.pk).update(
        deleted_at=timezone.now() - UNDO_WINDOW - timedelta(seconds=1)
    )
    with pytest.raises(Conversation.DoesNotExist):
        services.conversation_restore(user=owner, id=conversation.pk)
    assert services.conversation_purge_deleted(user=owner) == 1
    assert not Conversation.objects.filter(pk=conversation.pk).exists()
    assert not Message.objects.filter(conversation_id=conversation.pk).exists()


def test_a_deleted_conversations_page_and_messages_are_not_found(owner, client_for):
    conversation = conversation_at(owner, "Deleted", content="Hidden")
    message = conversation.messages.first()
    services.conversation_delete(user=owner, id=conversation.pk)
    assert client_for(owner).get(f"/c/{conversation.pk}/").status_code == 404
    with pytest.raises(Message.DoesNotExist):
        selectors.message_get(user=owner, id=message.pk)


def test_the_delete_and_restore_endpoints(owner, client_for):
    conversation = conversation_at(owner, "Round trip")
    client = client_for(owner)
    deleted = post(client, f"/api/conversations/{conversation.pk}/delete/")
    assert deleted.json() == {"deleted": conversation.pk, "undo_seconds": 10}
    assert post(client, f"/api/conversations/{conversation.pk}/restore/").status_code == 200
    again = post(client, f"/api/conversations/{conversation.pk}/restore/")
    assert again.status_code == 404
    assert again.json()["detail"] == "That conversation can no longer be restored."


# --- Ownership and CSRF on every endpoint -------------------------------------------------------

ENDPOINTS = [
    ("post", "/api/conversations/{id}/rename/", {"title": "Mine now"}),
    ("post", "/api/conversations/{id}/pin/", {"pinned": True}),
    ("post", "/api/conversations/{id}/delete/", {}),
    ("post", "/api/conversations/{id}/restore/", {}),
    ("post", "/api/conversations/{id}/share/", {}),
    ("post", "/api/conversations/{id}/share/revoke/", {}),
    ("get", "/c/{id}/export.md", None),
    ("get", "/c/{id}/export.json", None),
]


@pytest.mark.parametrize(("method", "path", "body"), ENDPOINTS)
def test_an_outsider_gets_404_from_every_endpoint_and_changes_nothing(
    owner, outsider, client_for, method, path, body
):
    conversation = conversation_at(owner, "Private", content="Secret")
    if "restore" in path:
        services.conversation_delete(user=owner, id=conversation.pk)
    client = client_for(outsider)
    url = path.format(id=conversation.pk)
    response = post(client, url, body) if method == "post" else client.get(url)
    assert response.status_code == 404
    assert b"Secret" not in response.content
    conversation.refresh_from_db()
    assert conversation.title == "Private"
    assert conversation.pinned is False
    assert (conversation.deleted_at is None) == ("restore" not in path)
    assert not conversation.shares.exists()
    # An id that never existed looks the same.
    missing = path.format(id=conversation.pk + 1000)
    response = post(client, missing, body) if method == "post" else client.get(missing)
    assert response.status_code == 404


@pytest.mark.parametrize(("method", "path", "body"), [e for e in ENDPOINTS if e[0] == "post"])
def test_every_post_needs_the_csrf_token(owner, client_for, method, path, body):
    conversation = conversation_at(owner, "Guarded")
    client = client_for(owner, csrf=True)
    url = path.format(id=conversation.pk)
    assert post(client, url, body).status_code == 403
    client.get("/")  # sets the CSRF cookie, as the page does
    token = client.cookies["csrftoken"].value
    assert post(client, url, body, HTTP_X_CSRFTOKEN=token).status_code in {200, 404}


@pytest.mark.parametrize(("method", "path", "body"), ENDPOINTS)
def test_every_endpoint_needs_a_session(owner, client, method, path, body):
    conversation = conversation_at(owner, "Signed out")
    url = path.format(id=conversation.pk)
    if method == "post":
        assert post(client, url, body).status_code == 401
    else:  # an export is a link the browser follows: to sign in, then back
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"] == f"/accounts/login/?next={url}"


def test_posts_only_where_posts_belong(owner, client_for):
    conversation = conversation_at(owner, "Methods")
    client = client_for(owner)
    assert client.get(f"/api/conversations/{conversation.pk}/delete/").status_code == 405
    assert post(client, "/api/conversations/").status_code == 405
