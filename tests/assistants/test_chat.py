"""Assistants in chat, end to end over the socket with a recording emulated worker: a new
chat started from an assistant remembers it, and every turn sends the worker its
instructions, model and sampling; its datasets obey grants and residency; a person who lost
``use`` on it is refused before anything is written."""

from __future__ import annotations

import pytest
from channels.db import database_sync_to_async

from assistants.models import Level
from assistants.services import (
    assistant_create,
    assistant_delete,
    assistant_grant_add,
    assistant_grant_remove,
)
from chat.models import Conversation, Message
from chat.protocol import PROTOCOL_VERSION
from datasets.models import Level as DatasetLevel
from datasets.services import dataset_create, grant_set
from tests.chat.conftest import send_frame, signed_in
from tests.datasets.test_chat_retrieval import recording_emulator

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("no_leftover_generations"),
]


async def _ask(socket, content: str, **fields) -> tuple[dict, dict]:
    await socket.send(send_frame(content, **fields))
    answer = await socket.assistant_created()
    return answer, await socket.until_final(answer["id"])


def _system(body: dict) -> str:
    return "\n".join(m["content"] for m in body["messages"] if m["role"] == "system")


async def test_a_new_chat_from_an_assistant_sends_its_prompt_and_sampling(settings, owner, helper):
    async with recording_emulator("test-a") as (url, received):
        settings.AIPORTAL_WORKERS = f"{url}@test-a"
        async with signed_in(owner) as socket:
            await socket.send(send_frame("Here are the changes", assistant=helper.pk))
            created = await socket.until_type("conversation.created")
            answer = await socket.assistant_created()
            done = await socket.until_final(answer["id"])
            assert done["type"] == "message.done", done
            # The next turn (no assistant field: the conversation remembers it) too.
            _, again = await _ask(socket, "And a headline?", conversation=answer["conversation"])
            assert again["type"] == "message.done", again
    assert created["conversation"]["assistant"] == helper.pk
    conversation = await database_sync_to_async(Conversation.objects.get)(pk=answer["conversation"])
    assert conversation.assistant_id == helper.pk
    assert len(received) == 2
    for body in received:
        assert body["temperature"] == 0.3
        assert body["top_p"] == 0.9
        assert body["max_tokens"] == 300
        assert body["messages"][0]["role"] == "system"
        assert body["messages"][0]["content"].startswith("You write release notes")


async def test_the_conversations_own_system_prompt_comes_after_the_assistants(
    settings, owner, helper
):
    async with recording_emulator("test-a") as (url, received):
        settings.AIPORTAL_WORKERS = f"{url}@test-a"
        async with signed_in(owner) as socket:
            first, _ = await _ask(socket, "hello", assistant=helper.pk)
            await database_sync_to_async(
                lambda: Conversation.objects.filter(pk=first["conversation"]).update(
                    system_prompt="Answer in French."
                )
            )()
            await _ask(socket, "again", conversation=first["conversation"])
    system = received[-1]["messages"][0]["content"]
    assert system == "You write release notes in the house style.\n\nAnswer in French."
    assert _system(received[-1]).count("release notes") == 1


async def test_the_assistants_model_is_used_when_it_names_one(settings, owner):
    named = await database_sync_to_async(assistant_create)(
        user=owner, name="Pinned", model="aiportal-emulator"
    )
    async with recording_emulator("test-a") as (url, received):
        settings.AIPORTAL_WORKERS = f"{url}@test-a"
        async with signed_in(owner) as socket:
            # The person's pick names a model no worker serves: were it used, no answer.
            _, done = await _ask(socket, "hi", assistant=named.pk, model="no-such/model")
    assert done["type"] == "message.done", done
    assert received[0]["model"] == "aiportal-emulator"


async def test_a_grantee_with_use_starts_a_chat_and_an_outsider_is_refused(
    settings, owner, member, outsider, helper
):
    await database_sync_to_async(assistant_grant_add)(
        assistant=helper, user=owner, for_user=member, level=Level.USE
    )
    async with recording_emulator("test-a") as (url, received):
        settings.AIPORTAL_WORKERS = f"{url}@test-a"
        async with signed_in(member) as socket:
            _, done = await _ask(socket, "hi", assistant=helper.pk)
            assert done["type"] == "message.done"
        async with signed_in(outsider) as socket:
            await socket.send(send_frame("hi", assistant=helper.pk, client_id="c1"))
            refused = await socket.until_type("message.error")
    assert refused["message"] is None
    assert refused["code"] == "assistant_unavailable"
    assert refused["client_id"] == "c1"
    assert len(received) == 1
    # Nothing written for the outsider: no conversation, no message.
    count = await database_sync_to_async(Conversation.objects.filter(owner=outsider).count)()
    assert count == 0


