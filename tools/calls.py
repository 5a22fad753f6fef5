"""Running one tool call for a chat answer, bounded in time and size, with a result the model
can always read: a failure, a timeout or an oversized result is a clear error text, never an
exception that ends the answer."""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from common import telemetry
from gateway import ToolCall
from tools.client import ToolServerError, tool_call
from tools.selectors import UsableTool

_FUNCTION_NAME = re.compile(r"[^A-Za-z0-9_-]")


@dataclass
class StepResult:
    status: str  # "ok", "error", "timeout", "denied", "stopped"
    result: str  # what the model reads
    duration_ms: int


def function_name(tool: UsableTool) -> str:
    """The name the model calls: OpenAI function names allow no "/" (``^[A-Za-z0-9_-]{1,64}$``)."""
    return _FUNCTION_NAME.sub("_", f"{tool.server.name}__{tool.name}")[:64]


def tools_offered(tools: list[UsableTool]) -> tuple[list[dict[str, Any]], dict[str, UsableTool]]:
    """The OpenAI ``tools`` list, and each function name's tool."""
    specs: list[dict[str, Any]] = []
    by_function: dict[str, UsableTool] = {}
    for tool in tools:
        name = function_name(tool)
        if name in by_function:
            continue  # two names that read the same once sanitised: the first is offered
        by_function[name] = tool
        schema = tool.input_schema if tool.input_schema else {"type": "object", "properties": {}}
        specs.append(
            {
                "type": "function",
                "function": {
                    "name": name,
                    "description": tool.description[:1000],
                    "parameters": schema,
                },
            }
        )
    return specs, by_function


def calls_message(text: str, calls: Sequence[ToolCall]) -> dict[str, Any]:
    """The model's turn that made ``calls``, as the next request's history holds it."""
    return {
        "role": "assistant",
        "content": text or None,
        "tool_calls": [
            {
                "id": call.id,
                "type": "function",
                "function": {"name": call.name, "arguments": call.arguments},
            }
            for call in calls
        ],
    }


def result_message(call_id: str, result: str) -> dict[str, Any]:
    """A call's result, as the model reads it back."""
    return {"role": "tool", "tool_call_id": call_id, "content": result}


def arguments_parse(text: str) -> dict[str, Any] | None:
    """The call's arguments as an object, or None when the model wrote something else."""
    if not text.strip():
        return {}
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


async def tool_step_run(
    *, tool: UsableTool, arguments: dict[str, Any], budget: float
) -> StepResult:
    """Call ``tool``; never raises but for cancellation (a stop), which ends the call. Traced
    as the GenAI conventions' ``execute_tool`` span; the arguments and the result only when
    an admin opted in to content on spans."""
    if not telemetry.tracing_on():
        return await _step_run(tool=tool, arguments=arguments, budget=budget)
    captured = telemetry.content_captured()
    attributes = {
        "gen_ai.operation.name": "execute_tool",
        "gen_ai.tool.name": tool.name,
        "gen_ai.tool.type": "function",
        "aiportal.mcp.server": tool.server.name,
        "gen_ai.tool.call.arguments": json.dumps(arguments) if captured else None,
    }
    with telemetry.span(f"execute_tool {tool.name}", attributes=attributes) as span:
        step = await _step_run(tool=tool, arguments=arguments, budget=budget)
        telemetry.span_set(
            span,
            {
                "aiportal.tool.status": step.status,
                "gen_ai.tool.call.result": step.result if captured else None,
            },
        )
        return step


async def _step_run(*, tool: UsableTool, arguments: dict[str, Any], budget: float) -> StepResult:
    started = time.monotonic()
    timeout = max(0.1, min(tool.server.timeout, budget))

    def took() -> int:
        return round((time.monotonic() - started) * 1000)

    deadline = asyncio.timeout(timeout)
    try:
        async with deadline:
            is_error, text = await tool_call(tool.server, tool=tool.name, arguments=arguments)
    except (TimeoutError, ToolServerError) as exc:
        # The SDK may turn the deadline's cancellation into an error of its own (a closed
        # stream): whatever it raised, a call that ran out of time timed out.
        if isinstance(exc, TimeoutError) or deadline.expired():
            return StepResult(
                "timeout", f"Error: the tool did not answer within {timeout:g} seconds.", took()
            )
        task = asyncio.current_task()
        if task is not None and task.cancelling():
            # A stop, which the SDK turned into an error of its own: it stays a stop.
            raise asyncio.CancelledError from exc
        return StepResult("error", f"Error: the tool could not be called: {exc}", took())
    limit = tool.server.max_result_chars
    if len(text) > limit:
        return StepResult(
            "error",
            f"Error: the tool's result was {len(text)} characters, over the limit of {limit}; "
            "it was not used. Ask for less.",
            took(),
        )
    if is_error:
        return StepResult("error", f"Error from the tool: {text}", took())
    return StepResult("ok", text, took())
