"""The message view's JSON views and page data: owner only (404 for anyone else), CSRF on
the settings POST, a long branch sent as a window, and the model picker's choices."""

from __future__ import annotations

import json
import time

import pytest
from django.contrib.auth.models import Group
from django.test import AsyncClient, Client

from chat import services
from chat.models import ChatDefaults, Message
from gateway.models import ModelAccess
from tests.chat.test_pages import page_data
from tests.gateway.pool_helpers import telemetry_fixture  # noqa: F401

pytestmark = pytest.mark.django_db


def client_for(user, **kwargs) -> Client:
    client = Client(**kwargs)
    client.force_login(user)
    return client


@pytest.fixture
def chat(owner):
    conversation = services.conversation_create(user=owner, title="Mine")
    question, answer = services.message_create_turn(
        conversation=conversation, parent=None, content="Secret question", model=""
    )
    services.message_finish(
        message_id=answer.pk, content="Secret answer", last_seq=1, status="complete"
    )
    return conversation, question, answer


def post_settings(client, conversation, body):
    return client.post(
        f"/c/{conversation.pk}/settings/", data=json.dumps(body), content_type="application/json"
    )


def test_the_owner_fetches_messages_by_id(owner, chat):
    conversation, question, answer = chat
    response = client_for(owner).get(
        f"/c/{conversation.pk}/messages/?ids={answer.pk},{question.pk}"
    )
    assert response.status_code == 200
    got = response.json()["messages"]
    assert [m["content"] for m in got] == ["Secret question", "Secret answer"]
    assert got[1]["parent"] == question.pk


def test_it_rejects_an_outsider_fetching_messages(outsider, chat):
    conversation, question, _ = chat
    response = client_for(outsider).get(f"/c/{conversation.pk}/messages/?ids={question.pk}")
    assert response.status_code == 404
    assert b"Secret" not in response.content


def test_messages_of_another_conversation_are_not_returned(owner, outsider, chat):
    _, question, _ = chat
    theirs = services.conversation_create(user=outsider, title="Theirs")
    response = client_for(outsider).get(f"/c/{theirs.pk}/messages/?ids={question.pk}")
    assert response.status_code == 200
    assert response.json() == {"messages": []}


@pytest.mark.parametrize("ids", ["", "1,x", ",".join(["1"] * 201), "-1", "9" * 30])
def test_bad_message_ids_are_a_400(owner, chat, ids):
    conversation, _, _ = chat
    response = client_for(owner).get(f"/c/{conversation.pk}/messages/?ids={ids}")
    assert response.status_code == 400
    assert response.json()["code"] == "bad_request"


def test_anonymous_visitors_cannot_fetch_messages(client, chat):
    conversation, question, _ = chat
    response = client.get(f"/c/{conversation.pk}/messages/?ids={question.pk}")
    assert response.status_code == 302
    assert "/accounts/login/" in response["Location"]


def test_the_owner_sets_the_system_prompt(owner, chat):
    conversation, _, _ = chat
    response = post_settings(client_for(owner), conversation, {"system_prompt": "Be terse."})
    assert response.status_code == 200
    assert response.json()["conversation"]["system_prompt"] == "Be terse."
    conversation.refresh_from_db()
    assert conversation.system_prompt == "Be terse."


def test_it_rejects_an_outsider_changing_settings(outsider, chat):
    conversation, _, _ = chat
    response = post_settings(client_for(outsider), conversation, {"system_prompt": "Pwned"})
    assert response.status_code == 404
    conversation.refresh_from_db()
    assert conversation.system_prompt == ""


def test_settings_need_the_csrf_token(owner, chat):
    conversation, _, _ = chat
    client = client_for(owner, enforce_csrf_checks=True)
    client.get(f"/c/{conversation.pk}/")  # sets the CSRF cookie, as the page does
    refused = post_settings(client, conversation, {"system_prompt": "No token"})
    assert refused.status_code == 403
    token = client.cookies["csrftoken"].value
    accepted = client.post(
        f"/c/{conversation.pk}/settings/",
        data=json.dumps({"system_prompt": "With token"}),
        content_type="application/json",
        headers={"X-CSRFToken": token},
    )
    assert accepted.status_code == 200
    conversation.refresh_from_db()
    assert conversation.system_prompt == "With token"


