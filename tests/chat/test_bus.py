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


# --- Deltas go to Redis only while another process listens -------------------------------------


class AnotherProcess:
    """A subscription of another web process to a conversation's channel: what it hears, as
    (origin, to, frame)."""

    def __init__(self, conversation_id: int) -> None:
        self.client = Redis.from_url(settings.REDIS_URL)
        self.pubsub = self.client.pubsub()
        self.channel = bus.bus_channel(conversation_id)

    async def __aenter__(self) -> AnotherProcess:
        await self.pubsub.subscribe(self.channel)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.pubsub.aclose()
        await self.client.aclose()

    async def frames_until_final(self, message_id: int) -> list[tuple[str, dict[str, Any]]]:
        heard: list[tuple[str, dict[str, Any]]] = []
        async with asyncio.timeout(WAIT * 2):
            while True:
                message = await self.pubsub.get_message(ignore_subscribe_messages=True, timeout=1)
                if message is None:
                    continue
                _, to, text = message["data"].decode().split("\n", 2)
                frame = json.loads(text)
                heard.append((to, frame))
                if frame.get("message") == message_id and protocol.frame_is_final(frame):
                    return heard

    async def resume(self, message_id: int, *, reply_to: str) -> None:
        """What a socket of that process asks: through the control channel every process hears."""
        event = protocol.generation_resume_event(
            reply_channel=reply_to, after_seq=0, conversation_id=0
        )
        payload = f"another-process\n{message_id}\n{json.dumps(event)}"
        assert await self.client.publish(bus.control_channel(), payload) >= 1


def published_types(calls: list[tuple[str, str]], conversation_id: int) -> list[str]:
    channel = bus.bus_channel(conversation_id)
    return [json.loads(p.split("\n", 2)[2])["type"] for c, p in calls if c == channel]


@pytest.fixture
def redis_publishes(monkeypatch) -> list[tuple[str, str]]:
    """Every PUBLISH this process's bus sends, as (channel, payload)."""
    calls: list[tuple[str, str]] = []
    publish = Redis.publish

    async def counting(self, channel, message, **kwargs):
        calls.append((channel, message))
        return await publish(self, channel, message, **kwargs)

    monkeypatch.setattr(Redis, "publish", counting)
    return calls


async def test_deltas_stay_in_memory_while_no_other_process_listens(
    owner, workers, monkeypatch, redis_publishes
):
    monkeypatch.setattr(bus, "PROBE_INTERVAL", 60.0)
    async with signed_in(owner) as socket:
        await socket.send(send_frame("Only this tab"))
        answer = await socket.assistant_created()
        final = await socket.until_final(answer["id"])
    await generations_finished()
    deltas = socket.deltas(answer["id"])
    assert len(deltas) > 3
    assert "".join(d["text"] for d in deltas) == final["content"]
    # The answer's start and end went to Redis (a tab elsewhere learns of it); no delta did.
    types = published_types(redis_publishes, answer["conversation"])
    assert "message.created" in types and "message.done" in types
    assert "message.delta" not in types


async def test_another_process_that_listens_hears_every_delta_in_order(
    owner, workers, monkeypatch, redis_publishes
):
    monkeypatch.setattr(bus, "PROBE_INTERVAL", 60.0)
    async with signed_in(owner) as socket:
        await socket.send(send_frame("First"))
        first = await socket.assistant_created()
        await socket.until_final(first["id"])
        async with AnotherProcess(first["conversation"]) as other:
            await socket.send(send_frame("Second", conversation=first["conversation"]))
            second = await socket.assistant_created()
            await socket.until_final(second["id"])
            heard = await other.frames_until_final(second["id"])
    await generations_finished()
    deltas = [f for _, f in heard if f["type"] == "message.delta" and f["message"] == second["id"]]
    assert [d["seq"] for d in deltas] == list(range(1, len(deltas) + 1))
    assert deltas == socket.deltas(second["id"])
    assert len(deltas) > 3


async def test_a_tab_on_another_process_that_resumes_mid_answer_hears_the_rest(
    owner, slow_worker, monkeypatch, redis_publishes
):
    # It joins after some deltas stayed in memory, and asks through the control channel (its
    # generation runs here): a snapshot for it alone, then every delta after the snapshot.
    monkeypatch.setattr(bus, "PROBE_INTERVAL", 60.0)
    async with signed_in(owner) as socket:
        await socket.send(send_frame("Resume me elsewhere"))
        answer = await socket.assistant_created()
        await socket.until_type("message.delta")
        await socket.until_type("message.delta")
        assert "message.delta" not in published_types(redis_publishes, answer["conversation"])
        async with AnotherProcess(answer["conversation"]) as other:
            await other.resume(answer["id"], reply_to="tab-elsewhere")
            heard = await other.frames_until_final(answer["id"])
        final = await socket.until_final(answer["id"])
    await generations_finished()
    snapshot = next(i for i, (_, f) in enumerate(heard) if f["type"] == "message.snapshot")
    assert heard[snapshot][0] == "tab-elsewhere"
    assert heard[snapshot + 1] == (
        "tab-elsewhere",
        {"type": "chat.resumed", "message": answer["id"]},
    )
    after = [f for _, f in heard[snapshot + 2 :] if f["type"] == "message.delta"]
    seqs = [heard[snapshot][1]["seq"], *(d["seq"] for d in after)]
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))
    assert after, "no delta after the snapshot"
    content = heard[snapshot][1]["content"] + "".join(d["text"] for d in after)
    assert content == final["content"]


