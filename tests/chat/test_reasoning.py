"""A reasoning model in the chat: its thinking streams over the socket apart from the answer,
is saved on the message, reloaded with it, and never sent back to the model as the answer."""

from __future__ import annotations

import pytest
from channels.db import database_sync_to_async
from django.test import Client

from chat import selectors, services
from chat.models import Message
from tests.chat.conftest import send_frame, signed_in
from tests.conftest import start_emulator

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("no_leftover_generations"),
]


@pytest.fixture(scope="module")
def thinking_emulator_url():
    process, url = start_emulator(
        "--tokens-per-second", "400", "--ttft-ms", "10", "--reasoning-parser", "qwen3",
        region="test-thinking",
    )  # fmt: skip
    yield url
    process.stop()


@pytest.fixture(scope="module")
def slow_thinking_url():
    """About 6 s for an answer: time to resume in the middle of its thinking."""
    process, url = start_emulator(
        "--tokens-per-second", "40", "--ttft-ms", "10", "--reasoning-parser", "qwen3",
        region="test-thinking",
    )  # fmt: skip
    yield url
    process.stop()


@pytest.fixture
def thinking_worker(settings, thinking_emulator_url):
    settings.AIPORTAL_WORKERS = f"{thinking_emulator_url}@test-thinking"
    return thinking_emulator_url


@database_sync_to_async
def get_message(pk: int) -> Message:
    return Message.objects.get(pk=pk)


async def test_the_thinking_streams_apart_from_the_answer_and_is_saved(owner, thinking_worker):
    async with signed_in(owner) as socket:
        await socket.send(send_frame("Why is the sky blue?"))
        answer = await socket.assistant_created()
        done = await socket.until_final(answer["id"])

    deltas = socket.deltas(answer["id"])
    assert [d["seq"] for d in deltas] == list(range(1, len(deltas) + 1))
    thinking = "".join(d.get("reasoning", "") for d in deltas)
    text = "".join(d["text"] for d in deltas)
    assert thinking.startswith(("The user", "Reading", "The question"))
    # One thinking, then the answer: no delta thinks after the answer began.
    first_text = next(i for i, d in enumerate(deltas) if d["text"])
    assert not any(d.get("reasoning") for d in deltas[first_text + 1 :])
    assert done["status"] == "complete"
    assert (done["reasoning"], done["content"]) == (thinking, text)
    assert thinking not in text

    saved = await get_message(answer["id"])
    assert (saved.reasoning, saved.content) == (thinking, text)


async def test_the_thinking_is_reloaded_but_never_sent_back_to_the_model(owner, thinking_worker):
    async with signed_in(owner) as socket:
        await socket.send(send_frame("Why is the sky blue?"))
        first = await socket.assistant_created()
        done = await socket.until_final(first["id"])
        conversation_id = first["conversation"]
        await socket.send(
            send_frame("And at sunset?", conversation=conversation_id, parent=first["id"])
        )
        second = await socket.assistant_created()
        await socket.until_final(second["id"])

    @database_sync_to_async
    def context_and_reload():
        message = Message.objects.get(pk=second["id"])
        client = Client()
        client.force_login(owner)
        page = client.get(f"/c/{conversation_id}/messages/?ids={first['id']}").json()
        return selectors.message_context(message=message.parent), page

    context, page = await context_and_reload()
    # The next turn's messages carry the earlier answer's text only.
    answer_turns = [m for m in context if m["role"] == "assistant"]
    assert answer_turns == [{"role": "assistant", "content": done["content"]}]
    assert all(done["reasoning"] not in m["content"] for m in context)
    (reloaded,) = page["messages"]
    assert reloaded["reasoning"] == done["reasoning"]
    assert reloaded["content"] == done["content"]


async def test_a_continued_answer_keeps_its_thinking_once(owner, thinking_worker):
    async with signed_in(owner) as socket:
        await socket.send(send_frame("Tell me everything"))
        whole = await socket.until_final((await socket.assistant_created())["id"])

    @database_sync_to_async
    def stopped_answer():
        conversation = services.conversation_create(user=owner, title="Earlier")
        _, answer = services.message_create_turn(
            conversation=conversation, parent=None, content="Tell me everything", model=""
        )
        services.message_finish(
            message_id=answer.pk,
            content=whole["content"][:40],
            reasoning=whole["reasoning"],
            last_seq=5,
            status="stopped",
        )
        return answer

    answer = await stopped_answer()
    async with signed_in(owner) as socket:
        await socket.send({"type": "chat.continue", "message": answer.pk})
        done = await socket.until_final(answer.pk)
    later = socket.deltas(answer.pk)
    assert not any(d.get("reasoning") for d in later)  # a continued answer does not think
    assert done["status"] == "complete"
    assert (done["reasoning"], done["content"]) == (whole["reasoning"], whole["content"])


async def test_a_resumed_answer_gets_the_thinking_so_far_in_its_snapshot(
    owner, settings, slow_thinking_url
):
    settings.AIPORTAL_WORKERS = f"{slow_thinking_url}@test-thinking"
    async with signed_in(owner) as socket:
        await socket.send(send_frame("Why is the sky blue?"))
        answer = await socket.assistant_created()
        await socket.until(lambda f: f["type"] == "message.delta" and f["seq"] == 3)
        async with signed_in(owner) as other:
            await other.send({"type": "chat.resume", "message": answer["id"], "after_seq": 0})
            snapshot = await other.until_type("message.snapshot")
            await other.send({"type": "chat.stop", "message": answer["id"]})
            await other.until_final(answer["id"])
        await socket.until_final(answer["id"])
    upto = [d for d in socket.deltas(answer["id"]) if d["seq"] <= snapshot["seq"]]
    assert snapshot["reasoning"] == "".join(d.get("reasoning", "") for d in upto)
    assert snapshot["reasoning"] and snapshot["content"] == "".join(d["text"] for d in upto)
