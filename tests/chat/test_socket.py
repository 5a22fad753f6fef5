"""Who may open the chat socket, and how it answers frames it cannot accept."""

from __future__ import annotations

import asyncio
import json
import threading

import pytest
from asgiref.sync import sync_to_async
from channels.db import database_sync_to_async

from chat import services
from chat.models import Conversation, Message
from tests.chat.conftest import communicator, send_frame, session_cookie, signed_in

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("no_leftover_generations"),
]


async def test_it_refuses_an_anonymous_socket():
    comm = communicator()
    connected, _ = await comm.connect()
    # Accepted, then closed with 4401 so that the page knows to sign in again.
    assert connected
    closed = await comm.receive_output(timeout=5)
    assert closed == {"type": "websocket.close", "code": 4401}
    await comm.disconnect()


async def test_it_refuses_a_socket_from_a_foreign_origin(owner):
    comm = communicator(cookie=await session_cookie(owner), origin=b"http://evil.example")
    connected, _ = await comm.connect()
    assert not connected
    await comm.disconnect()


async def test_it_refuses_a_socket_without_an_origin(owner):
    # Channels' AllowedHostsOriginValidator treats a missing Origin as foreign: browsers always
    # send one, other clients must send one matching ALLOWED_HOSTS.
    comm = communicator(cookie=await session_cookie(owner), origin=None)
    connected, _ = await comm.connect()
    assert not connected
    await comm.disconnect()


async def test_it_accepts_a_signed_in_socket_and_stays_quiet(owner):
    async with signed_in(owner) as socket:
        assert await socket.nothing_more()


async def test_a_socket_signs_in_while_a_sync_view_holds_djangos_thread(owner):
    """Django renders every sync page view of a process on one shared thread; a socket's
    session and user are read elsewhere, so opening it does not wait behind them."""
    cookie = await session_cookie(owner)
    release = threading.Event()
    busy = asyncio.ensure_future(sync_to_async(release.wait, thread_sensitive=True)(30))
    try:
        await asyncio.sleep(0.1)  # the shared thread is taken now
        comm = communicator(cookie=cookie)
        connected, _ = await comm.connect(timeout=10)
        assert connected
        assert await comm.receive_nothing(timeout=0.5)  # signed in: no 4401
        assert not busy.done()
        await comm.disconnect()
    finally:
        release.set()
        await busy


BAD_FRAMES = [
    ("not json at all", "bad_request"),
    ("[1, 2, 3]", "bad_request"),
    (" ", "bad_request"),
    ('"chat.send"', "bad_request"),
    (json.dumps({"type": "chat.dance"}), "bad_request"),
    (json.dumps({"content": "no type"}), "bad_request"),
    (json.dumps(send_frame(content=42)), "bad_request"),
    (json.dumps({"type": "chat.send", "conversation": None}), "bad_request"),
    (json.dumps(send_frame(content="   \n ")), "bad_request"),
    (json.dumps(send_frame(content="nul \x00 byte")), "bad_request"),
    ('{"type": "chat.send", "content": "lone \\ud800 surrogate"}', "bad_request"),
    (json.dumps(send_frame(conversation="abc")), "bad_request"),
    (json.dumps(send_frame(conversation=-1)), "bad_request"),
    (json.dumps(send_frame(conversation=True)), "bad_request"),
    (json.dumps(send_frame(conversation=1.5)), "bad_request"),
    (json.dumps(send_frame(conversation=2**64)), "bad_request"),
    (json.dumps(send_frame(parent=3)), "bad_request"),  # a parent needs a conversation
    (json.dumps(send_frame(model=["x"])), "bad_request"),
    (json.dumps(send_frame(client_id="<script>")), "bad_request"),
    (json.dumps(send_frame(datasets="all")), "bad_request"),
    (json.dumps(send_frame(api_base="http://evil.example")), "bad_request"),
    (json.dumps(send_frame(datasets=[0])), "bad_request"),
    (json.dumps(send_frame(datasets=[True])), "bad_request"),
    (json.dumps({**send_frame(), "v": 3}), "unsupported_version"),
    (json.dumps({**send_frame(), "v": 0}), "unsupported_version"),
    (json.dumps({"type": "chat.stop"}), "bad_request"),
    (json.dumps({"type": "chat.stop", "message": "7"}), "bad_request"),
    (json.dumps({"type": "chat.resume", "message": 7, "after_seq": -1}), "bad_request"),
    (json.dumps({"type": "chat.regenerate", "message": None}), "bad_request"),
    (json.dumps({"type": "chat.continue"}), "bad_request"),
    (json.dumps({"type": "chat.continue", "message": 0}), "bad_request"),
    (json.dumps({"type": "chat.continue", "message": 7, "after_seq": 3}), "bad_request"),
    (json.dumps({"type": "chat.continue", "message": 7, "client_id": 5}), "bad_request"),
    (json.dumps({"type": "ping", "at": 1}), "bad_request"),
    (json.dumps({"type": "pong"}), "bad_request"),
    (json.dumps({"type": None}), "bad_request"),
    (json.dumps({"type": ["chat.send"]}), "bad_request"),
    ("{" * 5000, "bad_request"),
    ("[" * 50_000 + "]" * 50_000, "bad_request"),  # valid JSON, nested too deep to parse
]


