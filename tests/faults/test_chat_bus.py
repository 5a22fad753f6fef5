"""The chat's frames between web processes (chat/bus.py): a second tab on another Daphne
follows an answer live and stops it from there; and a process's pub/sub listener that lost
Redis listens again once it is back."""

from __future__ import annotations

import asyncio
import contextlib
import json

import pytest
from channels.db import database_sync_to_async
from redis.asyncio import Redis
from redis.exceptions import RedisError

from chat import bus, protocol
from chat.models import Message
from tests.faults.conftest import WAIT, browser, session_cookie

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("async_orm_closed"),
]


async def test_a_second_tab_on_another_daphne_follows_live_and_stops_the_answer(
    owner, emulators, daphnes
):
    _, worker = emulators("--tokens-per-second", "25", "--ttft-ms", "10")
    (_, first_url), (_, second_url) = daphnes(workers=[worker]), daphnes(workers=[worker])
    cookie = await database_sync_to_async(session_cookie)(owner)
    async with browser(first_url, cookie) as first, browser(second_url, cookie) as second:
        await first.send({"type": "chat.send", "content": "Two processes, one answer"})
        answer = await first.assistant_created()
        await first.until(lambda f: f["type"] == "message.delta" and f["seq"] >= 3)
        # The second tab opens the conversation on the other process: snapshot, then live.
        await second.send({"type": "chat.resume", "message": answer["id"], "after_seq": 0})
        snapshot = await second.until(lambda f: f["type"] == "message.snapshot")
        await second.until(
            lambda f: f["type"] == "message.delta" and f["seq"] >= snapshot["seq"] + 5
        )
        # A stop from the process that does not run the answer reaches it.
        await second.send({"type": "chat.stop", "message": answer["id"]})
        done = await second.until_final(answer["id"])
        assert (await first.until_final(answer["id"]))["status"] == "stopped"

    later = [f for f in second.frames if f["type"] == "message.delta"]
    assert [d["seq"] for d in later] == list(range(snapshot["seq"] + 1, done["seq"] + 1))
    assert snapshot["content"] + "".join(d["text"] for d in later) == done["content"]
    assert first.text(answer["id"]) == done["content"]
    assert done["status"] == "stopped"
    assert (await Message.objects.aget(pk=answer["id"])).content == done["content"]


async def test_the_listener_subscribes_again_after_a_redis_restart(private_redis, settings):
    settings.REDIS_URL = private_redis.url

    class Tab:
        bus_address = "tab"

        def __init__(self) -> None:
            self.got: asyncio.Queue[str] = asyncio.Queue()

        async def bus_receive(self, frame, text: str) -> None:
            self.got.put_nowait(text)

    async def published_until_heard(tab: Tab, text: str) -> None:
        """Another process publishes until this one hears it (resubscribing takes a backoff)."""
        client = Redis.from_url(private_redis.url)
        try:
            async with asyncio.timeout(WAIT):
                while True:
                    # Redis may still be starting.
                    with contextlib.suppress(RedisError):
                        await client.publish(bus.bus_channel(4201), f"elsewhere\n\n{text}")
                    try:
                        if await asyncio.wait_for(tab.got.get(), 0.2) == text:
                            return
                    except TimeoutError:
                        continue
        finally:
            await client.aclose()

    tab = Tab()
    await bus.bus_join(conversation_id=4201, subscriber=tab)
    before = json.dumps(protocol.pong_frame())
    await published_until_heard(tab, before)
    private_redis.restart()  # empty: every subscription is gone with it
    after = json.dumps(protocol.datasets_changed_frame())
    await published_until_heard(tab, after)
    assert bus.bus_channel(4201) in bus.bus_subscribed()
    await bus.bus_leave(conversation_id=4201, subscriber=tab)
    assert bus.bus_conversations() == set()
    assert private_redis.url == settings.REDIS_URL