async def test_losing_use_mid_conversation_refuses_the_next_turn(settings, owner, member, helper):
    grant = await database_sync_to_async(assistant_grant_add)(
        assistant=helper, user=owner, for_user=member, level=Level.USE
    )
    async with recording_emulator("test-a") as (url, received):
        settings.AIPORTAL_WORKERS = f"{url}@test-a"
        async with signed_in(member) as socket:
            first, done = await _ask(socket, "hi", assistant=helper.pk)
            assert done["type"] == "message.done"
            await database_sync_to_async(assistant_grant_remove)(grant=grant, user=owner)
            before = await database_sync_to_async(Message.objects.count)()
            await socket.send(
                send_frame("more", conversation=first["conversation"], client_id="c2")
            )
            refused = await socket.until_type("message.error")
            await socket.send({"type": "chat.regenerate", "message": first["id"]})
            refused_again = await socket.until_type("message.error")
            after = await database_sync_to_async(Message.objects.count)()
    for frame in (refused, refused_again):
        assert frame["code"] == "assistant_unavailable"
        assert frame["message"] is None
        assert "no longer use" in frame["detail"]
    assert before == after
    assert len(received) == 1


async def test_an_assistant_field_on_an_existing_conversation_is_a_bad_request(owner, helper):
    async with signed_in(owner) as socket:
        await socket.send(send_frame("hi", conversation=1, assistant=helper.pk))
        error = await socket.until_type("error")
    assert error["code"] == "bad_request"
    assert "assistant" in error["detail"]


async def test_the_assistants_datasets_obey_the_persons_grants(settings, owner, member):
    mine = await database_sync_to_async(dataset_create)(user=owner, name="Private")
    helper = await database_sync_to_async(assistant_create)(
        user=owner, name="With data", datasets=[mine.pk]
    )
    await database_sync_to_async(assistant_grant_add)(
        assistant=helper, user=owner, for_user=member, level=Level.USE
    )
    async with recording_emulator("test-a") as (url, _received):
        settings.AIPORTAL_WORKERS = f"{url}@test-a"
        async with signed_in(member) as socket:
            await socket.send(send_frame("hi", assistant=helper.pk))
            dropped = await socket.until_type("datasets.dropped")
            answer = await socket.assistant_created()
            done = await socket.until_final(answer["id"])
    # Sharing the assistant does not share its dataset: the member may not query it.
    assert dropped["datasets"] == [mine.pk]
    assert done["type"] == "message.done"
    conversation = await database_sync_to_async(Conversation.objects.get)(pk=answer["conversation"])
    assert conversation.datasets == []  # never stored as the person's own choice


async def test_the_assistants_datasets_restrict_the_region(settings, owner, member):
    nordic = await database_sync_to_async(dataset_create)(
        user=owner, name="Nordic", allowed_regions="eu-north"
    )
    await database_sync_to_async(grant_set)(
        dataset=nordic, user=owner, for_user=member, level=DatasetLevel.QUERY
    )
    helper = await database_sync_to_async(assistant_create)(
        user=owner, name="Nordic helper", datasets=[nordic.pk]
    )
    await database_sync_to_async(assistant_grant_add)(
        assistant=helper, user=owner, for_user=member, level=Level.USE
    )
    async with (
        recording_emulator("eu-west") as (west, west_got),
        recording_emulator("eu-north") as (north, north_got),
    ):
        settings.AIPORTAL_WORKERS = f"{west}@eu-west,{north}@eu-north"
        async with signed_in(member) as socket:
            for n in range(3):
                _, done = await _ask(socket, f"question {n}", assistant=helper.pk)
                assert done["type"] == "message.done", done
                assert done["metrics"]["region"] == "eu-north"
    assert len(north_got) == 3
    assert west_got == []


async def test_an_open_socket_hears_when_its_assistants_change(owner, member, helper):
    async with signed_in(member) as socket:
        # Answered once the socket has joined its groups (frames are handled after connect).
        await socket.send({"type": "ping"})
        await socket.until_type("pong")
        grant = await database_sync_to_async(assistant_grant_add)(
            assistant=helper, user=owner, for_user=member, level=Level.USE
        )
        given = await socket.until_type("assistants.changed")
        await database_sync_to_async(assistant_grant_remove)(grant=grant, user=owner)
        taken = await socket.until_type("assistants.changed")
    assert given == taken == {"type": "assistants.changed", "v": PROTOCOL_VERSION}


async def test_a_deleted_assistant_leaves_a_plain_conversation_that_goes_on(
    settings, owner, helper
):
    async with recording_emulator("test-a") as (url, received):
        settings.AIPORTAL_WORKERS = f"{url}@test-a"
        async with signed_in(owner) as socket:
            first, _ = await _ask(socket, "hi", assistant=helper.pk)
            await database_sync_to_async(assistant_delete)(assistant=helper, user=owner)
            _, done = await _ask(socket, "again", conversation=first["conversation"])
    assert done["type"] == "message.done"
    assert "release notes" not in _system(received[-1])
    assert "temperature" not in received[-1]
    conversation = await database_sync_to_async(Conversation.objects.get)(pk=first["conversation"])
    assert conversation.assistant_id is None
