"""chat.continue: an interrupted or stopped answer goes on, as the same message, from the
text it has; anything else is refused with bad_state and the socket stays open."""

from __future__ import annotations

from datetime import timedelta

import pytest
from channels.db import database_sync_to_async
from django.utils import timezone

from chat import services
from chat.models import Message
from gateway.admission import budget_add
from gateway.callers import caller_for_user
from gateway.models import Policy
from tests.chat.conftest import send_frame, signed_in

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("no_leftover_generations"),
]


@database_sync_to_async
def get_message(pk: int) -> Message:
    return Message.objects.get(pk=pk)


@database_sync_to_async
def finished_answer(owner, *, status: str, content: str, last_seq: int) -> Message:
    conversation = services.conversation_create(user=owner, title="Earlier")
    _, answer = services.message_create_turn(
        conversation=conversation, parent=None, content="Tell me everything", model=""
    )
    services.message_finish(message_id=answer.pk, content=content, last_seq=last_seq, status=status)
    return answer


async def test_a_stopped_answer_continues_as_the_same_message_after_its_last_seq(
    owner, slow_worker
):
    async with signed_in(owner) as socket:
        await socket.send(send_frame("Tell me everything"))
        answer = await socket.assistant_created()
        await socket.until(lambda f: f["type"] == "message.delta" and f["seq"] == 3)
        await socket.send({"type": "chat.stop", "message": answer["id"]})
        stopped = await socket.until_final(answer["id"])
        assert stopped["status"] == "stopped"
        before = len(socket.frames)

        await socket.send({"type": "chat.continue", "message": answer["id"], "client_id": "k"})
        again = await socket.until_type("message.created")
        done = await socket.until_final(answer["id"])
    assert again["message"]["id"] == answer["id"]
    assert again["message"]["status"] == "streaming"
    assert again["message"]["last_seq"] == stopped["seq"]
    assert again["client_id"] == "k"
    later = [f for f in socket.frames[before:] if f["type"] == "message.delta"]
    assert [d["seq"] for d in later] == list(
        range(stopped["seq"] + 1, stopped["seq"] + 1 + len(later))
    )
    assert len(later) > 3
    assert done["type"] == "message.done"
    assert done["status"] == "complete"
    assert done["content"] == stopped["content"] + "".join(d["text"] for d in later)
    assert done["seq"] == stopped["seq"] + len(later)
    assert done["metrics"]["continued_by_user"] is True
    saved = await get_message(answer["id"])
    assert (saved.status, saved.content, saved.last_seq) == (
        "complete",
        done["content"],
        done["seq"],
    )
    assert await Message.objects.filter(role="assistant").acount() == 1


async def test_the_continued_answer_reads_as_if_it_had_never_stopped(owner, workers):
    # The emulator answers as a function of the conversation, and continues a partial answer
    # where it stands: a continued answer must equal the one never interrupted.
    async with signed_in(owner) as socket:
        await socket.send(send_frame("Tell me everything"))
        whole = await socket.until_final((await socket.assistant_created())["id"])
    # Cut where a stopped stream can stop mid-line (a cut inside the whitespace between
    # paragraphs is the worker's to write again: the chat's continue does not stitch it yet).
    partial = whole["content"][:40].rstrip()
    answer = await finished_answer(owner, status="stopped", content=partial, last_seq=2)
    async with signed_in(owner) as socket:
        await socket.send({"type": "chat.continue", "message": answer.pk})
        done = await socket.until_final(answer.pk)
    assert done["status"] == "complete"
    assert done["content"] == whole["content"]


async def test_an_answer_whose_generator_died_is_interrupted_and_can_be_continued(owner, workers):
    answer = await finished_answer(owner, status="complete", content="", last_seq=0)

    @database_sync_to_async
    def lose_it() -> None:
        # Streaming, with its last heartbeat a minute ago: its process died.
        Message.objects.filter(pk=answer.pk).update(
            status="streaming",
            content="Half an ans",
            last_seq=2,
            updated_at=timezone.now() - timedelta(minutes=1),
        )

    await lose_it()
    async with signed_in(owner) as socket:
        await socket.send({"type": "chat.continue", "message": answer.pk})
        done = await socket.until_final(answer.pk)
    assert done["status"] == "complete"
    assert done["content"].startswith("Half an ans")
    assert len(done["content"]) > len("Half an ans")
    assert done["seq"] > 2


@pytest.mark.parametrize("status", ["complete", "error", "streaming"])
async def test_only_an_interrupted_or_stopped_answer_can_be_continued(owner, workers, status):
    answer = await finished_answer(owner, status="complete", content="Done.", last_seq=1)
    await Message.objects.filter(pk=answer.pk).aupdate(status=status)
    async with signed_in(owner) as socket:
        await socket.send({"type": "chat.continue", "message": answer.pk, "client_id": "c"})
        refused = await socket.receive()
        assert refused["type"] == "message.error"
        assert refused["code"] == "bad_state"
        assert refused["message"] is None
        assert refused["client_id"] == "c"
        assert refused["detail"]
        # Still open.
        await socket.send({"type": "ping"})
        assert (await socket.receive())["type"] == "pong"
    saved = await get_message(answer.pk)
    assert (saved.status, saved.content) == (status, "Done.")


async def test_a_question_cannot_be_continued(owner, workers):
    answer = await finished_answer(owner, status="stopped", content="Part", last_seq=1)
    async with signed_in(owner) as socket:
        await socket.send({"type": "chat.continue", "message": answer.parent_id})
        refused = await socket.receive()
    assert refused["code"] == "bad_state"


async def test_a_continuation_that_cannot_start_keeps_the_text_and_says_why(owner, workers):
    answer = await finished_answer(owner, status="stopped", content="Part one", last_seq=1)
    await Policy.objects.acreate(user=owner, daily_token_budget=1)
    await budget_add(await caller_for_user(owner), 5)
    async with signed_in(owner) as socket:
        await socket.send({"type": "chat.continue", "message": answer.pk})
        final = await socket.until_final(answer.pk)
    # Still interrupted, not failed: the text is there, and can be continued tomorrow.
    assert final["type"] == "message.done"
    assert final["status"] == "interrupted"
    assert final["code"] == "over_budget"
    assert final["resets_at"]
    assert final["content"] == "Part one"
    saved = await get_message(answer.pk)
    assert (saved.status, saved.content, saved.error_code) == (
        "interrupted",
        "Part one",
        "over_budget",
    )
