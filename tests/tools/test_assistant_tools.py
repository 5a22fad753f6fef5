"""An assistant brings tools: a chat started from it offers them to the model beside the ones
the person picked, each turn only those the person may use then (as its datasets)."""

from __future__ import annotations

import pytest
from channels.db import database_sync_to_async

from assistants.forms import AssistantForm
from assistants.services import assistant_create
from chat.models import Conversation
from tests.chat.conftest import send_frame, signed_in

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("no_leftover_generations", "workers"),
]


@database_sync_to_async
def weather_assistant(owner, tools=("demo/weather",)):
    return assistant_create(user=owner, name="Forecaster", tools=list(tools))


async def test_a_chat_from_an_assistant_offers_its_tools_without_picking_them(
    owner, demo_server, mcp
):
    assistant = await weather_assistant(owner)
    async with signed_in(owner) as socket:
        await socket.send(send_frame("What is the weather in Paris?", assistant=assistant.pk))
        answer = await socket.assistant_created()
        done = await socket.until_final(answer["id"])

    assert mcp.record.calls == [("weather", {"city": "Paris"})]
    assert [s["tool"] for s in done["tool_steps"]] == ["demo/weather"]
    # Brought by the assistant, not picked: the conversation's own choice stays empty.
    conversation = await database_sync_to_async(Conversation.objects.get)(pk=answer["conversation"])
    assert conversation.tools == []


async def test_an_assistants_tool_the_person_may_not_use_is_not_offered(
    owner, demo_server, mcp, tool_users
):
    assistant = await weather_assistant(owner)
    await database_sync_to_async(owner.groups.remove)(tool_users)
    async with signed_in(owner) as socket:
        await socket.send(send_frame("What is the weather in Paris?", assistant=assistant.pk))
        answer = await socket.assistant_created()
        done = await socket.until_final(answer["id"])

    assert mcp.record.calls == []
    assert "tool_steps" not in done and done["status"] == "complete"


def test_the_form_offers_the_editors_usable_tools_and_keeps_the_ones_they_cannot_see(
    owner, demo_server, tool_users
):
    assistant = assistant_create(user=owner, name="Forecaster", tools=["other/secret"])
    form = AssistantForm(
        data={"name": "Forecaster", "icon": "FC", "colour": "blue", "tools": ["demo/weather"]},
        user=owner,
        assistant=assistant,
    )
    assert ("demo/weather", "demo/weather") in form.fields["tools"].choices
    assert form.is_valid(), form.errors
    # A tool the editor cannot see cannot be unticked by them, so saving keeps it.
    assert form.values()["tools"] == ["demo/weather", "other/secret"]

    owner.groups.remove(tool_users)
    refused = AssistantForm(
        data={"name": "Forecaster", "icon": "FC", "colour": "blue", "tools": ["demo/weather"]},
        user=owner,
        assistant=assistant,
    )
    assert not refused.is_valid() and "tools" in refused.errors


def test_an_assistant_refuses_tools_that_are_not_a_list_of_names(owner):
    with pytest.raises(ValueError, match="list of tool names"):
        assistant_create(user=owner, name="Bad", tools=[3])
