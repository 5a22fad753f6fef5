"""Catching up: a socket that missed part of an answer gets exactly the missing text, and a
socket stopping an answer whose generator just died still gets its end. A socket resuming an
answer whose web process was killed: tests/faults/test_web_process_killed.py."""

from __future__ import annotations

import pytest
from channels.db import database_sync_to_async

from chat import services
from chat.models import Message
from chat.services.messages import STREAMING_STALE_AFTER
from tests.chat.conftest import eventually, send_frame, signed_in

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("no_leftover_generations"),
]


@database_sync_to_async
def get_message(pk: int) -> Message:
    return Message.objects.get(pk=pk)


async def test_a_socket_that_missed_deltas_gets_exactly_the_missing_text(owner, slow_worker):
    async with signed_in(owner) as first:
        await first.send(send_frame("Tell me slowly"))
        answer = await first.assistant_created()
        await first.until(lambda f: f["type"] == "message.delta" and f["seq"] == 3)
        have = "".join(d["text"] for d in first.deltas(answer["id"]) if d["seq"] <= 3)
    # The socket is gone; the answer goes on, and the page misses what comes meanwhile.
    await eventually(lambda: Message.objects.get(pk=answer["id"]).last_seq >= 6)

    async with signed_in(owner) as second:
        await second.send({"type": "chat.resume", "message": answer["id"], "after_seq": 3})
        snapshot = await second.until_type("message.snapshot")
        done = await second.until_final(answer["id"])
    later = second.deltas(answer["id"])
    assert snapshot["seq"] >= 6
    assert snapshot["content"].startswith(have)
    assert len(snapshot["content"]) > len(have)
    # After the snapshot, each delta exactly once, in order: no gap, no duplicate.
    assert [d["seq"] for d in later] == list(range(snapshot["seq"] + 1, done["seq"] + 1))
    assert snapshot["content"] + "".join(d["text"] for d in later) == done["content"]
    assert done["status"] == "complete"
    assert (await get_message(answer["id"])).content == done["content"]


async def test_a_socket_that_is_up_to_date_gets_no_snapshot_and_no_duplicate(owner, workers):
    async with signed_in(owner) as first:
        await first.send(send_frame("Quick"))
        answer = await first.assistant_created()
        done = await first.until_final(answer["id"])
    async with signed_in(owner) as second:
        await second.send(
            {"type": "chat.resume", "message": answer["id"], "after_seq": done["seq"]}
        )
        final = await second.receive()
        assert await second.nothing_more()
    assert final["type"] == "message.done"
    assert final["content"] == done["content"]
    assert second.deltas(answer["id"]) == []


async def test_stopping_an_answer_whose_generator_just_died_still_ends_it(owner):
    @database_sync_to_async
    def orphan() -> Message:
        # Streaming and heartbeating a moment ago, but no generation anywhere: its process
        # died just now, so the row is not stale yet.
        conversation = services.conversation_create(user=owner)
        _, answer = services.message_create_turn(
            conversation=conversation, parent=None, content="Hello?", model=""
        )
        services.message_save_progress(message_id=answer.pk, content="Half", last_seq=2)
        return answer

    answer = await orphan()
    async with signed_in(owner) as socket:
        await socket.send({"type": "chat.stop", "message": answer.pk})
        stale_after = STREAMING_STALE_AFTER.total_seconds()
        final = await socket.until_final(answer.pk, timeout=stale_after * 3)
    assert final["type"] == "message.done"
    assert final["status"] == "interrupted"
    assert final["content"] == "Half"