def test_the_page_carries_a_csrf_token_for_the_settings_view(owner, chat):
    conversation, _, _ = chat
    data = page_data(client_for(owner).get(f"/c/{conversation.pk}/"))
    assert data["csrfToken"]


@pytest.mark.parametrize(
    "body",
    [
        {},
        [],
        {"system_prompt": 3},
        {"model": 3},
        {"title": "x"},
        {"system_prompt": "a\x00b"},
        {"system_prompt": "x" * 100_000},
    ],
)
def test_bad_settings_are_a_400_and_change_nothing(owner, chat, body):
    conversation, _, _ = chat
    response = post_settings(client_for(owner), conversation, body)
    assert response.status_code == 400
    conversation.refresh_from_db()
    assert conversation.system_prompt == ""


def test_settings_that_are_not_json_are_a_400(owner, chat):
    conversation, _, _ = chat
    response = client_for(owner).post(
        f"/c/{conversation.pk}/settings/", data="nope", content_type="application/json"
    )
    assert response.status_code == 400


def test_a_model_the_owner_may_not_use_is_refused(owner, chat):
    conversation, _, _ = chat
    ModelAccess.objects.create(model="restricted").groups.add(Group.objects.create(name="vip"))
    response = post_settings(client_for(owner), conversation, {"model": "restricted"})
    assert response.status_code == 400
    assert response.json()["code"] == "model_unavailable"
    conversation.refresh_from_db()
    assert conversation.model == ""
    ok = post_settings(client_for(owner), conversation, {"model": "open-model"})
    assert ok.status_code == 200
    conversation.refresh_from_db()
    assert conversation.model == "open-model"


def test_a_long_branch_is_sent_as_its_last_fifty_messages_and_the_whole_tree(owner):
    conversation = services.conversation_create(user=owner, title="Long")
    parent = None
    for i in range(120):
        parent = Message.objects.create(
            conversation=conversation,
            parent=parent,
            role="user" if i % 2 == 0 else "assistant",
            content=f"message {i}",
        )
    data = page_data(client_for(owner).get(f"/c/{conversation.pk}/"))
    assert len(data["tree"]) == 120
    assert [m["content"] for m in data["messages"]] == [f"message {i}" for i in range(70, 120)]
    assert data["tree"][0][1] is None and data["tree"][1][1] == data["tree"][0][0]


def test_the_page_uses_the_admins_default_model(owner, chat):
    conversation, _, _ = chat
    defaults = ChatDefaults.load()
    defaults.model = "house"
    defaults.system_prompt = "Default prompt"
    defaults.save()
    data = page_data(client_for(owner).get(f"/c/{conversation.pk}/"))
    assert data["model"] == "house"
    assert data["defaultSystemPrompt"] == "Default prompt"


def test_admins_edit_the_chat_defaults(make_user):
    admin = make_user("root@example.com", is_staff=True)
    admin.is_superuser = True
    admin.save()
    client = client_for(admin)
    response = client.get("/admin/chat/chatdefaults/")
    assert response.status_code == 200
    response = client.post(
        "/admin/chat/chatdefaults/add/", {"model": "house", "system_prompt": "Be kind."}
    )
    assert response.status_code == 302
    assert ChatDefaults.load().system_prompt == "Be kind."
    # A second row cannot be added.
    assert client.get("/admin/chat/chatdefaults/add/").status_code == 403


@pytest.mark.django_db(transaction=True)
async def test_the_model_picker_lists_models_served_now_that_the_user_may_use(
    telemetry, emulator_url, owner, outsider
):
    from gateway.telemetry.snapshot import snapshot_wait

    telemetry.AIPORTAL_WORKERS = f"{emulator_url}@test-a"
    vip = await Group.objects.acreate(name="vip")
    rule = await ModelAccess.objects.acreate(model="aiportal-emulator")
    await rule.groups.aadd(vip)
    await owner.groups.aadd(vip)
    await snapshot_wait(after=time.time())
    client = AsyncClient()
    await client.aforce_login(owner)
    assert (await client.get("/chat/models/")).json() == {"models": ["aiportal-emulator"]}
    other = AsyncClient()
    await other.aforce_login(outsider)
    assert (await other.get("/chat/models/")).json() == {"models": []}
    assert (await AsyncClient().get("/chat/models/")).status_code == 404
