"""Titles from the first exchange: asked of the model through the gateway once the first
answer is done, pushed to open pages as ``conversation.updated``; the first line of the
question stays when the gateway fails, when the user renamed it, or after the first turn."""

from __future__ import annotations

import pytest
from channels.db import database_sync_to_async

from chat import services
from chat.models import Conversation
from chat.services import conversations
from chat.services.conversations import conversation_title_generate, title_clean
from tests.chat.conftest import generations_finished, send_frame, signed_in

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("no_leftover_generations"),
]


@pytest.fixture
def titles_on(settings):
    settings.AIPORTAL_CHAT_TITLES = True


@database_sync_to_async
def title_of(pk: int) -> str:
    return Conversation.objects.get(pk=pk).title


@database_sync_to_async
def finished_first_turn(user, question: str) -> tuple[Conversation, int]:
    conversation = services.conversation_create(
        user=user, title=services.conversation_title_from(question)
    )
    _, answer = services.message_create_turn(
        conversation=conversation, parent=None, content=question, model=""
    )
    services.message_finish(
        message_id=answer.pk, content="An answer.", last_seq=1, status="complete"
    )
    return conversation, answer.pk


@pytest.mark.usefixtures("titles_on")
async def test_the_first_answer_brings_a_generated_title_to_the_open_page(owner, workers):
    async with signed_in(owner) as socket:
        await socket.send(send_frame("Tell me about the weather on Mars in winter"))
        created = await socket.until_type("conversation.created")
        conversation = created["conversation"]
        assert conversation["title"] == "Tell me about the weather on Mars in winter"
        answer = await socket.assistant_created()
        done = await socket.until_final(answer["id"])
        assert done["status"] == "complete"
        updated = await socket.until_type("conversation.updated")
    # The emulator's demo answer to the title prompt: a few words about the question.
    title = updated["conversation"]["title"]
    assert "Weather on Mars in Winter" in title
    assert "*" not in title
    assert len(title) <= conversations.TITLE_CHARS
    assert updated["conversation"]["id"] == conversation["id"]
    assert await title_of(conversation["id"]) == title


@pytest.mark.usefixtures("titles_on")
async def test_only_the_first_answer_makes_a_title(owner, workers):
    async with signed_in(owner) as socket:
        await socket.send(send_frame("First question"))
        conversation = (await socket.until_type("conversation.created"))["conversation"]
        await socket.until_type("conversation.updated")
        await generations_finished()
        await database_sync_to_async(services.conversation_rename)(
            user=owner, id=conversation["id"], title="Mine"
        )
        await socket.until(
            lambda f: f["type"] == "conversation.updated" and f["conversation"]["title"] == "Mine"
        )
        await socket.send(send_frame("Second question", conversation=conversation["id"]))
        answer = await socket.assistant_created()
        await socket.until_final(answer["id"])
        await generations_finished()
        assert await socket.nothing_more()
    assert await title_of(conversation["id"]) == "Mine"


@pytest.mark.usefixtures("titles_on")
async def test_when_the_gateway_fails_the_first_line_stays(owner, settings):
    settings.AIPORTAL_WORKERS = "http://127.0.0.1:9@nowhere"  # nothing listens on port 9
    conversation, answer_id = await finished_first_turn(owner, "Plan my week\nin detail")
    assert await conversation_title_generate(message_id=answer_id, user=owner) is None
    assert await title_of(conversation.pk) == "Plan my week in detail"


@pytest.mark.usefixtures("titles_on")
async def test_a_title_that_takes_too_long_is_given_up(owner, slow_worker, monkeypatch):
    # The slow worker needs about a second for a title; give it a tenth of that.
    monkeypatch.setattr(conversations, "TITLE_TIMEOUT", 0.1)
    conversation, answer_id = await finished_first_turn(owner, "Take your time")
    assert await conversation_title_generate(message_id=answer_id, user=owner) is None
    assert await title_of(conversation.pk) == "Take your time"


@pytest.mark.usefixtures("titles_on")
async def test_a_renamed_conversation_keeps_its_name(owner, workers):
    conversation, answer_id = await finished_first_turn(owner, "Something")
    await database_sync_to_async(services.conversation_rename)(
        user=owner, id=conversation.pk, title="Chosen by me"
    )
    assert await conversation_title_generate(message_id=answer_id, user=owner) is None
    assert await title_of(conversation.pk) == "Chosen by me"


async def test_titles_can_be_turned_off(owner, workers, settings):
    settings.AIPORTAL_CHAT_TITLES = False
    conversation, answer_id = await finished_first_turn(owner, "Stay as typed")
    assert await conversation_title_generate(message_id=answer_id, user=owner) is None
    assert await title_of(conversation.pk) == "Stay as typed"


@pytest.mark.parametrize(
    ("reply", "title"),
    [
        ('"Weather on Mars"', "Weather on Mars"),
        ("**Title:** Trip planning.\nMore text", "Trip planning"),
        ("\n\n  # Budget review  ", "Budget review"),
        ("“Curly quotes”", "Curly quotes"),
        (
            "Short Title Of Eight Words Is Still Fine Here",
            "Short Title Of Eight Words Is Still Fine Here",
        ),
    ],
)
def test_a_models_reply_is_cleaned_into_a_title(reply, title):
    assert title_clean(reply) == title


BOILERPLATE = (
    "Hello! You are talking to the aiportal vLLM emulator. No language model read your "
    "message: this is a demo answer."
)


@pytest.mark.parametrize(
    "reply",
    [
        BOILERPLATE,
        "",
        "  \n\n ",
        "x" * 100,
        "This conversation is about planning a trip to the mountains with the whole family",
        "Sure: here is an overview.\n\n## Key points\n\n- one\n- two",
        "I'm sorry, I can't help with that.",
        "As an AI, I do not have opinions",
        "Title",
        "*A demo answer from the **aiportal vLLM emulator**: no language model read it.*",
    ],
)
def test_a_reply_that_is_no_title_is_refused(reply):
    assert title_clean(reply) == ""


@pytest.mark.usefixtures("titles_on")
async def test_a_boilerplate_reply_leaves_the_first_question_as_the_title(owner, monkeypatch):
    import gateway

    async def boilerplate(**_):
        return {"choices": [{"message": {"content": BOILERPLATE}}]}

    monkeypatch.setattr(gateway, "completion_once", boilerplate)
    conversation, answer_id = await finished_first_turn(owner, "Plan a trip to Lisbon")
    assert await conversation_title_generate(message_id=answer_id, user=owner) is None
    assert await title_of(conversation.pk) == "Plan a trip to Lisbon"
