"""A vLLM worker killed (SIGKILL) in the middle of a chat answer streamed over the websocket
of a real Daphne: the gateway continues the answer on the other worker from the partial text
(vLLM's ``continue_final_message``), so the person gets one whole answer, saved, with the
continuation in its metrics; once the pool has seen the worker die, requests go to the
survivor without even trying the dead one.

A worker dead *before* the first token is a transparent failover, covered with real emulator
processes in tests/gateway/test_failover.py (``test_a_worker_that_stopped_answering_is_left_
for_the_next``: its process stopped, the pool not yet aware), through the gateway core that
the chat and /v1 share."""

from __future__ import annotations

import pytest
from channels.db import database_sync_to_async

from chat.models import Message
from tests.faults.conftest import (
    api_key,
    ask,
    browser,
    emulator_state,
    eventually,
    kill_now,
    session_cookie,
    worker_up,
)

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("async_orm_closed"),
]

# Both workers give the same answer to the same conversation (the emulator's text is a
# function of the prompt), so a continued answer must equal an uninterrupted one.
WORKER = ("--tokens-per-second", "30", "--ttft-ms", "10", "--answer-tokens", "60")


async def test_a_worker_killed_mid_answer_is_continued_into_one_whole_answer(
    make_user, emulators, daphnes
):
    # Staff: only they are told which worker answered (chat/visibility.py).
    owner = await database_sync_to_async(make_user)("ops@example.com", is_staff=True)
    (first, first_url), (second, second_url) = emulators(*WORKER), emulators(*WORKER)
    _, url = daphnes(workers=[first_url, second_url])
    cookie = await database_sync_to_async(session_cookie)(owner)
    token = await database_sync_to_async(api_key)(owner)
    question = "Tell me about prefix caches."

    async with browser(url, cookie) as page:
        await page.send({"type": "chat.send", "content": question, "client_id": "q1"})
        answer = await page.assistant_created()
        await page.until(lambda f: f["type"] == "message.delta" and f["seq"] >= 3)
        streaming = [
            (process, worker)
            for process, worker in ((first, first_url), (second, second_url))
            if emulator_state(worker)["running"] == 1
        ]
        assert len(streaming) == 1
        doomed, doomed_url = streaming[0]
        survivor_url = second_url if doomed_url == first_url else first_url
        kill_now(doomed)
        done = await page.until_final(answer["id"])

    deltas = [f for f in page.frames if f["type"] == "message.delta"]
    assert [d["seq"] for d in deltas] == list(range(1, len(deltas) + 1))  # no gap, no repeat
    assert done["type"] == "message.done"
    assert done["status"] == "complete"
    assert done["content"] == page.text(answer["id"])
    assert done["metrics"]["continued"] == 1
    assert done["metrics"]["worker"] == survivor_url.removeprefix("http://")
    saved = await Message.objects.aget(pk=answer["id"])
    assert (saved.status, saved.content) == ("complete", done["content"])
    assert saved.last_seq == done["seq"]
    assert saved.metrics["continued"] == 1
    # The same question, never interrupted, reads the same: one whole answer, not two halves.
    again = await ask(url, cookie, question)
    assert again["content"] == done["content"]

    # Once the prober has seen the worker die, a new request does not even try it: the same
    # conversation (which routing would keep on its worker) goes to the survivor at once.
    await eventually(lambda: worker_up(url, token, doomed_url) == 0, what="the pool to see it")
    before = emulator_state(survivor_url)["completed"]
    next_one = await ask(
        url, cookie, "And then?", conversation=answer["conversation"], parent=answer["id"]
    )
    assert next_one["status"] == "complete"
    assert next_one["metrics"]["worker"] == survivor_url.removeprefix("http://")
    assert (next_one["metrics"]["attempts"], next_one["metrics"]["failovers"]) == (1, 0)
    assert emulator_state(survivor_url)["completed"] == before + 1
