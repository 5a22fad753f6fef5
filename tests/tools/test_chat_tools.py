"""Tools in a chat, end to end: the emulated model calls a tool of a real MCP server over the
websocket, the server runs it, the result goes back and the answer continues; failures,
timeouts, huge results, max steps, a stop during a hanging call, and approval."""

from __future__ import annotations

import asyncio
import json

import pytest
from channels.db import database_sync_to_async

from accounts.models import AuditEvent
from chat.models import Conversation, Message
from tests.chat.conftest import send_frame, signed_in
from tools.models import McpServer

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("no_leftover_generations", "workers"),
]


@database_sync_to_async
def message(pk: int) -> Message:
    return Message.objects.get(pk=pk)


@database_sync_to_async
def server_update(**fields) -> None:
    McpServer.objects.update(**fields)


@database_sync_to_async
def audit_events() -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action="tools.call").order_by("id"))


def steps(socket, kind: str) -> list[dict]:
    return [f["step"] for f in socket.frames if f["type"] == kind]


async def test_the_model_calls_a_tool_and_the_answer_continues_with_its_result(
    owner, demo_server, mcp
):
    async with signed_in(owner) as socket:
        await socket.send(send_frame("What is the weather in Paris?", tools=["demo/weather"]))
        answer = await socket.assistant_created()
        done = await socket.until_final(answer["id"])

    assert mcp.record.calls == [("weather", {"city": "Paris"})]
    [started] = steps(socket, "tool.call")
    [ended] = steps(socket, "tool.result")
    assert started["tool"] == "demo/weather" and started["status"] == "running"
    assert json.loads(started["arguments"]) == {"city": "Paris"}
    assert ended["status"] == "ok" and ended["result"] == "Sunny and 21 degrees in Paris."
    assert ended["duration_ms"] >= 0
    # The step came before the text that uses it; the answer went on after it.
    kinds = [f["type"] for f in socket.frames]
    assert kinds.index("tool.result") < kinds.index("message.delta")
    assert done["status"] == "complete" and done["content"]
    assert done["tool_steps"] == [ended]
    saved = await message(answer["id"])
    assert saved.tool_steps == [ended]
    assert saved.status == Message.Status.COMPLETE
    [event] = await audit_events()
    assert event.actor_id == owner.pk
    assert event.detail["tool"] == "demo/weather" and event.detail["status"] == "ok"


async def test_a_failing_tool_gives_the_model_an_error_and_the_answer_continues(
    owner, demo_server, mcp
):
    async with signed_in(owner) as socket:
        await socket.send(
            send_frame("What is the stock price of ACME?", tools=["demo/broken_lookup"])
        )
        answer = await socket.assistant_created()
        done = await socket.until_final(answer["id"])
    [ended] = steps(socket, "tool.result")
    assert ended["status"] == "error"
    assert "quote service is down" in ended["result"]
    assert done["status"] == "complete" and done["content"]


async def test_a_tool_that_hangs_times_out_and_the_answer_continues(owner, demo_server, mcp):
    await server_update(timeout_seconds=1)
    async with signed_in(owner) as socket:
        await socket.send(
            send_frame("Write the quarterly report for Q3", tools=["demo/slow_report"])
        )
        answer = await socket.assistant_created()
        done = await socket.until_final(answer["id"])
    [ended] = steps(socket, "tool.result")
    assert ended["status"] == "timeout"
    assert "did not answer within 1 seconds" in ended["result"]
    assert 900 <= ended["duration_ms"] < 5000
    assert done["status"] == "complete"


async def test_a_huge_result_is_refused_to_the_model_and_noted(owner, demo_server, mcp):
    async with signed_in(owner) as socket:
        await socket.send(
            send_frame("Dump the archive of the main ledger", tools=["demo/huge_dump"])
        )
        answer = await socket.assistant_created()
        done = await socket.until_final(answer["id"])
    [ended] = steps(socket, "tool.result")
    assert ended["status"] == "error"
    assert "over the limit of 20000" in ended["result"]
    assert len(ended["result"]) < 1000
    assert done["status"] == "complete"