async def test_it_answers_each_malformed_frame_with_an_error_and_stays_open(owner, workers):
    async with signed_in(owner) as socket:
        for text, code in BAD_FRAMES:
            await socket.send(text)
            frame = await socket.receive()
            assert frame["type"] == "error", text
            assert frame["code"] == code, text
            assert frame["v"] == 2
            assert frame["detail"]
        await socket.comm.send_to(bytes_data=b"\x00\x01")
        assert (await socket.receive())["code"] == "bad_request"

        # Still open and still working: a valid frame gets a whole answer.
        await socket.send(send_frame("Still there?"))
        assistant = await socket.assistant_created()
        assert (await socket.until_final(assistant["id"]))["status"] == "complete"
    assert await Conversation.objects.filter(owner=owner).acount() == 1


async def test_it_refuses_content_over_the_limit_with_too_long(owner, workers, settings):
    settings.AIPORTAL_MAX_MESSAGE_CHARS = 100
    async with signed_in(owner) as socket:
        await socket.send(send_frame("x" * 101, client_id="c1"))
        frame = await socket.receive()
        assert frame["type"] == "message.error"
        assert frame["code"] == "too_long"
        assert frame["limit"] == 100
        assert frame["client_id"] == "c1"
        assert frame["message"] is None
        # A frame far over any limit is refused before it is even parsed.
        await socket.send(json.dumps(send_frame("y" * 10_000)))
        assert (await socket.receive())["code"] == "too_long"

        await socket.send(send_frame("x" * 100))
        assistant = await socket.assistant_created()
        assert (await socket.until_final(assistant["id"]))["status"] == "complete"
    assert await Message.objects.filter(role="user").acount() == 1


async def test_it_answers_a_ping_with_a_pong(owner):
    async with signed_in(owner) as socket:
        # A page from before v2 still sends v1 frames; they are answered as any other.
        for frame in ({"type": "ping"}, {"type": "ping", "v": 1}, {"type": "ping", "v": 2}):
            await socket.send(frame)
            assert await socket.receive() == {"type": "pong", "v": 2}
        assert await socket.nothing_more()


async def test_an_anonymous_socket_gets_no_pong(owner):
    comm = communicator()
    await comm.connect()
    assert await comm.receive_output(timeout=5) == {"type": "websocket.close", "code": 4401}
    await comm.disconnect()


async def test_it_answers_not_found_for_ids_that_do_not_exist(owner, workers):
    async with signed_in(owner) as socket:
        for frame in (
            send_frame(conversation=999_999, client_id="c2"),
            {"type": "chat.stop", "message": 999_999},
            {"type": "chat.resume", "message": 999_999, "after_seq": 0},
            {"type": "chat.regenerate", "message": 999_999},
            {"type": "chat.continue", "message": 999_999},
        ):
            await socket.send(frame)
            answer = await socket.receive()
            assert answer["type"] == "message.error", frame
            assert answer["code"] == "not_found", frame
        assert socket.frames[0]["client_id"] == "c2"
    assert await Message.objects.acount() == 0
    assert await Conversation.objects.acount() == 0


@database_sync_to_async
def owners_conversation(owner) -> tuple[Conversation, Message, Message]:
    conversation = services.conversation_create(user=owner, title="Private")
    question, answer = services.message_create_turn(
        conversation=conversation, parent=None, content="My secret question", model=""
    )
    services.message_finish(
        message_id=answer.pk, content="My secret answer", last_seq=1, status="stopped"
    )
    return conversation, question, answer


@database_sync_to_async
def snapshot_of(conversation: Conversation) -> list[tuple]:
    return list(
        Message.objects.filter(conversation=conversation)
        .order_by("id")
        .values_list("id", "status", "content", "last_seq")
    )


async def test_another_users_conversation_and_messages_are_not_found(owner, outsider, workers):
    conversation, question, answer = await owners_conversation(owner)
    before = await snapshot_of(conversation)
    async with signed_in(outsider) as socket:
        for frame in (
            send_frame("Let me in", conversation=conversation.pk, client_id="x"),
            send_frame("Let me in", conversation=conversation.pk, parent=answer.pk),
            {"type": "chat.stop", "message": answer.pk},
            {"type": "chat.regenerate", "message": answer.pk},
            {"type": "chat.resume", "message": answer.pk, "after_seq": 0},
            {"type": "chat.resume", "message": question.pk, "after_seq": 0},
            {"type": "chat.continue", "message": answer.pk},
        ):
            await socket.send(frame)
            refused = await socket.receive()
            # The same answer as for an id that was never used.
            assert refused["type"] == "message.error", frame
            assert refused["code"] == "not_found", frame
            assert refused["message"] is None, frame
            assert "secret" not in json.dumps(refused)
        assert await socket.nothing_more()
    assert await snapshot_of(conversation) == before
    assert await Conversation.objects.filter(owner=outsider).acount() == 0