async def test_a_delta_is_published_now_and_then_to_look_for_new_listeners(
    owner, slow_worker, monkeypatch, redis_publishes
):
    # A tab elsewhere that joined without resuming hears a delta within the probe interval:
    # the gap in its seqs makes its page resume.
    monkeypatch.setattr(bus, "PROBE_INTERVAL", 0.3)
    async with signed_in(owner) as socket:
        await socket.send(send_frame("Probe"))
        answer = await socket.assistant_created()
        await socket.until_type("message.delta")
        async with AnotherProcess(answer["conversation"]) as other:
            heard = await other.frames_until_final(answer["id"])
        await socket.until_final(answer["id"])
    await generations_finished()
    deltas = [f for _, f in heard if f["type"] == "message.delta"]
    assert deltas
    # Once it was heard (the reply counted it), every delta after went to Redis.
    seqs = [d["seq"] for d in deltas]
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))
    assert (
        len(published_types(redis_publishes, answer["conversation"]))
        < len(socket.deltas(answer["id"])) + 3
    )


async def test_one_count_a_period_looks_for_listeners_of_every_conversation_streaming_here(
    owner, slow_worker, monkeypatch, redis_publishes
):
    # Not a publish per conversation and period: one PUBSUB NUMSUB for all of them.
    monkeypatch.setattr(bus, "PROBE_INTERVAL", 1.0)
    counted: list[tuple[str, ...]] = []
    numsub = Redis.pubsub_numsub

    async def counting(self, *channels, **kwargs):
        counted.append(tuple(c.decode() if isinstance(c, bytes) else c for c in channels))
        return await numsub(self, *channels, **kwargs)

    monkeypatch.setattr(Redis, "pubsub_numsub", counting)
    async with signed_in(owner) as first, signed_in(owner) as second:
        await first.send(send_frame("Slowly, one"))
        await second.send(send_frame("Slowly, two"))
        one = await first.assistant_created()
        two = await second.assistant_created()
        channels = {
            bus.bus_channel(one["conversation"]),
            bus.bus_channel(two["conversation"]),
        }
        async with asyncio.timeout(5):
            while not any(set(call) == channels for call in counted):
                await asyncio.sleep(0.05)
        for socket, answer in ((first, one), (second, two)):
            await socket.send({"type": "chat.stop", "message": answer["id"]})
            await socket.until_final(answer["id"])
    await generations_finished()
    assert len(first.deltas(one["id"])) > 1 and len(second.deltas(two["id"])) > 1
    for answer in (one, two):
        assert "message.delta" not in published_types(redis_publishes, answer["conversation"])


class Sender:
    """What our Daphne offers a socket (common.websockets.SharedTextSender): here it takes
    the texts while ``open``."""

    def __init__(self) -> None:
        self.open = True
        self.texts: list[str] = []

    def send_text(self, text: str) -> bool:
        if self.open:
            self.texts.append(text)
        return self.open


async def test_the_conversations_frames_go_through_the_servers_shared_sender(owner, workers):
    from common.websockets import SHARED_TEXT_EXTENSION
    from tests.chat.conftest import Socket, communicator, session_cookie

    sender = Sender()
    comm = communicator(cookie=await session_cookie(owner))
    comm.scope["extensions"] = {SHARED_TEXT_EXTENSION: {"sender": sender}}
    connected, _ = await comm.connect()
    assert connected
    socket = Socket(comm)
    try:
        await socket.send(send_frame("Through the shared sender"))
        created = json.loads(await asyncio.wait_for(_next_text(sender), WAIT))
        assert created["type"] == "message.created"  # the question, to the conversation
        answer = None
        while answer is None:
            frame = json.loads(await asyncio.wait_for(_next_text(sender), WAIT))
            if frame["type"] == "message.created" and frame["message"]["role"] == "assistant":
                answer = frame["message"]
        await generations_finished()
        shared = [json.loads(t) for t in sender.texts]
        assert shared[-1]["type"] == "message.done"
        deltas = [f for f in shared if f["type"] == "message.delta"]
        assert "".join(d["text"] for d in deltas) == shared[-1]["content"]
        # A socket its server no longer sends on: the frames take the ASGI send.
        sender.open = False
        await socket.send(send_frame("Through send", conversation=answer["conversation"]))
        followup = await socket.assistant_created()
        final = await socket.until_final(followup["id"])
        assert final["type"] == "message.done" and final["content"]
    finally:
        await comm.disconnect()
    await generations_finished()


async def _next_text(sender: Sender) -> str:
    seen = len(getattr(sender, "_read", []))
    while len(sender.texts) <= seen:
        await asyncio.sleep(0.005)
    sender._read = sender.texts[: seen + 1]  # type: ignore[attr-defined]
    return sender.texts[seen]
