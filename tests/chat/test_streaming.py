"""An answer's life over the socket: created, streamed, saved in batches, stopped, shared
with a second socket, and surviving the socket that asked for it."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from channels.db import database_sync_to_async
from django.utils import timezone

import chat.consumers
import chat.services.generation
import chat.services.progress
from chat import bus, services
from chat.models import Message
from tests.chat.conftest import (
    emulator_state,
    eventually,
    generations_finished,
    send_frame,
    signed_in,
)

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("no_leftover_generations"),
]


@database_sync_to_async
def get_message(pk: int) -> Message:
    return Message.objects.get(pk=pk)


@database_sync_to_async
def messages_of(conversation_id: int) -> list[Message]:
    return list(Message.objects.filter(conversation_id=conversation_id).order_by("id"))


async def test_it_streams_an_answer_and_saves_it(owner, workers):
    async with signed_in(owner) as socket:
        await socket.send(send_frame("Tell me about streams", client_id="c-1"))
        created = await socket.receive()
        assert created["type"] == "conversation.created"
        assert created["client_id"] == "c-1"
        assert created["conversation"]["title"] == "Tell me about streams"
        assert created["conversation"]["url"] == f"/c/{created['conversation']['id']}/"

        question = await socket.receive()
        assert question["type"] == "message.created"
        assert question["client_id"] == "c-1"
        assert question["message"]["role"] == "user"
        assert question["message"]["content"] == "Tell me about streams"

        answer = await socket.receive()
        assert answer["type"] == "message.created"
        assert answer["message"]["role"] == "assistant"
        assert answer["message"]["status"] == "streaming"
        assert answer["message"]["parent"] == question["message"]["id"]

        done = await socket.until_final(answer["message"]["id"])
        assert all(frame["v"] == 2 for frame in socket.frames)

    deltas = socket.deltas(answer["message"]["id"])
    assert len(deltas) > 3
    assert [d["seq"] for d in deltas] == list(range(1, len(deltas) + 1))
    text = "".join(d["text"] for d in deltas)
    assert done["type"] == "message.done"
    assert done["status"] == "complete"
    assert done["content"] == text
    assert done["seq"] == len(deltas)
    assert done["usage"]["completion_tokens"] > 0
    assert done["metrics"]["ttft_ms"] >= 0
    # The worker's address is for staff only (test_the_worker_is_named_to_staff_alone).
    assert "worker" not in done["metrics"]
    assert done["metrics"]["region"] == "test-a"
    # Speed over generation time (the gateway's, first token to last), not the wall clock.
    assert 0 < done["metrics"]["generation_ms"] <= done["metrics"]["duration_ms"]
    tokens = done["usage"]["completion_tokens"]
    speed = (tokens - 1) / (done["metrics"]["generation_ms"] / 1000)
    assert done["metrics"]["tokens_per_second"] == round(speed, 1)

    saved = await get_message(answer["message"]["id"])
    assert saved.status == Message.Status.COMPLETE
    assert saved.content == text
    assert saved.last_seq == len(deltas)
    assert saved.metrics["region"] == "test-a"
    assert saved.usage == done["usage"]


async def test_it_saves_the_question_before_the_answer_starts(owner, faulty_worker):
    faulty_worker(stall_after_tokens=0)  # the worker takes the request and says nothing
    async with signed_in(owner) as socket:
        await socket.send(send_frame("Are you there?"))
        answer = await socket.assistant_created()
        rows = await messages_of(answer["conversation"])
        assert [(m.role, m.content, m.status) for m in rows] == [
            ("user", "Are you there?", "complete"),
            ("assistant", "", "streaming"),
        ]
        await socket.send({"type": "chat.stop", "message": answer["id"]})
        done = await socket.until_final(answer["id"])
    assert done["status"] == "stopped"
    assert (await get_message(answer["id"])).status == Message.Status.STOPPED


async def test_it_saves_the_growing_answer_in_batches_not_per_token(
    owner, workers, settings, monkeypatch
):
    settings.AIPORTAL_SAVE_INTERVAL = 0.1
    saves: list[str] = []
    save = chat.services.progress._db_save_many

    async def counting_save(rows):
        saves.extend(row.content for row in rows)
        return await save(rows)

    monkeypatch.setattr(chat.services.progress, "_db_save_many", counting_save)
    async with signed_in(owner) as socket:
        await socket.send(send_frame("A long answer, please"))
        answer = await socket.assistant_created()
        started = time.monotonic()
        done = await socket.until_final(answer["id"])
        elapsed = time.monotonic() - started
    tokens = done["usage"]["completion_tokens"]
    # At most one save per interval while streaming (the final one is message_finish's):
    # for 200 tokens at 400/s, a handful of UPDATEs instead of one per token.
    assert 1 <= len(saves) <= elapsed / settings.AIPORTAL_SAVE_INTERVAL + 1
    assert len(saves) * 10 <= tokens
    assert len(saves) < len(socket.deltas(answer["id"]))
    # Each one a growing prefix of the answer, saved while it streamed.
    assert all(done["content"].startswith(content) for content in saves)
    assert 0 < len(saves[0]) < len(done["content"])
    assert (await get_message(answer["id"])).content == done["content"]


async def test_answers_streaming_together_are_saved_in_one_batch(
    owner, slow_worker, settings, monkeypatch
):
    settings.AIPORTAL_SAVE_INTERVAL = 0.1
    batches: list[dict[int, str]] = []
    save = chat.services.progress._db_save_many

    async def recording_save(rows):
        batches.append({row.message_id: row.content for row in rows})
        return await save(rows)

    monkeypatch.setattr(chat.services.progress, "_db_save_many", recording_save)
    async with signed_in(owner) as first, signed_in(owner) as second:
        await first.send(send_frame("Say a lot, slowly"))
        await second.send(send_frame("Say a lot too, slowly"))
        one = await first.assistant_created()
        two = await second.assistant_created()
        both = {one["id"], two["id"]}
        await eventually(lambda: any(set(batch) >= both for batch in batches), timeout=5)
        for socket, answer in ((first, one), (second, two)):
            await socket.send({"type": "chat.stop", "message": answer["id"]})
            await socket.until_final(answer["id"])
    # One write for both answers: the process's saver, not one saver per answer.
    assert any(set(batch) == both for batch in batches)


async def test_it_stops_an_answer_keeps_the_partial_text_and_aborts_upstream(owner, slow_worker):
    async with signed_in(owner) as socket:
        await socket.send(send_frame("Say a lot, slowly"))
        answer = await socket.assistant_created()
        await socket.until(lambda f: f["type"] == "message.delta" and f["seq"] == 3)
        aborted_before = emulator_state(slow_worker)["aborted"]
        await socket.send({"type": "chat.stop", "message": answer["id"]})
        done = await socket.until_final(answer["id"])

    partial = "".join(d["text"] for d in socket.deltas(answer["id"]))
    assert done["type"] == "message.done"
    assert done["status"] == "stopped"
    assert done["content"] == partial
    saved = await get_message(answer["id"])
    assert saved.status == Message.Status.STOPPED
    assert saved.content == partial
    assert 3 <= saved.last_seq < 50
    # The worker saw its client go away, which is what makes vLLM abort the request.
    await eventually(lambda: emulator_state(slow_worker)["aborted"] == aborted_before + 1)


async def test_a_lost_stop_is_asked_again(owner, faulty_worker, monkeypatch):
    # Pub/sub is best effort (a stop from another process published while that process's
    # listener reconnects is lost): the first stop never arrives.
    faulty_worker(stall_after_tokens=0)
    monkeypatch.setattr(chat.consumers, "STOP_REPEAT_SECONDS", 0.2)
    control_send = bus.bus_control_send
    dropped: list[int] = []

    async def losing_the_first_stop(message_id, event):
        if event.get("type") == "generation.stop" and not dropped:
            dropped.append(message_id)
            return
        await control_send(message_id, event)

    monkeypatch.setattr(bus, "bus_control_send", losing_the_first_stop)
    async with signed_in(owner) as socket:
        await socket.send(send_frame("Are you there?"))
        answer = await socket.assistant_created()
        await socket.send({"type": "chat.stop", "message": answer["id"]})
        done = await socket.until_final(answer["id"])
    assert dropped
    assert done["status"] == "stopped"
    assert (await get_message(answer["id"])).status == Message.Status.STOPPED


async def test_closing_the_socket_does_not_stop_the_answer(owner, workers):
    async with signed_in(owner) as socket:
        await socket.send(send_frame("Answer even if I leave"))
        answer = await socket.assistant_created()
        await socket.until_type("message.delta")
    # The socket is closed: the generation goes on and saves the whole answer.
    await generations_finished()
    saved = await get_message(answer["id"])
    assert saved.status == Message.Status.COMPLETE
    assert saved.last_seq > 1
    # The whole answer: the demo answer's closing line (in italics) is there.
    assert (
        saved.content.endswith("*") and "aiportal vLLM emulator" in saved.content.splitlines()[-1]
    )


async def test_a_second_socket_on_the_conversation_receives_the_same_deltas(owner, workers):
    async with signed_in(owner) as first, signed_in(owner) as second:
        await first.send(send_frame("First question"))
        answer = await first.assistant_created()
        await first.until_final(answer["id"])

        # The second tab opens the conversation by resuming its (finished) answer.
        await second.send({"type": "chat.resume", "message": answer["id"], "after_seq": 0})
        caught_up = await second.until_final(answer["id"])
        assert caught_up["status"] == "complete"

        await first.send(send_frame("Second question", conversation=answer["conversation"]))
        followup = await first.assistant_created()
        await first.until_final(followup["id"])
        seen_by_second = await second.assistant_created()
        await second.until_final(followup["id"])

    assert seen_by_second == followup
    assert second.deltas(followup["id"]) == first.deltas(followup["id"])
    assert len(first.deltas(followup["id"])) > 3
    questions = [
        f["message"]["content"]
        for f in second.frames
        if f["type"] == "message.created" and f["message"]["role"] == "user"
    ]
    assert questions == ["Second question"]


async def test_a_socket_that_resumes_mid_answer_gets_a_snapshot_then_the_rest(owner, slow_worker):
    async with signed_in(owner) as first, signed_in(owner) as second:
        await first.send(send_frame("Tell me slowly"))
        answer = await first.assistant_created()
        await first.until(lambda f: f["type"] == "message.delta" and f["seq"] == 3)

        await second.send({"type": "chat.resume", "message": answer["id"], "after_seq": 0})
        snapshot = await second.until_type("message.snapshot")
        await second.until(lambda f: f["type"] == "message.delta" and f["seq"] > snapshot["seq"])
        # Stopping from the second socket reaches the generation the first one started.
        await second.send({"type": "chat.stop", "message": answer["id"]})
        done = await second.until_final(answer["id"])
        assert (await first.until_final(answer["id"]))["status"] == "stopped"

    later = second.deltas(answer["id"])
    assert snapshot["seq"] >= 3
    assert [d["seq"] for d in later] == list(
        range(snapshot["seq"] + 1, snapshot["seq"] + 1 + len(later))
    )
    assert snapshot["content"] + "".join(d["text"] for d in later) == done["content"]
    assert done["status"] == "stopped"


async def test_it_regenerates_an_answer_as_a_sibling(owner, workers):
    async with signed_in(owner) as socket:
        await socket.send(send_frame("Once more"))
        first = await socket.assistant_created()
        await socket.until_final(first["id"])
        await socket.send({"type": "chat.regenerate", "message": first["id"], "client_id": "r"})
        second = await socket.assistant_created()
        done = await socket.until_final(second["id"])
    assert second["parent"] == first["parent"]
    assert second["id"] != first["id"]
    assert done["status"] == "complete"
    rows = await messages_of(first["conversation"])
    assert [m.role for m in rows] == ["user", "assistant", "assistant"]


async def test_stopping_a_finished_answer_tells_how_it_ended(owner, workers):
    async with signed_in(owner) as socket:
        await socket.send(send_frame("Quick one"))
        answer = await socket.assistant_created()
        done = await socket.until_final(answer["id"])
        await socket.send({"type": "chat.stop", "message": answer["id"]})
        again = await socket.receive()
    assert again["type"] == "message.done"
    assert again["status"] == "complete"
    assert again["content"] == done["content"]


async def test_a_socket_resuming_a_lost_answer_learns_it_was_interrupted(owner):
    @database_sync_to_async
    def lost_answer() -> Message:
        conversation = services.conversation_create(user=owner)
        _, answer = services.message_create_turn(
            conversation=conversation, parent=None, content="Hello?", model=""
        )
        services.message_save_progress(message_id=answer.pk, content="Half", last_seq=2)
        # Its generator's process died a minute ago: no heartbeat since.
        Message.objects.filter(pk=answer.pk).update(
            updated_at=timezone.now() - timedelta(minutes=1)
        )
        return answer

    answer = await lost_answer()
    async with signed_in(owner) as socket:
        await socket.send({"type": "chat.resume", "message": answer.pk, "after_seq": 0})
        final = await socket.receive()
    assert final["type"] == "message.done"
    assert final["status"] == "interrupted"
    assert final["content"] == "Half"
    assert (await get_message(answer.pk)).status == Message.Status.INTERRUPTED