async def test_stop_during_a_hanging_call_cancels_it(owner, demo_server, mcp):
    async with signed_in(owner) as socket:
        await socket.send(
            send_frame("Write the quarterly report for Q3", tools=["demo/slow_report"])
        )
        answer = await socket.assistant_created()
        await socket.until_type("tool.call")
        await asyncio.to_thread(mcp.record.hang_started.wait, 10)
        await socket.send({"type": "chat.stop", "message": answer["id"]})
        done = await socket.until_final(answer["id"])
    assert done["status"] == "stopped"
    assert [s["status"] for s in done["tool_steps"]] == ["stopped"]
    # The server saw the request go away: its handler was cancelled.
    assert await asyncio.to_thread(mcp.record.hang_cancelled.wait, 10)
    saved = await message(answer["id"])
    assert saved.tool_steps[0]["status"] == "stopped"
    [event] = await audit_events()
    assert event.detail["status"] == "stopped"


async def test_calls_stop_at_the_servers_max_steps(owner, demo_server, mcp, monkeypatch):
    """A model that would call tools for ever gets no tools after max_steps rounds."""
    import gateway.proxy

    offered: list[bool] = []
    real = gateway.proxy.chat_stream

    def always_required(**kwargs):
        offered.append(bool(kwargs.get("tools")))
        if kwargs.get("tools"):
            kwargs["tool_choice"] = "required"  # the emulator then always calls
        return real(**kwargs)

    monkeypatch.setattr("chat.services.generation.chat_stream", always_required)
    await server_update(max_steps=2)
    async with signed_in(owner) as socket:
        await socket.send(send_frame("What is the weather in Paris?", tools=["demo/weather"]))
        answer = await socket.assistant_created()
        done = await socket.until_final(answer["id"])
    assert offered == [True, True, False]
    assert len(mcp.record.calls) == 2
    assert done["status"] == "complete" and len(done["tool_steps"]) == 2


async def test_a_call_of_an_ask_server_waits_and_runs_once_approved(owner, demo_server, mcp):
    await server_update(approval=McpServer.Approval.ASK)
    async with signed_in(owner) as socket:
        await socket.send(send_frame("What is the weather in Paris?", tools=["demo/weather"]))
        answer = await socket.assistant_created()
        asking = await socket.until_type("tool.approval")
        assert asking["step"]["status"] == "waiting" and asking["timeout_s"] > 0
        assert mcp.record.calls == []  # nothing runs before the person says so
        await socket.send(
            {
                "type": "chat.tool_approve",
                "message": answer["id"],
                "call": asking["step"]["id"],
                "approve": True,
            }
        )
        done = await socket.until_final(answer["id"])
    assert mcp.record.calls == [("weather", {"city": "Paris"})]
    assert done["tool_steps"][0]["status"] == "ok"


async def test_a_denied_call_tells_the_model_it_was_denied(owner, demo_server, mcp):
    await server_update(approval=McpServer.Approval.ASK)
    async with signed_in(owner) as socket:
        await socket.send(send_frame("What is the weather in Paris?", tools=["demo/weather"]))
        answer = await socket.assistant_created()
        asking = await socket.until_type("tool.approval")
        await socket.send(
            {
                "type": "chat.tool_approve",
                "message": answer["id"],
                "call": asking["step"]["id"],
                "approve": False,
            }
        )
        done = await socket.until_final(answer["id"])
    assert mcp.record.calls == []
    [step] = done["tool_steps"]
    assert (
        step["status"] == "denied" and step["result"] == "Error: the call was denied by the user."
    )
    assert done["status"] == "complete"


async def test_an_unanswered_approval_counts_as_denied(owner, demo_server, mcp, settings):
    settings.AIPORTAL_TOOLS_APPROVAL_TIMEOUT = 0.5
    await server_update(approval=McpServer.Approval.ASK)
    async with signed_in(owner) as socket:
        await socket.send(send_frame("What is the weather in Paris?", tools=["demo/weather"]))
        answer = await socket.assistant_created()
        done = await socket.until_final(answer["id"])
    assert mcp.record.calls == []
    assert done["tool_steps"][0]["status"] == "denied"


