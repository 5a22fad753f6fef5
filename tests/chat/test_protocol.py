"""The websocket protocol's one home (chat/protocol.py): every builder's frame has the shape
docs/websocket.md shows for its kind, every kind the documentation lists has a builder, and
no other chat module writes a frame of its own."""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path
from typing import Any

import pytest

from chat import protocol
from chat.models import Message

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "websocket.md"

# Placeholders for the payloads frames carry (their own shapes are the selectors').
CONVERSATION = {"id": 12}
MESSAGE = {"id": 34}
# Fields a frame may carry besides those of the documented examples, documented in prose:
# an error code's extra fields (the table under "message.error"), on message.error and on
# a message.done that ended interrupted, which then also says why (code, detail).
EXTRA = {"resets_at", "retry_after", "limit"}
DONE_WHY = {"code", "detail"}


def _documented() -> dict[str, list[set[str]]]:
    """Each server frame kind of the documentation, with the keys of each of its examples."""
    text = DOC.read_text()
    section = text.split("## Server → client", 1)[1].split("\n## ", 1)[0]
    examples: dict[str, list[set[str]]] = {}
    for part in re.split(r"^### ", section, flags=re.MULTILINE)[1:]:
        kind = re.match(r"`([a-z._]+)`", part)
        assert kind, part[:40]
        for block in re.findall(r"```json\n(.*?)```", part, flags=re.DOTALL):
            frame = json.loads(block)
            assert frame["type"] == kind.group(1)
            assert frame["v"] == protocol.PROTOCOL_VERSION
            examples.setdefault(kind.group(1), []).append(set(frame))
    # The server frames of each "## Version 2: …" section (its client frames say "chat.").
    for version2 in re.split(r"^## Version 2: ", text, flags=re.MULTILINE)[1:]:
        version2 = version2.split("\n## ", 1)[0]
        for part in re.split(r"^### ", version2, flags=re.MULTILINE)[1:]:
            for block in re.findall(r"```json\n(.*?)```", part, flags=re.DOTALL):
                frame = json.loads(block)
                if frame["type"].startswith("chat."):
                    continue
                assert frame["v"] == 2
                examples.setdefault(frame["type"], []).append(set(frame))
    return examples


def _row(**fields: Any) -> Message:
    defaults = {
        "pk": 34,
        "conversation_id": 12,
        "role": Message.Role.ASSISTANT,
        "content": "Hello world",
        "reasoning": "",
        "last_seq": 18,
        "usage": {"prompt_tokens": 9},
        "metrics": {"citations": []},
        "error_code": "",
    }
    return Message(**{**defaults, **fields})


def _built() -> list[dict[str, Any]]:
    """One frame per way the server builds one."""
    answer = {
        "message": 34,
        "content": "Hello wo",
        "reasoning": "",
        "seq": 7,
        "client_id": "a1b2c3",
    }
    return [
        protocol.conversation_created_frame(conversation=CONVERSATION, client_id="a1b2c3"),
        protocol.conversation_updated_frame(conversation=CONVERSATION),
        protocol.message_created_frame(message=MESSAGE, client_id=None),
        protocol.message_delta_frame(message=34, seq=18, text=" world", reasoning=""),
        protocol.message_delta_frame(message=34, seq=3, text="", reasoning=" the user asks"),
        protocol.message_snapshot_frame(
            message=34, seq=17, content="Hello", reasoning="", status="streaming"
        ),
        # The generation's end: complete; interrupted with why; failed with extra fields.
        protocol.message_done_frame(
            **answer, status="complete", usage={}, metrics={}, citations=[], staff=False
        ),
        protocol.message_done_frame(
            **answer,
            staff=False,
            status="interrupted",
            usage={},
            metrics={},
            citations=[],
            code="over_budget",
            detail="…",
            extra={"resets_at": "2026-01-01T00:00:00+00:00"},
        ),
        protocol.message_error_frame(
            **answer,
            status="error",
            code="rate_limited",
            detail="…",
            extra={"retry_after": 3},
        ),
        # An answer that could not start (chat/services/turns.py).
        protocol.message_done_frame(
            **answer, status="interrupted", code="internal_error", detail="…", staff=False
        ),
        # From the row: a stop or a resume after the end.
        protocol.message_final_frame(_row(status=Message.Status.COMPLETE), staff=False),
        protocol.message_final_frame(
            _row(status=Message.Status.ERROR, error_code="x"), staff=False
        ),
        protocol.message_refused_frame(code="not_found", detail="…", client_id=None),
        protocol.message_refused_frame(code="too_long", detail="…", client_id="k", limit=10),
        protocol.datasets_dropped_frame(conversation=12, datasets=[5], client_id="a1b2c3"),
        protocol.datasets_changed_frame(),
        protocol.assistants_changed_frame(),
        protocol.message_refused_frame(code="assistant_unavailable", detail="…", client_id="k"),
        protocol.error_frame(code="bad_request", detail="content must be a string"),
        protocol.pong_frame(),
    ]


