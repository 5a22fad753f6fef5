"""The tool frames as docs/websocket.md ("## Version 2: tools") shows them: each example is
what the builder in chat/protocol.py makes, key for key."""

from __future__ import annotations

import json
import re
from pathlib import Path

from chat import protocol

DOC = Path(__file__).resolve().parents[2] / "docs" / "websocket.md"
STEP: protocol.ToolStep = {
    "id": "chatcmpl-tool-9f0c2a61d3b4e587",
    "tool": "demo/weather",
    "arguments": '{"city": "Paris"}',
    "status": "running",
    "result": "",
    "duration_ms": None,
    "at": 0,
}


def _documented() -> dict[str, dict]:
    section = DOC.read_text().split("## Version 2: tools", 1)[1].split("\n## ", 1)[0]
    frames = [json.loads(block) for block in re.findall(r"```json\n(.*?)```", section, re.DOTALL)]
    return {frame["type"]: frame for frame in frames}


def test_each_tool_frame_is_documented_as_its_builder_makes_it():
    documented = _documented()
    waiting: protocol.ToolStep = {**STEP, "status": "waiting"}
    ended: protocol.ToolStep = {
        **STEP,
        "status": "ok",
        "result": "Sunny and 21 degrees in Paris.",
        "duration_ms": 58,
    }
    built = [
        protocol.tool_call_frame(message=34, step=STEP),
        protocol.tool_approval_frame(message=34, step=waiting, timeout_s=120),
        protocol.tool_result_frame(message=34, step=ended),
    ]
    assert sorted(documented) == ["tool.approval", "tool.call", "tool.result"]
    for frame in built:
        assert json.loads(protocol.frame_encode(frame)) == documented[frame["type"]]


def test_a_snapshot_and_a_done_frame_carry_the_steps_only_when_there_are_some():
    snapshot = protocol.message_snapshot_frame(
        message=34, seq=3, content="", reasoning="", status="streaming", tool_steps=[STEP]
    )
    assert snapshot["tool_steps"] == [STEP]
    bare = protocol.message_snapshot_frame(
        message=34, seq=3, content="", reasoning="", status="streaming"
    )
    assert "tool_steps" not in bare
