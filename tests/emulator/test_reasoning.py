"""--reasoning-parser: a reasoning model thinks first, in vLLM 0.34's shapes (delta.reasoning
while streaming, message.reasoning otherwise, reasoning_tokens in the usage)."""

from __future__ import annotations

from gateway.emulator.faults import FaultSpec

from .helpers import chat_body, read_stream

USAGE = {"include_usage": True, "continuous_usage_stats": True}


def _deltas(stream) -> list[dict]:
    return [o["choices"][0]["delta"] for o in stream.objects if o.get("choices")]


def _joined(stream, key: str) -> str:
    return "".join(d.get(key) or "" for d in _deltas(stream))


async def test_a_reasoning_model_streams_its_thinking_then_the_answer(client, start_emulator):
    url = await start_emulator(reasoning_parser="qwen3", reasoning_tokens=30)
    stream = await read_stream(client, url, chat_body(stream=True, seed=3, stream_options=USAGE))

    deltas = _deltas(stream)
    assert deltas[0] == {"role": "assistant", "content": ""}
    kinds = ["reasoning" if "reasoning" in d else "content" for d in deltas[1:]]
    first_content = kinds.index("content")
    # One uninterrupted thinking, then the answer: never thinking again after it.
    assert set(kinds[:first_content]) == {"reasoning"} and "reasoning" not in kinds[first_content:]
    # A thinking delta is the reasoning alone (vLLM leaves unset fields out).
    assert all(set(d) == {"reasoning"} for d in deltas[1:first_content])
    thought = _joined(stream, "reasoning")
    assert thought.startswith(("The user", "Reading", "The question"))
    assert "reasoning" not in _joined(stream, "content")
    last = stream.objects[-1]["usage"]
    assert last["completion_tokens_details"]["reasoning_tokens"] == first_content
    assert last["completion_tokens"] == first_content + 1 + (len(kinds) - first_content)


async def test_the_answer_and_thinking_match_the_plain_answer_when_not_streaming(
    client, start_emulator
):
    thinking = await start_emulator(reasoning_parser="deepseek_r1")
    plain = await start_emulator()
    body = chat_body(seed=5)

    answer = (await client.post(thinking + "/v1/chat/completions", json=body)).json()
    streamed = await read_stream(client, thinking, {**body, "stream": True})
    reference = (await client.post(plain + "/v1/chat/completions", json=body)).json()

    message = answer["choices"][0]["message"]
    assert "reasoning_content" not in message
    assert message["reasoning"] == _joined(streamed, "reasoning")
    assert message["content"] == _joined(streamed, "content")
    # The thinking comes before the answer and leaves the answer itself unchanged.
    assert message["content"] == reference["choices"][0]["message"]["content"]
    assert reference["choices"][0]["message"]["reasoning"] is None
    assert "completion_tokens_details" not in reference["usage"]


async def test_include_reasoning_false_leaves_the_thinking_out(client, start_emulator):
    url = await start_emulator(reasoning_parser="qwen3")
    body = chat_body(seed=5, include_reasoning=False)

    answer = (await client.post(url + "/v1/chat/completions", json=body)).json()
    stream = await read_stream(client, url, {**body, "stream": True})

    assert answer["choices"][0]["message"]["reasoning"] is None
    assert answer["usage"]["completion_tokens_details"]["reasoning_tokens"] > 0
    assert _joined(stream, "reasoning") == ""
    assert _joined(stream, "content") == answer["choices"][0]["message"]["content"]


async def test_a_continued_answer_does_not_think_again(client, start_emulator):
    url = await start_emulator(reasoning_parser="qwen3")
    whole = (await client.post(url + "/v1/chat/completions", json=chat_body(seed=4))).json()
    message = whole["choices"][0]["message"]
    partial = message["content"][:40]
    body = chat_body(
        seed=4,
        stream=True,
        continue_final_message=True,
        add_generation_prompt=False,
    )
    body["messages"].append(
        {"role": "assistant", "content": partial, "reasoning": message["reasoning"]}
    )

    rest = await read_stream(client, url, body)

    assert _joined(rest, "reasoning") == ""
    # The worker read the partial without its trailing whitespace, as chat templates do.
    assert partial.rstrip() + _joined(rest, "content") == message["content"]


async def test_max_tokens_can_end_the_answer_while_it_thinks(client, start_emulator):
    url = await start_emulator(reasoning_parser="qwen3", stream_interval=3)
    stream = await read_stream(client, url, chat_body(stream=True, seed=1, max_tokens=5))

    last = stream.objects[-1]["choices"][0]
    assert last["finish_reason"] == "length"
    assert _joined(stream, "content") == ""
    assert len(_joined(stream, "reasoning")) > 0


async def test_a_worker_that_dies_while_thinking_leaves_only_thinking(client, start_emulator):
    url = await start_emulator(reasoning_parser="qwen3", faults=FaultSpec(die_after_tokens=6))
    stream = await read_stream(client, url, chat_body(stream=True, seed=1))

    assert stream.broken is not None or not stream.done
    assert _joined(stream, "content") == ""
    assert _joined(stream, "reasoning")


def test_the_reasoning_flags_reach_the_config():
    from gateway.emulator.__main__ import build_parser, config_from_args

    args = build_parser().parse_args(["--reasoning-parser", "qwen3", "--reasoning-tokens", "9"])
    config = config_from_args(args)
    assert (config.reasoning_parser, config.reasoning_tokens) == ("qwen3", 9)
    assert config_from_args(build_parser().parse_args([])).reasoning_parser is None
