"""A turn that cannot start (retrieval or the generation task fails before a token) never
leaves a spinner: the saved answer ends, and the page hears why. A new answer ends as an
error; a continued one keeps the text it had, interrupted."""

from __future__ import annotations

import pytest
from channels.db import database_sync_to_async

from chat import services
from chat.models import Message
from chat.services import turns
from tests.chat.conftest import send_frame, signed_in

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("no_leftover_generations"),
]


@pytest.fixture
def retrieval_fails(monkeypatch):
    async def broken(**kwargs):
        raise RuntimeError("the search index is gone")

    monkeypatch.setattr(turns, "_db_conversation_retrieve", broken)


@database_sync_to_async
def saved(pk: int) -> Message:
    return Message.objects.get(pk=pk)


async def test_a_new_answer_that_cannot_start_ends_as_an_error(owner, workers, retrieval_fails):
    async with signed_in(owner) as socket:
        await socket.send(send_frame("Hello?", client_id="c1"))
        answer = await socket.assistant_created()
        final = await socket.until_final(answer["id"])
    # The page learns of the answer before it hears how it ended (a final frame for a message
    # it does not know would be dropped, and the person would see nothing).
    kinds = [(f["type"], f.get("message")) for f in socket.frames]
    created = kinds.index(("message.created", answer))
    assert created < kinds.index(("message.error", answer["id"]))
    assert answer["status"] == "error"
    assert final["type"] == "message.error"
    assert (final["status"], final["code"]) == ("error", "internal_error")
    assert final["detail"] == "The answer could not be started."
    assert final["client_id"] == "c1"
    row = await saved(answer["id"])
    assert (row.status, row.error_code) == ("error", "internal_error")


async def test_a_continued_answer_that_cannot_start_keeps_its_text(owner, workers, retrieval_fails):
    @database_sync_to_async
    def stopped_answer() -> Message:
        conversation = services.conversation_create(user=owner, title="Earlier")
        _, answer = services.message_create_turn(
            conversation=conversation, parent=None, content="Tell me everything", model=""
        )
        services.message_finish(
            message_id=answer.pk, content="Half an answer", last_seq=2, status="stopped"
        )
        return answer

    answer = await stopped_answer()
    async with signed_in(owner) as socket:
        await socket.send({"type": "chat.continue", "message": answer.pk, "client_id": "c2"})
        final = await socket.until_final(answer.pk)
    assert final["type"] == "message.done"
    assert (final["status"], final["code"]) == ("interrupted", "internal_error")
    assert (final["content"], final["seq"]) == ("Half an answer", 2)
    row = await saved(answer.pk)
    assert (row.status, row.content) == ("interrupted", "Half an answer")
