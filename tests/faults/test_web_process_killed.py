"""A web process (Daphne) killed with SIGKILL in the middle of an answer it was generating:
the answer stops heartbeating, so another web process marks it interrupted (keeping the text
saved before the kill) as soon as a socket resumes it there, and the person continues it
(``chat.continue``) on that other process into one whole answer, the same message."""

from __future__ import annotations

import pytest
from channels.db import database_sync_to_async

from chat.models import Message
from chat.services.messages import STREAMING_STALE_AFTER
from tests.faults.conftest import ask, browser, kill_now, session_cookie

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("async_orm_closed"),
]


async def test_an_answer_whose_process_was_killed_is_interrupted_then_continued_elsewhere(
    owner, emulators, daphnes
):
    _, slow = emulators("--tokens-per-second", "25", "--ttft-ms", "10")
    _, fast = emulators("--tokens-per-second", "400", "--ttft-ms", "10")
    doomed, doomed_url = daphnes(workers=[slow])
    _, other_url = daphnes(workers=[fast])
    cookie = await database_sync_to_async(session_cookie)(owner)
    question = "Talk until you die"

    async with browser(doomed_url, cookie) as page:
        await page.send({"type": "chat.send", "content": question})
        answer = await page.assistant_created()
        await page.until(lambda f: f["type"] == "message.delta" and f["seq"] >= 5)
        kill_now(doomed)
    seen = page.text(answer["id"])
    assert (await Message.objects.aget(pk=answer["id"])).status == Message.Status.STREAMING

    async with browser(other_url, cookie) as page:
        # What a reconnecting page does (docs/websocket.md): resume from the last seq it has.
        await page.send({"type": "chat.resume", "message": answer["id"], "after_seq": 5})
        # No generation answers for it: the socket's watch sees the row go stale.
        stale_after = STREAMING_STALE_AFTER.total_seconds()
        interrupted = await page.until_final(answer["id"], timeout=stale_after * 3)
        saved = await Message.objects.aget(pk=answer["id"])
        assert interrupted["type"] == "message.done"
        assert interrupted["status"] == "interrupted"
        assert (saved.status, saved.error_code) == ("interrupted", "generator_lost")
        assert interrupted["content"] == saved.content
        # What was saved before the kill is kept: the text up to its last save (100 ms).
        assert saved.content
        assert seen.startswith(saved.content) or saved.content.startswith(seen)

        await page.send({"type": "chat.continue", "message": answer["id"], "client_id": "c"})
        again = await page.until(lambda f: f["type"] == "message.created")
        done = await page.until_final(answer["id"])

    assert again["message"]["id"] == answer["id"]
    assert done["type"] == "message.done"
    assert done["status"] == "complete"
    assert done["content"].startswith(saved.content)
    assert len(done["content"]) > len(saved.content)
    assert done["seq"] > saved.last_seq
    assert done["metrics"]["continued_by_user"] is True
    final = await Message.objects.aget(pk=answer["id"])
    assert (final.status, final.content) == ("complete", done["content"])
    count = Message.objects.filter(conversation_id=answer["conversation"], role="assistant")
    assert await count.acount() == 1
    # One whole answer: the one the same question gets when nothing is killed.
    assert (await ask(other_url, cookie, question))["content"] == done["content"]
