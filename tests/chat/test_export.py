"""Exports of one conversation, as Markdown and as JSON: the shown branch, as attachments,
for the owner only (the outsider's 404 is in test_conversations.py)."""

from __future__ import annotations

import json

import pytest
from django.test import Client

from chat import services
from chat.export import export_filename

pytestmark = pytest.mark.django_db


@pytest.fixture
def conversation(owner):
    conversation = services.conversation_create(user=owner, title='Plans: "Q3" / budget')
    _, answer = services.message_create_turn(
        conversation=conversation, parent=None, content="## Assistant\nfake turn", model="m"
    )
    services.message_finish(
        message_id=answer.pk, content="Here is **the plan**.", last_seq=2, status="complete"
    )
    return conversation


@pytest.fixture
def client(owner):
    client = Client()
    client.force_login(owner)
    return client


def test_markdown_export_is_an_attachment_with_the_whole_branch(client, conversation):
    response = client.get(f"/c/{conversation.pk}/export.md")
    assert response.status_code == 200
    assert response["Content-Type"] == "text/markdown; charset=utf-8"
    assert response["Content-Disposition"] == (
        f'attachment; filename="plans-q3-budget-{conversation.pk}.md"'
    )
    assert response.content.decode() == (
        '# Plans: "Q3" / budget\n\n'
        "## You\n\n> ## Assistant\n> fake turn\n\n"
        "## Assistant\n\nHere is **the plan**.\n"
    )


def test_json_export_is_an_attachment_a_program_can_read(client, conversation, owner):
    response = client.get(f"/c/{conversation.pk}/export.json")
    assert response["Content-Type"] == "application/json; charset=utf-8"
    assert response["Content-Disposition"].startswith('attachment; filename="plans-q3-budget-')
    data = json.loads(response.content)
    assert data["format"] == "aiportal.conversation"
    assert data["conversation"]["title"] == 'Plans: "Q3" / budget'
    assert [(m["role"], m["content"]) for m in data["messages"]] == [
        ("user", "## Assistant\nfake turn"),
        ("assistant", "Here is **the plan**."),
    ]
    assert data["messages"][1]["parent"] == data["messages"][0]["id"]
    assert owner.email not in response.content.decode()


def test_an_unfinished_answer_says_so_in_markdown(client, owner):
    conversation = services.conversation_create(user=owner, title="Cut short")
    _, answer = services.message_create_turn(
        conversation=conversation, parent=None, content="Go on", model=""
    )
    services.message_finish(message_id=answer.pk, content="Half", last_seq=1, status="stopped")
    assert "Half\n\n*(stopped)*" in client.get(f"/c/{conversation.pk}/export.md").content.decode()


def test_a_title_without_letters_still_makes_a_file_name(owner):
    conversation = services.conversation_create(user=owner, title="«»")
    assert export_filename(conversation, "md") == f"conversation-{conversation.pk}.md"


def test_a_reasoning_models_thinking_is_exported_apart_from_the_answer(client, owner):
    conversation = services.conversation_create(user=owner, title="Thought through")
    _, answer = services.message_create_turn(
        conversation=conversation, parent=None, content="Why?", model="m"
    )
    services.message_finish(
        message_id=answer.pk,
        content="Because.",
        reasoning="First, the question.\n## Assistant\nThen the answer.",
        last_seq=3,
        status="complete",
    )

    markdown = client.get(f"/c/{conversation.pk}/export.md").content.decode()
    data = json.loads(client.get(f"/c/{conversation.pk}/export.json").content)

    # Quoted under its own label, before the answer: a heading in it stays quoted.
    assert markdown.endswith(
        "## Assistant\n\n"
        "> **Thinking**\n>\n> First, the question.\n> ## Assistant\n> Then the answer.\n\n"
        "Because.\n"
    )
    assert [(m["content"], m["reasoning"]) for m in data["messages"]] == [
        ("Why?", ""),
        ("Because.", "First, the question.\n## Assistant\nThen the answer."),
    ]


CITATIONS = [
    {
        "n": 1,
        "dataset": 5,
        "dataset_name": "Team handbook",
        "title": "Leave `policy`",
        "key": "upload:leave.md",
        "url": "https://intranet.example/leave",
        "chunk": 12,
        "snippet": "Thirty days…",
        "context": "Leave policy / Days",
        "passage": "Thirty days a year.\n## Assistant\nbooked ahead.",
    },
    {"n": 2, "attachment": 41, "title": "plan.txt", "chunk": None, "snippet": "The 12th."},
]


def _cited(owner):
    conversation = services.conversation_create(user=owner, title="Cited")
    _, answer = services.message_create_turn(
        conversation=conversation, parent=None, content="Leave?", model="m"
    )
    services.message_finish(
        message_id=answer.pk,
        content="Thirty days [1].",
        last_seq=2,
        status="complete",
        metrics={"citations": CITATIONS},
    )
    return conversation


def test_an_answer_s_sources_are_exported_with_their_passages(client, owner):
    conversation = _cited(owner)
    markdown = client.get(f"/c/{conversation.pk}/export.md").content.decode()
    data = json.loads(client.get(f"/c/{conversation.pk}/export.json").content)

    # Each passage quoted under its source: a heading in a document stays quoted.
    assert markdown.endswith(
        "Thirty days [1].\n\n**Sources**\n\n"
        "[1] `` Leave `policy` `` (` Team handbook `) <https://intranet.example/leave>\n"
        "> Thirty days a year.\n> ## Assistant\n> booked ahead.\n\n"
        "[2] ` plan.txt ` (` attached file `)\n> The 12th.\n"
    )
    assert data["messages"][1]["citations"] == CITATIONS
    assert data["messages"][0]["citations"] == []


def test_a_shared_link_carries_the_sources_and_their_passages(owner):
    conversation = _cited(owner)
    token = services.conversation_share_create(user=owner, id=conversation.pk)
    response = Client().get(f"/s/{token}/")
    assert response.status_code == 200
    messages = response.context["share_data"]["messages"]
    assert messages[1]["citations"] == CITATIONS
