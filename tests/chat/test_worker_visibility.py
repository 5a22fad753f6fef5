"""The worker that served an answer ("127.0.0.1:46443 (local-a)", an address inside the
network) is shown to staff alone; everyone sees the region. Server-side, on both paths a
browser gets an answer by: the page and the messages JSON (selectors), and the socket's
frames (chat/protocol.py, the generation)."""

from __future__ import annotations

import pytest
from channels.db import database_sync_to_async
from django.test import Client

from chat import services
from chat.models import Message
from tests.chat.conftest import send_frame, signed_in

ADDRESS = "127.0.0.1:46443 (local-a)"
METRICS = {"worker": ADDRESS, "region": "eu-west", "ttft_ms": 90, "model": "m"}


def answered(user) -> tuple[int, Message]:
    conversation = services.conversation_create(user=user, title="Where")
    _, answer = services.message_create_turn(
        conversation=conversation, parent=None, content="Which worker?", model=""
    )
    services.message_finish(
        message_id=answer.pk, content="This one.", last_seq=1, status="complete", metrics=METRICS
    )
    return conversation.pk, answer


def fetched(user, conversation_id: int, answer: Message) -> tuple[str, str]:
    client = Client()
    client.force_login(user)
    page = client.get(f"/c/{conversation_id}/").content.decode()
    messages = client.get(f"/c/{conversation_id}/messages/?ids={answer.pk}").content.decode()
    return page, messages


@pytest.mark.django_db
def test_a_person_who_is_not_staff_gets_the_region_and_never_the_worker(owner):
    conversation_id, answer = answered(owner)
    for body in fetched(owner, conversation_id, answer):
        assert "eu-west" in body
        assert "46443" not in body and "local-a" not in body
    # The row keeps it: the usage records and the admin's pool page read it.
    answer.refresh_from_db()
    assert answer.metrics["worker"] == ADDRESS


@pytest.mark.django_db
def test_staff_get_the_worker_in_the_page_and_the_messages_json(make_user):
    staff = make_user("ops@example.com", is_staff=True)
    conversation_id, answer = answered(staff)
    for body in fetched(staff, conversation_id, answer):
        assert "127.0.0.1:46443 (local-a)" in body


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("no_leftover_generations")
async def test_the_socket_names_the_worker_to_staff_and_only_the_region_to_others(
    owner, make_user, workers
):
    staff = await database_sync_to_async(make_user)("ops@example.com", is_staff=True)
    seen: dict[str, dict] = {}
    for name, user in (("owner", owner), ("staff", staff)):
        async with signed_in(user) as socket:
            await socket.send(send_frame("Which worker answers?"))
            answer = await socket.assistant_created()
            done = await socket.until_final(answer["id"])
            # A stop after the end is answered from the row: the same rule.
            await socket.send({"type": "chat.stop", "message": answer["id"]})
            again = await socket.until_final(answer["id"])
        seen[name] = {"done": done["metrics"], "again": again["metrics"]}
    worker = workers.removeprefix("http://")
    for metrics in seen["owner"].values():
        assert metrics["region"] == "test-a"
        assert "worker" not in metrics
    for metrics in seen["staff"].values():
        assert metrics["worker"] == worker
