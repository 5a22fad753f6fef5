"""chat/bus.py: a conversation's frames in memory to the sockets of this process, one Redis
publish for the others, and a registry that empties when the sockets leave.

Run with the test Redis (``REDIS_URL``): the publish and the subscription are real."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from typing import Any

import pytest
from channels.layers import get_channel_layer
from django.conf import settings
from redis.asyncio import Redis

import chat.consumers
from chat import bus, protocol
from tests.chat.conftest import WAIT, generations_finished, send_frame, signed_in

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("no_leftover_generations"),
]


class Tab:
    """A stand-in socket: what the bus hands it."""

    def __init__(self, address: str) -> None:
        self.address = address
        self.got: asyncio.Queue[tuple[Mapping[str, Any], str]] = asyncio.Queue()

    @property
    def bus_address(self) -> str:
        return self.address

    async def bus_receive(self, frame: Mapping[str, Any], text: str) -> None:
        self.got.put_nowait((frame, text))


async def another_process_publishes(conversation_id: int, text: str, to: str = "") -> int:
    """What the bus of another web process sends: its origin, the target, the text."""
    client = Redis.from_url(settings.REDIS_URL)
    try:
        payload = f"another-process\n{to}\n{text}"
        return await client.publish(bus.bus_channel(conversation_id), payload)
    finally:
        await client.aclose()


async def unsubscribed(conversation_id: int) -> None:
    """Redis confirms an UNSUBSCRIBE to the listener, which then forgets the channel."""
    async with asyncio.timeout(WAIT):
        while bus.bus_channel(conversation_id) in bus.bus_subscribed():
            await asyncio.sleep(0.01)
    assert await another_process_publishes(conversation_id, "{}") == 0  # Redis agrees


async def test_a_delta_reaches_this_process_sockets_in_memory_encoded_once(
    owner, workers, monkeypatch
):
    # No frame on the channel layer and no publish per socket: one publish per frame, and
    # the text each socket sends is the one object encoded for all.
    layer = get_channel_layer()
    through_layer: list[str] = []
    for name in ("group_send", "send"):
        original = getattr(layer, name)

        async def spy(target, message, original=original):
            through_layer.append(message.get("type"))
            await original(target, message)

        monkeypatch.setattr(layer, name, spy)
    published: list[str] = []
    publish = bus.bus_publish

    async def counting(**kwargs):
        published.append(kwargs["frame"]["type"])
        await publish(**kwargs)

    monkeypatch.setattr(bus, "bus_publish", counting)
    texts: dict[int, list[str]] = {}
    receive = chat.consumers.ChatConsumer.bus_receive

    async def seen(self, frame, text):
        texts.setdefault(id(self), []).append(text)
        await receive(self, frame, text)

    monkeypatch.setattr(chat.consumers.ChatConsumer, "bus_receive", seen)

    async with signed_in(owner) as first, signed_in(owner) as second:
        await first.send(send_frame("Counted"))
        answer = await first.assistant_created()
        await first.until_final(answer["id"])
        await second.send({"type": "chat.resume", "message": answer["id"], "after_seq": 0})
        await second.until_final(answer["id"])
        await first.send(send_frame("Counted again", conversation=answer["conversation"]))
        followup = await first.assistant_created()
        await first.until_final(followup["id"])
        await second.until_final(followup["id"])
    await generations_finished()

    assert not [t for t in through_layer if t and t.startswith("chat.")]
    deltas = len(first.deltas(followup["id"]))
    assert deltas > 3
    assert second.deltas(followup["id"]) == first.deltas(followup["id"])
    # Per frame of the second answer: one publish, whatever the number of sockets.
    assert published.count("message.delta") == deltas + len(first.deltas(answer["id"]))
    first_texts, second_texts = texts.values()
    shared = [t for t in second_texts if any(t is s for s in first_texts)]
    assert len(shared) >= deltas + 2  # every delta, message.created and message.done


async def test_frames_of_another_process_arrive_through_pub_sub_decoded_once():
    tab, other = Tab("tab-1"), Tab("tab-2")
    await bus.bus_join(conversation_id=4101, subscriber=tab)
    await bus.bus_join(conversation_id=4101, subscriber=other)
    frame = protocol.message_delta_frame(message=7, seq=1, text="héllo", reasoning="")
    text = json.dumps(frame)
    assert await another_process_publishes(4101, text) == 1  # one subscription per process
    got = [await asyncio.wait_for(t.got.get(), WAIT) for t in (tab, other)]
    assert got[0] == (frame, text)
    assert got[1][1] == text
    assert got[0][0] is got[1][0]  # decoded once for both
    # A frame for one socket alone (a resume's snapshot) reaches only that one.
    await another_process_publishes(4101, text, to="tab-2")
    assert (await asyncio.wait_for(other.got.get(), WAIT))[1] == text
    # The process's own messages come back from Redis too: ignored, they went in memory.
    await bus.bus_publish(conversation_id=4101, frame=frame, text=text)
    assert tab.got.get_nowait() == (frame, text)
    await another_process_publishes(4101, json.dumps(protocol.pong_frame()))
    marker, _ = await asyncio.wait_for(tab.got.get(), WAIT)
    assert marker["type"] == "pong"  # the own publish in between was never delivered twice
    assert tab.got.empty()
    await bus.bus_leave(conversation_id=4101, subscriber=tab)
    await bus.bus_leave(conversation_id=4101, subscriber=other)


async def test_the_last_socket_to_leave_unsubscribes_and_the_registry_empties(owner, workers):
    first, second = Tab("a"), Tab("b")
    await bus.bus_join(conversation_id=4102, subscriber=first)
    await bus.bus_join(conversation_id=4102, subscriber=second)
    assert bus.bus_channel(4102) in bus.bus_subscribed()
    await bus.bus_leave(conversation_id=4102, subscriber=first)
    assert bus.bus_sockets(4102) == 1
    assert bus.bus_channel(4102) in bus.bus_subscribed()
    await bus.bus_leave(conversation_id=4102, subscriber=second)
    assert 4102 not in bus.bus_conversations()
    await unsubscribed(4102)

    # Real sockets: one that asked and one that followed, both closed.
    async with signed_in(owner) as asker, signed_in(owner) as follower:
        await asker.send(send_frame("Leave me"))
        answer = await asker.assistant_created()
        await follower.send({"type": "chat.resume", "message": answer["id"], "after_seq": 0})
        await follower.until_final(answer["id"])
        assert bus.bus_sockets(answer["conversation"]) == 2
    await generations_finished()
    assert answer["conversation"] not in bus.bus_conversations()
    await unsubscribed(answer["conversation"])


async def test_an_idle_socket_joins_nothing_on_the_bus(owner):
    async with signed_in(owner) as socket:
        await socket.send({"type": "ping"})
        await socket.until_type("pong")
        assert bus.bus_conversations() == set()
