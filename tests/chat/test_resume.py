"""Catching up: a socket that missed part of an answer gets exactly the missing text, and a
socket resuming an answer whose web process was killed learns within seconds that it was
interrupted (never a stream that waits forever)."""

from __future__ import annotations

import json
import os
import signal

import aiohttp
import pytest
from channels.db import database_sync_to_async

from chat import services
from chat.models import Message
from tests.chat.conftest import eventually, send_frame, session_cookie, signed_in
from tests.conftest import _database_url, start_daphne

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


@pytest.fixture
def doomed_daphne(django_db_blocker, slow_emulator_url):
    """A Daphne of its own (another process), to be killed mid-answer."""
    with django_db_blocker.unblock():
        database_url = _database_url()
    process, url = start_daphne(
        {
            "DATABASE_URL": database_url,
            "AIPORTAL_WORKERS": f"{slow_emulator_url}@test-slow",
            "AIPORTAL_SAVE_INTERVAL_MS": "100",
        }
    )
    yield process, url
    process.stop()


async def test_an_answer_whose_process_was_killed_ends_interrupted_for_a_resuming_socket(
    owner, doomed_daphne, slow_worker
):
    process, url = doomed_daphne
    cookie = await session_cookie(owner)
    headers = {"Origin": url, "Cookie": f"sessionid={cookie}"}
    ws_url = f"{url.replace('http', 'ws')}/ws/chat/"
    async with aiohttp.ClientSession() as http, http.ws_connect(ws_url, headers=headers) as ws:
        await ws.send_str(json.dumps(send_frame("Talk until you die")))
        answer = None
        async for message in ws:
            frame = json.loads(message.data)
            if frame["type"] == "message.created" and frame["message"]["role"] == "assistant":
                answer = frame["message"]
            if frame["type"] == "message.delta" and frame["seq"] >= 5:
                break
        # No goodbye: the process is gone at once, as in a crash or an OOM kill.
        os.killpg(process.popen.pid, signal.SIGKILL)
        process.popen.wait(10)
    assert answer is not None
    assert (await get_message(answer["id"])).status == Message.Status.STREAMING

    async with signed_in(owner) as socket:
        await socket.send({"type": "chat.resume", "message": answer["id"], "after_seq": 0})
        # Its heartbeat stopped: the socket's watch sees the row go stale and says so.
        stale_after = services.STREAMING_STALE_AFTER.total_seconds()
        final = await socket.until_final(answer["id"], timeout=stale_after * 3)
    saved = await get_message(answer["id"])
    assert final["type"] == "message.done"
    assert final["status"] == "interrupted"
    assert final["content"] == saved.content
    assert saved.content  # what was saved before the kill is kept
    assert (saved.status, saved.error_code) == ("interrupted", "generator_lost")


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
        stale_after = services.STREAMING_STALE_AFTER.total_seconds()
        final = await socket.until_final(answer.pk, timeout=stale_after * 3)
    assert final["type"] == "message.done"
    assert final["status"] == "interrupted"
    assert final["content"] == "Half"
