"""How ``chat_stream`` assembles a model's tool calls from vLLM's streamed deltas, in each of
the shapes vLLM sends (gateway/emulator/tool_calls.py): hermes (announcement, then argument
fragments), named (id, name and the first fragment together), required (later fragments
name null), and parallel calls by index."""

from __future__ import annotations

from gateway.proxy import ToolCall, _CallParts


def test_hermes_deltas_make_one_call_per_index_in_order():
    parts = _CallParts()
    parts.take([{"id": "a", "type": "function", "index": 0, "function": {"name": "weather"}}])
    parts.take([{"index": 0, "function": {"arguments": '{"city": '}}])
    parts.take([{"id": "b", "type": "function", "index": 1, "function": {"name": "weather"}}])
    parts.take([{"index": 0, "function": {"arguments": '"Paris"}'}}])
    parts.take([{"index": 1, "function": {"arguments": '{"city": "Rome"}'}}])
    assert parts.calls() == (
        ToolCall(id="a", name="weather", arguments='{"city": "Paris"}'),
        ToolCall(id="b", name="weather", arguments='{"city": "Rome"}'),
    )


def test_named_and_required_shapes_keep_the_name_from_the_first_delta():
    parts = _CallParts()
    parts.take(
        [{"id": "c", "type": "function", "index": 0, "function": {"name": "f", "arguments": "{"}}]
    )
    parts.take([{"index": 0, "function": {"name": None, "arguments": "}"}}])
    assert parts.calls() == (ToolCall(id="c", name="f", arguments="{}"),)


def test_malformed_entries_are_skipped_and_a_call_without_a_name_is_dropped():
    parts = _CallParts()
    parts.take("not a list")
    parts.take([None, 3, {"index": 0, "function": {"arguments": "{}"}}])
    assert parts.calls() == ()
