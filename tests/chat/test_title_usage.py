"""A generated title is a request of its own: the usage ledger records it as title
generation, not as a chat answer (the admin's usage page shows them apart)."""

from __future__ import annotations

import pytest
from channels.db import database_sync_to_async

from chat import services
from chat.services.conversations import conversation_title_generate
from gateway.models import UsageRecord
from gateway.usage import usage_flush

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("no_leftover_generations"),
]


@database_sync_to_async
def first_turn(user) -> int:
    question = "Tell me about Mars"
    # Titled from its first line, as the chat does: only such a title is replaced.
    conversation = services.conversation_create(
        user=user, title=services.conversation_title_from(question)
    )
    _, answer = services.message_create_turn(
        conversation=conversation, parent=None, content=question, model=""
    )
    services.message_finish(message_id=answer.pk, content="Red.", last_seq=1, status="complete")
    return answer.pk


async def test_a_generated_title_is_recorded_as_title_generation(owner, workers, settings):
    settings.AIPORTAL_CHAT_TITLES = True
    answer_id = await first_turn(owner)
    assert await conversation_title_generate(message_id=answer_id, user=owner)
    await usage_flush()
    records = await database_sync_to_async(list)(UsageRecord.objects.filter(user=owner))
    assert [(r.source, r.get_source_display()) for r in records] == [("title", "Title generation")]
