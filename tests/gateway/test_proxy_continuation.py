"""The stitching of a continued answer, frame by frame (no sockets: the emulator tests are in
test_failover.py)."""

from __future__ import annotations

import pytest

from gateway.continuation import Stitcher

CHAT = {"model": "m", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 10}


def chunk(text=None, *, role=False, finish=None, usage=None, id="a", created=1):
    delta = {"role": "assistant", "content": ""} if role else {"content": text}
    frame = {
        "id": id,
        "created": created,
        "model": "m",
        "object": "chat.completion.chunk",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }
    if usage is not None:
        frame["usage"] = {"prompt_tokens": usage[0], "completion_tokens": usage[1]}
    return frame


def test_upstream_always_reports_usage_while_the_client_gets_what_it_asked_for():
    stitch = Stitcher(endpoint="chat/completions", body={**CHAT, "stream": True})
    assert stitch.body["stream_options"] == {
        "include_usage": True,
        "continuous_usage_stats": True,
    }
    out = stitch.take(chunk("Hello", usage=(7, 1)))
    assert "usage" not in out
    final = {"id": "a", "created": 1, "model": "m", "choices": [], "usage": {}}
    assert stitch.take({**final, "usage": {"prompt_tokens": 7, "completion_tokens": 1}}) is None


def test_a_continuation_looks_like_the_same_stream_to_the_client():
    body = {**CHAT, "stream_options": {"include_usage": True}}
    stitch = Stitcher(endpoint="chat/completions", body=body)
    stitch.take(chunk(role=True, usage=(7, 0)))
    stitch.take(chunk(" Hello", usage=(7, 1)))
    stitch.take(chunk(" there", usage=(7, 2)))
    stitch.part_end()
    nxt = stitch.next_body()
    assert nxt["messages"][-1] == {"role": "assistant", "content": " Hello there"}
    assert (nxt["continue_final_message"], nxt["add_generation_prompt"]) == (True, False)
    assert nxt["max_tokens"] == 8
    # The second worker's frames: its own id, a role delta the client must not see again.
    assert stitch.take(chunk(role=True, id="b", created=2, usage=(10, 0))) is None
    out = stitch.take(chunk(" friend", id="b", created=2, usage=(10, 1), finish="stop"))
    assert (out["id"], out["created"]) == ("a", 1)
    usage = stitch.take({"id": "b", "created": 2, "model": "m", "choices": [], "usage": {}})
    assert usage is None  # a usage frame without numbers says nothing
    end = stitch.take(
        {
            "id": "b",
            "created": 2,
            "model": "m",
            "choices": [],
            "usage": {"prompt_tokens": 10, "completion_tokens": 1},
        }
    )
    assert end["id"] == "a"
    assert end["usage"] == {"prompt_tokens": 7, "completion_tokens": 3, "total_tokens": 10}


def test_a_client_continuing_a_message_that_ends_in_whitespace_gets_one_seam():
    # The chat's "continue" of an answer stopped after "Once upon\n\n": the template would
    # strip the newlines and the worker write them again.
    body = {
        **CHAT,
        "messages": [*CHAT["messages"], {"role": "assistant", "content": "Once upon\n\n"}],
        "continue_final_message": True,
    }
    stitch = Stitcher(endpoint="chat/completions", body=body)
    assert stitch.body["messages"][-1] == {"role": "assistant", "content": "Once upon"}
    assert body["messages"][-1]["content"] == "Once upon\n\n"  # the caller's body untouched
    outs = [stitch.take(chunk("\n", usage=(5, 1))), stitch.take(chunk("\na time", usage=(5, 2)))]
    sent = [o["choices"][0]["delta"].get("content", "") for o in outs if o is not None]
    assert "".join(sent) == "a time"
    stitch.part_end()
    # A failover after that extends the whole message, the client's whitespace included.
    final = stitch.next_body()["messages"][-1]
    assert final == {"role": "assistant", "content": "Once upon\n\na time"}


def test_a_client_continuing_its_own_message_gets_that_message_extended():
    body = {
        **CHAT,
        "messages": [*CHAT["messages"], {"role": "assistant", "content": "Once"}],
        "continue_final_message": True,
    }
    stitch = Stitcher(endpoint="chat/completions", body=body)
    stitch.take(chunk(" upon", usage=(5, 1)))
    stitch.part_end()
    assert stitch.next_body()["messages"][-1] == {"role": "assistant", "content": "Once upon"}


def test_a_text_completion_continues_after_its_prompt_and_drops_echo():
    body = {"model": "m", "prompt": ["Say:"], "max_tokens": 5, "echo": True}
    stitch = Stitcher(endpoint="completions", body=body)
    stitch.take({"id": "c", "created": 1, "model": "m", "choices": [{"index": 0, "text": " yes"}]})
    stitch.part_end()
    nxt = stitch.next_body()
    assert nxt["prompt"] == ["Say: yes"]
    assert "echo" not in nxt
    assert nxt["max_tokens"] == 4  # counted from the text frames: no usage came