def test_every_documented_kind_has_a_builder_and_every_builder_is_documented():
    assert {frame["type"] for frame in _built()} == set(_documented())


def test_every_documented_example_is_what_a_builder_builds():
    built: dict[str, list[set[str]]] = {}
    for frame in _built():
        built.setdefault(frame["type"], []).append(set(frame))
    for kind, examples in _documented().items():
        for keys in examples:
            assert keys in built[kind], (kind, sorted(keys))


def test_no_builder_sends_a_field_the_documentation_does_not_name():
    documented = _documented()
    for frame in _built():
        allowed = set().union(*documented[frame["type"]]) | EXTRA
        if frame["type"] == "message.done":
            allowed |= DONE_WHY
        assert set(frame) <= allowed, (frame["type"], sorted(set(frame) - allowed))
        assert frame["v"] == protocol.PROTOCOL_VERSION


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (Message.Status.COMPLETE, "message.done"),
        (Message.Status.STOPPED, "message.done"),
        (Message.Status.INTERRUPTED, "message.done"),
        (Message.Status.ERROR, "message.error"),
    ],
)
def test_the_frame_built_from_a_row_says_how_the_answer_ended(status, kind):
    frame = protocol.message_final_frame(
        _row(status=status, error_code="upstream_failed"), staff=False
    )
    assert frame["type"] == kind
    assert (frame["message"], frame["status"], frame["seq"]) == (34, status, 18)
    assert frame["content"] == "Hello world"


def test_a_delta_carries_reasoning_only_when_there_is_thinking():
    plain = protocol.message_delta_frame(message=1, seq=1, text="a", reasoning="")
    thinking = protocol.message_delta_frame(message=1, seq=2, text="", reasoning="hm")
    assert "reasoning" not in plain
    assert thinking["reasoning"] == "hm"


def _dicts_with_a_type(path: Path) -> list[int]:
    """Lines of the dict literals with a "type" key: frames and channel-layer events."""
    tree = ast.parse(path.read_text(), filename=str(path))
    return [
        node.lineno
        for node in ast.walk(tree)
        if isinstance(node, ast.Dict)
        and any(isinstance(k, ast.Constant) and k.value == "type" for k in node.keys)
    ]


def test_no_chat_module_but_the_protocol_writes_a_frame():
    chat = ROOT / "chat"
    found = {
        str(path.relative_to(ROOT)): lines
        for path in sorted(chat.rglob("*.py"))
        if path != chat / "protocol.py"
        and "migrations" not in path.parts
        and (lines := _dicts_with_a_type(path))
    }
    assert found == {}, "build frames and events in chat/protocol.py"
    # And as text, however it would be built.
    for path in chat.rglob("*.py"):
        if path != chat / "protocol.py":
            assert '"type": "message.' not in path.read_text(), path


@pytest.mark.parametrize(
    "text",
    [
        "",
        " hello",
        'quotes " and \\ backslashes',
        "héllo wörld ✓ 😀",
        "line\nbreak\ttab\x01",
        "</script>",
    ],
)
def test_a_delta_is_encoded_exactly_as_json_dumps_would(text):
    # The template that writes deltas (the frame sent most) must never drift from json.dumps.
    for reasoning in ("", "thinking…"):
        frame = protocol.message_delta_frame(message=2**40, seq=7, text=text, reasoning=reasoning)
        assert protocol.frame_encode(frame) == json.dumps(frame)
        assert json.loads(protocol.frame_encode(frame)) == frame
    other = protocol.message_snapshot_frame(
        message=1, seq=2, content=text, reasoning="", status="streaming"
    )
    assert protocol.frame_encode(other) == json.dumps(other)