async def test_a_resume_after_a_refresh_shows_the_steps_so_far(owner, demo_server, mcp):
    async with signed_in(owner) as socket:
        await socket.send(
            send_frame("Write the quarterly report for Q3", tools=["demo/slow_report"])
        )
        answer = await socket.assistant_created()
        await socket.until_type("tool.call")
    async with signed_in(owner) as again:
        await again.send({"type": "chat.resume", "message": answer["id"], "after_seq": 0})
        snapshot = await again.until_type("message.snapshot")
        assert [s["tool"] for s in snapshot["tool_steps"]] == ["demo/slow_report"]
        assert snapshot["tool_steps"][0]["status"] == "running"
        await again.send({"type": "chat.stop", "message": answer["id"]})
        await again.until_final(answer["id"])


async def test_the_chosen_tools_stay_with_the_conversation(owner, demo_server, mcp):
    async with signed_in(owner) as socket:
        await socket.send(send_frame("What is the weather in Paris?", tools=["demo/weather"]))
        first = await socket.assistant_created()
        await socket.until_final(first["id"])
        conversation = first["conversation"]
        await socket.send(
            send_frame("And the weather in Rome?", conversation=conversation, parent=first["id"])
        )
        second = await socket.assistant_created()
        done = await socket.until_final(second["id"])
    assert done["tool_steps"][0]["tool"] == "demo/weather"
    saved = await database_sync_to_async(Conversation.objects.get)(pk=conversation)
    assert saved.tools == ["demo/weather"]


async def test_parallel_calls_of_one_round_each_run_as_their_own_step(owner, demo_server, mcp):
    async with signed_in(owner) as socket:
        await socket.send(
            send_frame("What is the weather in Paris and Rome?", tools=["demo/weather"])
        )
        answer = await socket.assistant_created()
        done = await socket.until_final(answer["id"])
    assert mcp.record.calls == [("weather", {"city": "Paris"}), ("weather", {"city": "Rome"})]
    assert [s["result"] for s in done["tool_steps"]] == [
        "Sunny and 21 degrees in Paris.",
        "Sunny and 21 degrees in Rome.",
    ]
    assert len({s["id"] for s in done["tool_steps"]}) == 2


async def test_a_tool_whose_server_left_the_persons_groups_is_no_longer_offered(
    owner, demo_server, mcp, tool_users
):
    async with signed_in(owner) as socket:
        await socket.send(send_frame("What is the weather in Paris?", tools=["demo/weather"]))
        first = await socket.assistant_created()
        await socket.until_final(first["id"])
        await database_sync_to_async(owner.groups.remove)(tool_users)
        await socket.send(
            send_frame(
                "And the weather in Rome?",
                conversation=first["conversation"],
                parent=first["id"],
            )
        )
        second = await socket.assistant_created()
        done = await socket.until_final(second["id"])
    assert mcp.record.calls == [("weather", {"city": "Paris"})]
    assert "tool_steps" not in done and done["status"] == "complete"


async def test_past_the_time_budget_the_model_gets_no_more_tools(
    owner, demo_server, mcp, monkeypatch, settings
):
    """The hanging call is cut at the budget (shorter than the server's timeout), and the
    next round offers no tools: the model answers with what it has."""
    import gateway.proxy

    offered: list[bool] = []
    real = gateway.proxy.chat_stream

    def recording(**kwargs):
        offered.append(bool(kwargs.get("tools")))
        return real(**kwargs)

    monkeypatch.setattr("chat.services.generation.chat_stream", recording)
    settings.AIPORTAL_TOOLS_TIME_BUDGET = 1.0
    async with signed_in(owner) as socket:
        await socket.send(
            send_frame("Write the quarterly report for Q3", tools=["demo/slow_report"])
        )
        answer = await socket.assistant_created()
        done = await socket.until_final(answer["id"])
    assert offered == [True, False]
    assert done["tool_steps"][0]["status"] == "timeout", done["tool_steps"]
    assert done["tool_steps"][0]["duration_ms"] < 5000
    assert done["status"] == "complete"