def test_what_cannot_be_continued_is_not():
    ids = Stitcher(endpoint="completions", body={"model": "m", "prompt": [1, 2, 3]})
    ids.take({"id": "c", "created": 1, "model": "m", "choices": [{"index": 0, "text": "x"}]})
    ids.part_end()
    assert ids.next_body() is None
    tools = Stitcher(endpoint="chat/completions", body=CHAT)
    frame = chunk(None)
    frame["choices"][0]["delta"] = {"tool_calls": [{"index": 0, "function": {"name": "f"}}]}
    tools.take(frame)
    tools.part_end()
    assert tools.next_body() is None


def test_an_answer_whose_tokens_are_all_spent_is_closed_with_length():
    stitch = Stitcher(
        endpoint="chat/completions",
        body={**CHAT, "max_tokens": 2, "stream_options": {"include_usage": True}},
    )
    stitch.take(chunk(" a", usage=(3, 1)))
    stitch.take(chunk(" b", usage=(3, 2)))
    stitch.part_end()
    assert stitch.remaining_tokens() == 0
    finish, usage = stitch.closing_frames("length")
    assert finish["choices"][0]["finish_reason"] == "length"
    assert finish["id"] == "a"
    assert usage["usage"] == {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}


def test_a_continuation_does_not_ask_for_echo():
    stitch = Stitcher(endpoint="chat/completions", body={**CHAT, "echo": True})
    stitch.take(chunk(" Hello", usage=(7, 1)))
    stitch.part_end()
    assert "echo" not in stitch.next_body()


def test_the_echo_of_a_clients_own_message_is_not_continued_as_answer():
    body = {
        **CHAT,
        "messages": [*CHAT["messages"], {"role": "assistant", "content": "Once"}],
        "continue_final_message": True,
        "add_generation_prompt": False,
        "echo": True,
    }
    stitch = Stitcher(endpoint="chat/completions", body=body)
    stitch.take(chunk("Once", usage=(5, 0)))  # vLLM's echo of the final message
    stitch.take(chunk(" upon", usage=(5, 1)))
    stitch.part_end()
    nxt = stitch.next_body()
    assert nxt["messages"][-1] == {"role": "assistant", "content": "Once upon"}
    assert "echo" not in nxt


def test_an_engine_abort_is_not_an_end_the_client_sees():
    body = {**CHAT, "stream_options": {"include_usage": True}}
    stitch = Stitcher(endpoint="chat/completions", body=body)
    stitch.take(chunk(" Hello", usage=(7, 1)))
    assert stitch.take(chunk("", finish="abort", usage=(7, 1))) is None
    final = {"id": "a", "created": 1, "model": "m", "choices": []}
    assert stitch.take({**final, "usage": {"prompt_tokens": 7, "completion_tokens": 1}}) is None
    assert stitch.aborted and stitch.finish_reason is None
    stitch.part_end()
    assert not stitch.aborted
    assert stitch.next_body()["messages"][-1] == {"role": "assistant", "content": " Hello"}


def test_a_repetition_end_is_an_end():
    stitch = Stitcher(endpoint="chat/completions", body=CHAT)
    out = stitch.take(chunk(" la la", finish="repetition", usage=(7, 2)))
    assert out["choices"][0]["finish_reason"] == "repetition"
    assert stitch.finish_reason == "repetition" and not stitch.aborted


def _continued(partial_frames, continuation_frames):
    """What the client reads, and the final message the second worker was sent."""
    stitch = Stitcher(endpoint="chat/completions", body=CHAT)
    seen = []
    for text in partial_frames:
        seen.append(stitch.take(chunk(text))["choices"][0]["delta"]["content"])
    stitch.part_end()
    sent = stitch.next_body()["messages"][-1]["content"]
    for text in continuation_frames:
        out = stitch.take(chunk(text, id="b"))
        if out is not None:
            seen.append(out["choices"][0]["delta"]["content"])
    return "".join(seen), sent


@pytest.mark.parametrize(
    ("partial", "continuation", "client", "sent"),
    [
        # The worker re-writes the whitespace it did not read: it goes out once.
        (["Hello", " "], [" world"], "Hello world", "Hello"),
        (["One.", "\n"], ["\n", "Two."], "One.\nTwo.", "One."),
        (["One.", "\n\n"], ["\n\n", "## Two"], "One.\n\n## Two", "One."),
        (["One.", "\n\n"], ["\n", "\n", "## Two"], "One.\n\n## Two", "One."),
        (["One.", "\n"], ["\n\n", "Two."], "One.\n\nTwo.", "One."),
        # It continues with text: the client's whitespace stands at the seam.
        (["Hello", " "], ["world"], "Hello world", "Hello"),
        # Other whitespace than the client's: the client's stays, the worker's goes.
        (["One.", "\n\n"], [" Two."], "One.\n\nTwo.", "One."),
        # No whitespace at the end: nothing to stitch.
        (["Hel"], ["lo"], "Hello", "Hel"),
        (["Hello"], [" world"], "Hello world", "Hello"),
    ],
)
def test_the_seam_is_what_one_uninterrupted_answer_would_be(partial, continuation, client, sent):
    assert _continued(partial, continuation) == (client, sent)
