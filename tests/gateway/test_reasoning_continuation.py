"""A reasoning model's stream that dies: the client sees one thinking, then one answer, the
thinking never in the answer (gateway/continuation.py, docs/gateway/proxy.md)."""

from __future__ import annotations

import pytest

from gateway.callers import Caller
from gateway.continuation import Stitcher
from gateway.errors import UpstreamFailed
from tests.gateway.proxy_support import (  # noqa: F401
    MODEL,
    QUESTION,
    direct,
    emulators_fixture,
    faults_set,
    frames_collect,
    frames_text,
    gateway_isolated_fixture,
    snapshot_ready,
)

HOME = Caller(home_region="home")
THINKING = ("--reasoning-parser", "qwen3", "--reasoning-tokens", "20")


def _thought(frames) -> str:
    return "".join(
        (c.get("delta") or {}).get("reasoning") or "" for f in frames for c in f["choices"]
    )


def _kinds(frames) -> list[str]:
    """Each frame's kind of text, in order: "reasoning" or "content"."""
    out = []
    for frame in frames:
        for choice in frame["choices"]:
            delta = choice.get("delta") or {}
            out += [key for key in ("reasoning", "content") if delta.get(key)]
    return out


async def _pair(emulators, pool, *flags: str) -> tuple[str, str]:
    failing, healthy = emulators.many(("home", *THINKING, *flags), ("away", *THINKING))
    pool(f"{failing}@home", f"{healthy}@away")
    await snapshot_ready(failing, healthy)
    return failing, healthy


def _body(**extra) -> dict:
    return {"model": MODEL, "messages": QUESTION, "stream": True, "seed": 11, **extra}


def _whole(url: str) -> dict:
    return direct(url, "chat/completions", {"messages": QUESTION, "seed": 11})


@pytest.mark.parametrize("died_after", [8, 40], ids=["while-thinking", "while-answering"])
async def test_a_reasoning_stream_that_dies_keeps_one_thinking_then_the_answer(
    emulators, pool, died_after
):
    dying, healthy = await _pair(emulators, pool)
    await faults_set(dying, die_after_tokens=died_after, times=1)
    frames = await frames_collect(
        endpoint="chat/completions",
        body=_body(stream_options={"include_usage": True}),
        caller=HOME,
    )
    whole = _whole(healthy)
    message = whole["choices"][0]["message"]

    kinds = _kinds(frames)
    first_answer = kinds.index("content")
    assert "reasoning" not in kinds[first_answer:]  # one thinking, then the answer
    assert frames_text(frames) == message["content"]  # the thinking never in it
    thought = _thought(frames)
    if died_after < 20:
        # The thinking the client saw before the worker died, once; the answer comes from a
        # worker asked afresh, whose own thinking is not relayed.
        assert message["reasoning"].startswith(thought) and 0 < len(thought) < len(
            message["reasoning"]
        )
    else:
        assert thought == message["reasoning"]
    ends = [c["finish_reason"] for f in frames for c in f["choices"] if c["finish_reason"]]
    assert ends == ["stop"]
    assert len({(f["id"], f["created"]) for f in frames}) == 1
    # The usage counts every part's tokens, the thinking of each among them.
    usage = frames[-1]["usage"]
    whole_tokens = whole["usage"]["completion_tokens"]
    if died_after < 20:
        assert usage["completion_tokens"] == died_after + whole_tokens
    else:
        assert usage["completion_tokens"] >= whole_tokens
    expected_thinking = whole["usage"]["completion_tokens_details"]["reasoning_tokens"]
    if died_after < 20:
        # The first worker's thinking, then the whole thinking of the one asked afresh.
        expected_thinking += died_after
    assert usage["completion_tokens_details"] == {"reasoning_tokens": expected_thinking}


async def test_a_reasoning_answer_is_not_continued_through_a_raw_completion(emulators, pool):
    # A worker refusing continue_final_message would continue through /v1/completions, whose
    # raw text would carry a reasoning model's thinking into the answer: the answer stays
    # partial instead.
    dying, healthy = await _pair(emulators, pool)
    await faults_set(healthy, refuse_continuation=True)
    await faults_set(dying, die_after_tokens=40, times=1)
    frames = []
    with pytest.raises(UpstreamFailed) as caught:
        async for frame in _frames(_body()):
            frames.append(frame)
    assert caught.value.partial is True
    assert _thought(frames) and "reasoning" not in _kinds(frames)[_kinds(frames).index("content") :]


async def _frames(body):
    from gateway.proxy import completion_stream

    async for frame in completion_stream(endpoint="chat/completions", body=body, caller=HOME):
        yield frame


# --- The stitching alone ----------------------------------------------------------------------

CHAT = {"model": "m", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 50}


def _chunk(*, thought=None, text=None, role=False, usage=None, id="a"):
    delta = {"role": "assistant", "content": ""} if role else {}
    if thought is not None:
        delta["reasoning"] = thought
    if text is not None:
        delta["content"] = text
    frame = {"id": id, "created": 1, "model": "m", "object": "chat.completion.chunk"}
    frame["choices"] = [{"index": 0, "delta": delta, "finish_reason": None}]
    if usage is not None:
        frame["usage"] = {"prompt_tokens": 7, "completion_tokens": usage}
    return frame


def test_the_next_worker_gets_the_thinking_beside_the_partial_answer():
    stitch = Stitcher(endpoint="chat/completions", body=CHAT)
    stitch.take(_chunk(role=True, usage=0))
    stitch.take(_chunk(thought="Let me think.", usage=3))
    stitch.take(_chunk(text="The answer is ", usage=5))
    stitch.part_end()
    body = stitch.next_body()
    assert body["messages"][-1] == {
        "role": "assistant",
        "content": "The answer is",
        "reasoning": "Let me think.",
    }
    assert body["continue_final_message"] is True
    # The continuation's own thinking (a template that did not close it) is not relayed.
    out = stitch.take(_chunk(thought="Again?", text=None, id="b", usage=1))
    assert out is None
    out = stitch.take(_chunk(thought="Hm", text="42.", id="b", usage=2))
    assert out["choices"][0]["delta"] == {"content": "42."}
    assert stitch.renderable is False


def test_a_worker_that_died_while_thinking_is_asked_afresh_without_its_thinking_relayed():
    stitch = Stitcher(endpoint="chat/completions", body=CHAT)
    stitch.take(_chunk(role=True, usage=0))
    stitch.take(_chunk(thought="Let me", usage=2))
    stitch.part_end()
    body = stitch.next_body()
    assert body["messages"] == CHAT["messages"]  # the question alone
    assert "continue_final_message" not in body and body["max_tokens"] == 48
    assert stitch.take(_chunk(role=True, id="b", usage=0)) is None
    assert stitch.take(_chunk(thought="Let me think", id="b", usage=1)) is None
    out = stitch.take(_chunk(text="Hello", id="b", usage=5))
    assert out["choices"][0]["delta"] == {"content": "Hello"}
    assert "".join(stitch.thought) == "Let me" and "".join(stitch.text) == "Hello"


def test_older_vllm_reasoning_content_is_kept_apart_too():
    stitch = Stitcher(endpoint="chat/completions", body=CHAT)
    out = stitch.take(
        {
            "id": "a",
            "created": 1,
            "model": "m",
            "choices": [{"index": 0, "delta": {"reasoning_content": "Hmm"}, "finish_reason": None}],
        }
    )
    assert out["choices"][0]["delta"] == {"reasoning_content": "Hmm"}
    assert stitch.thought == ["Hmm"] and stitch.text == []
