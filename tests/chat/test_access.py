"""Another user's conversation or message behaves exactly like one that does not exist, over
the socket and on the page, and nothing is written for it."""

from __future__ import annotations

import pytest
from channels.db import database_sync_to_async
from django.test import Client

from chat import services
from chat.models import Conversation, Message
from tests.chat.conftest import send_frame, signed_in

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("no_leftover_generations"),
]


@database_sync_to_async
def owners_conversation(owner) -> tuple[Conversation, Message, Message]:
    conversation = services.conversation_create(user=owner, title="Private plans")
    question, answer = services.message_create_turn(
        conversation=conversation, parent=None, content="My secret", model=""
    )
    services.message_finish(
        message_id=answer.pk, content="Secret answer", last_seq=2, status="complete"
    )
    return conversation, question, answer


@database_sync_to_async
def snapshot() -> list[tuple]:
    return list(
        Message.objects.order_by("id").values_list("id", "conversation_id", "status", "content")
    )


async def test_nobody_can_send_into_another_users_conversation(owner, outsider, workers):
    conversation, question, _ = await owners_conversation(owner)
    before = await snapshot()
    async with signed_in(outsider) as socket:
        await socket.send(send_frame("Let me in", conversation=conversation.pk, client_id="x"))
        refused = await socket.receive()
        # Their own conversation with a parent from the owner's: refused the same way.
        await socket.send(send_frame("Mine"))
        mine = await socket.assistant_created()
        await socket.until_final(mine["id"])
        await socket.send(
            send_frame("Graft", conversation=mine["conversation"], parent=question.pk)
        )
        grafted = await socket.until_type("message.error")
    assert refused == {
        "type": "message.error",
        "message": None,
        "code": "not_found",
        "detail": "No such conversation or message.",
        "client_id": "x",
        "v": 2,
    }
    assert grafted["code"] == "not_found"
    after = await snapshot()
    assert after[: len(before)] == before
    assert {row[1] for row in after[len(before) :]} == {mine["conversation"]}
    assert len(after) == len(before) + 2  # only the outsider's own first turn


async def test_nobody_can_stop_resume_or_regenerate_another_users_message(
    owner, outsider, slow_worker
):
    async with signed_in(owner) as mine, signed_in(outsider) as theirs:
        await mine.send(send_frame("Slow and private"))
        answer = await mine.assistant_created()
        await mine.until(lambda f: f["type"] == "message.delta" and f["seq"] == 2)
        for frame in (
            {"type": "chat.stop", "message": answer["id"]},
            {"type": "chat.resume", "message": answer["id"], "after_seq": 0},
            {"type": "chat.regenerate", "message": answer["id"]},
            {"type": "chat.resume", "message": answer["parent"], "after_seq": 0},
        ):
            await theirs.send(frame)
            refused = await theirs.receive()
            assert (refused["type"], refused["code"]) == ("message.error", "not_found"), frame
        # The outsider got no frame of the owner's answer, and it is still streaming.
        assert await theirs.nothing_more()
        seq = mine.deltas(answer["id"])[-1]["seq"] if mine.deltas(answer["id"]) else 0
        await mine.until(lambda f: f["type"] == "message.delta" and f["seq"] > seq + 1)
        await mine.send({"type": "chat.stop", "message": answer["id"]})
        assert (await mine.until_final(answer["id"]))["status"] == "stopped"
    assert await Message.objects.filter(role="assistant").acount() == 1


def test_the_page_of_another_users_conversation_is_404(owner, outsider):
    conversation = services.conversation_create(user=owner, title="Private")
    client = Client()
    client.force_login(outsider)
    response = client.get(f"/c/{conversation.pk}/")
    assert response.status_code == 404
    assert b"Private" not in response.content
    assert client.get("/c/999999/").status_code == 404
    client.force_login(owner)
    assert client.get(f"/c/{conversation.pk}/").status_code == 200
